import HTTPTypes

/// An error answered to the client as OpenAI-style JSON:
/// `{"error": {"message", "type", "param", "code"}}`.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var status: HTTPResponse.Status
    public var message: String
    public var type: String
    public var param: String?
    public var code: String?
    /// Seconds for a `Retry-After` header (429 and 503).
    public var retryAfter: Int?

    public init(
        status: HTTPResponse.Status, message: String, type: String = "invalid_request_error",
        param: String? = nil, code: String? = nil, retryAfter: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status.code) \(message)" }

    /// 400 for a value the client got wrong.
    public static func badRequest(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: .badRequest, message: message, param: param, code: code)
    }

    /// The JSON body.
    public var json: JSONValue {
        [
            "error": .object([
                ("message", .string(message)),
                ("type", .string(type)),
                ("param", param.map { .string($0) } ?? .null),
                ("code", code.map { .string($0) } ?? .null)
            ])
        ]
    }
}

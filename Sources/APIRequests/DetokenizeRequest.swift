/// A checked `/detokenize` request (vLLM's).
public struct DetokenizeRequest: Sendable {
    public var model: String?
    public var tokens: [Int32]

    public init(body: [UInt8], limits: RequestLimits) throws(APIError) {
        let fields = try RequestBody.fields(body)
        try fields.rejectUnknown(["model", "tokens"])
        model = try fields.string("model", maxBytes: 1024)
        guard let value = fields.value("tokens") else { throw .badRequest("'tokens' is required", param: "tokens") }
        tokens = try TokenIDs.parse(value, key: "tokens", vocabularySize: limits.vocabularySize)
    }
}

/// Typed access to a request object's fields: a missing or `null` field is nil, a field of the
/// wrong type or out of range is a 400 that names it. No accessor traps, whatever the value.
public struct RequestFields {
    public let object: JSONValue
    /// The request field this object is the value of (nil for the body): errors in it name that field.
    public let owner: String?

    public init(_ body: JSONValue, what: String = "the request body", owner: String? = nil) throws(APIError) {
        guard case .object = body else { throw .badRequest("\(what) must be a JSON object", param: owner) }
        object = body
        self.owner = owner
    }

    /// The `param` an error about `key` names.
    private func param(_ key: String) -> String { owner ?? key }

    /// The field names present.
    public var keys: [String] {
        guard case .object(let pairs) = object else { return [] }
        return pairs.map(\.0)
    }

    /// 400 naming the first field that is not in `known` (OpenAI's "unrecognized request argument").
    public func rejectUnknown(_ known: Set<String>, prefix: String = "") throws(APIError) {
        if let unknown = keys.first(where: { !known.contains($0) }) {
            throw .badRequest(
                "unrecognized request argument supplied: \(prefix)\(unknown)", param: prefix + unknown,
                code: "unrecognized_argument")
        }
    }

    public func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    public func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw .badRequest("'\(key)' must be a boolean", param: param(key)) }
        return flag
    }

    public func string(_ key: String, maxBytes: Int? = nil) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw .badRequest("'\(key)' must be a string", param: param(key)) }
        if let maxBytes, text.utf8.count > maxBytes {
            throw .badRequest("'\(key)' must be at most \(maxBytes) bytes long", param: param(key))
        }
        return text
    }

    public func integer(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.integer else { throw .badRequest("'\(key)' must be an integer", param: param(key)) }
        if let range, !range.contains(number) {
            throw .badRequest("'\(key)' must be in [\(range.lowerBound), \(range.upperBound)], got \(number)", param: param(key))
        }
        return number
    }

    public func number(_ key: String) throws(APIError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.number, number.isFinite else { throw .badRequest("'\(key)' must be a number", param: param(key)) }
        return number
    }

    public func array(_ key: String, maxCount: Int) throws(APIError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard let items = value.array else { throw .badRequest("'\(key)' must be a list", param: param(key)) }
        guard items.count <= maxCount else { throw .badRequest("'\(key)' may have at most \(maxCount) items", param: param(key)) }
        return items
    }

    public func fields(_ key: String) throws(APIError) -> RequestFields? {
        guard let value = value(key) else { return nil }
        return try RequestFields(value, what: "'\(key)'", owner: param(key))
    }
}

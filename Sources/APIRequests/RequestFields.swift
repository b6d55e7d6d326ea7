/// Typed access to a request object's fields: a missing or `null` field is nil, a field of the
/// wrong type is a 400 that names it.
struct RequestFields {
    let object: JSONValue

    init(_ body: JSONValue) throws(APIError) {
        guard case .object = body else { throw .badRequest("the request body must be a JSON object") }
        object = body
    }

    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw .badRequest("'\(key)' must be a boolean", param: key) }
        return flag
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let value = value(key) else { return nil }
        guard let text = value.string else { throw .badRequest("'\(key)' must be a string", param: key) }
        return text
    }

    func integer(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.integer else { throw .badRequest("'\(key)' must be an integer", param: key) }
        if let range, !range.contains(number) {
            throw .badRequest("'\(key)' must be in [\(range.lowerBound), \(range.upperBound)], got \(number)", param: key)
        }
        return number
    }

    func number(_ key: String) throws(APIError) -> Double? {
        guard let value = value(key) else { return nil }
        guard let number = value.number, number.isFinite else { throw .badRequest("'\(key)' must be a number", param: key) }
        return number
    }
}

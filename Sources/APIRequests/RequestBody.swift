/// Request bodies: JSON objects, parsed with a depth limit.
enum RequestBody {
    static func fields(_ body: [UInt8]) throws(APIError) -> RequestFields {
        let value: JSONValue
        do {
            value = try JSONValue.parse(body)
        } catch {
            throw .badRequest("the request body is not valid JSON: \(error)")
        }
        return try RequestFields(value)
    }
}

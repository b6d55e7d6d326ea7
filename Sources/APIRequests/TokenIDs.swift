/// Lists of token ids in requests (`prompt`, `tokens`, `stop_token_ids`), checked against the vocabulary.
enum TokenIDs {
    static func parse(_ value: JSONValue, key: String, vocabularySize: Int) throws(APIError) -> [Int32] {
        guard let items = value.array else { throw .badRequest("'\(key)' must be a list of token ids", param: key) }
        var ids: [Int32] = []
        ids.reserveCapacity(items.count)
        for item in items {
            guard let id = item.integer else { throw .badRequest("'\(key)' must be a list of integer token ids", param: key) }
            guard id >= 0, id < vocabularySize else {
                throw .badRequest("token id \(id) is outside the vocabulary (0..<\(vocabularySize))", param: key)
            }
            ids.append(Int32(id))
        }
        return ids
    }
}

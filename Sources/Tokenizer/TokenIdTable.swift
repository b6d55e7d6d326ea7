/// Token ids by the exact bytes of their vocabulary text.
///
/// Swift's `String` equality is canonical equivalence, so a `[String: Int32]` would merge tokens
/// whose texts differ only in Unicode composition (Gemma's vocabulary has 434 such pairs, e.g. `;`
/// and the Greek question mark U+037E, or Bengali `য়` precomposed and decomposed), and the lookup
/// would return the wrong one. llama.cpp keys its table by bytes; so does this one.
struct TokenIdTable: Sendable {
    private var ids: [[UInt8]: Int32] = [:]

    init() {}

    mutating func reserveCapacity(_ count: Int) { ids.reserveCapacity(count) }

    /// The id of the token whose text has exactly the UTF-8 bytes of `text`.
    subscript(_ text: String) -> Int32? {
        get { ids[Array(text.utf8)] }
        set { ids[Array(text.utf8)] = newValue }
    }

    /// The id of the token whose text is exactly `bytes`.
    subscript(bytes bytes: UnsafeBufferPointer<UInt8>) -> Int32? { ids[Array(bytes)] }
}

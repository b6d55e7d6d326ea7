import Testing
import Tokenizer

/// Tokens whose texts are canonically equivalent but different bytes are different tokens (Gemma's
/// vocabulary holds `;` and the Greek question mark U+037E, and both forms of many Bengali and
/// Devanagari letters). Swift's `String` equality would merge them; the lookup is by bytes.
@Suite struct CanonicalEquivalenceTests {
    /// `;` (id 3), U+037E (id 4, written after it, so a String-keyed table would answer 4 for `;`),
    /// precomposed `é` (5) and `e` + U+0301 (6).
    static let tokens = ["<unk>", "<s>", "</s>", ";", "\u{037E}", "\u{00E9}", "e\u{0301}", "e", "\u{0301}"]

    @Test func equivalentTextsStayDistinct() throws {
        let tokenizer = try Tokenizer(
            vocabulary: TokenizerVocabulary(
                model: .llama, tokens: Self.tokens, scores: Self.tokens.indices.map { -Float($0) },
                addSpacePrefix: false))
        #expect(tokenizer.token(for: ";") == 3)
        #expect(tokenizer.token(for: "\u{037E}") == 4)
        #expect(tokenizer.token(for: "\u{00E9}") == 5)
        #expect(tokenizer.token(for: "e\u{0301}") == 6)
        #expect(tokenizer.encode(";", addSpecial: false) == [3])
        #expect(tokenizer.encode("\u{037E}", addSpecial: false) == [4])
        #expect(tokenizer.encode("\u{00E9}", addSpecial: false) == [5])
        #expect(tokenizer.encode("e\u{0301}", addSpecial: false) == [6])
    }
}

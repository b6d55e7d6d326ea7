import Testing

@testable import Tokenizer

/// Tekken's pre-tokenizer splits text exactly as Hugging Face `tokenizers` splits it with llama.cpp's
/// form of Mistral Nemo's regex (pieces below printed by `tokenizers` 0.23 from
/// scripts/fixtures_tokenizer.py's TEKKEN_REGEX; that script also checks, on a vocabulary where
/// every piece is one token, that llama.cpp splits the same way, and that tokenizer.json's original
/// regex would not: "ÉCOLE", Devanagari vowel signs). Token ids against llama.cpp are in
/// PreTokenizerFamilyTests.
@Suite struct TekkenPreTokenizerTests {
    static let cases: [(text: String, pieces: [String])] = [
        (
            "camelCaseWord HTTPServer XMLHttpRequest iPhone McDonald's getHTTPResponseCode",
            ["camel", "Case", "Word", " HTTPServer", " XMLHttp", "Request", " i", "Phone", " Mc", "Donald", "'s", " get", "HTTPResponse", "Code"]
        ),
        (
            "ÉCOLE École éCOLE Straße STRASSE ǅemal ǲ ΑΘΗΝΑ Αθήνα МОСКВА Москва",
            ["É", "COLE", " École", " é", "COLE", " Straße", " STRASSE", " ǅemal", " ǲ", " ΑΘΗΝΑ", " Αθήνα", " МОСКВА", " Москва"]
        ),
        (
            "path/to/file.txt\nC:\\dir\\x // comment /* */ a/b/c/\n",
            ["path", "/to", "/file", ".txt", "\n", "C", ":\\", "dir", "\\x", " //", " comment", " /*", " */", " a", "/b", "/c", "/\n"]
        ),
        ("मनुष्य नमस्ते ab́cD éE Ǆx ﬁne ＡＢＣａｂｃ", ["मन", "ुष", "्य", " नमस", "्त", "े", " ab", "́c", "D", " e", "́E", " Ǆx", " ﬁne", " ＡＢＣａｂｃ"]),
        ("don't  stop\n\n  x1234 ÉCOLE éCOLE", ["don", "'t", " ", " stop", "\n\n", " ", " x", "1", "2", "3", "4", " É", "COLE", " é", "COLE"]),
        ("ÀÉÎ ÀÉÎõ õÀÉÎ aÀ Àa ǅǅa aǅ ʰaʰ ʰA Aʰ", ["ÀÉÎ", " ÀÉÎõ", " õÀÉÎ", " aÀ", " Àa", " ǅǅa", " aǅ", " ʰaʰ", " ʰ", "A", " Aʰ"])
    ]

    @Test func piecesMatchTheRegex() {
        for (text, expected) in Self.cases {
            let bytes = Array(text.utf8)
            let pieces = bytes.withUnsafeBufferPointer { buffer in
                let scalars = ScalarText(utf8: buffer, range: 0..<buffer.count)
                return PreTokenizer.tekken.split(scalars).map { range in
                    String(decoding: buffer[scalars.byteOffsets[range.lowerBound]..<scalars.byteOffsets[range.upperBound]], as: UTF8.self)
                }
            }
            #expect(pieces == expected, "\(text.debugDescription)")
        }
    }

    @Test func settingsFollowLlamaCpp() throws {
        #expect(PreTokenizer.recognizes("tekken"))
        let settings = try PreTokenizer.settings(for: "tekken")
        #expect(settings.preTokenizer == .tekken && settings.ignoreMerges && settings.addBOSByDefault && !settings.cleanSpaces)
    }
}

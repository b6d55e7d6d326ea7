import Foundation
import Testing

@testable import Tokenizer

/// The SmolLM2 vocabulary re-run with other pre-tokenizer families, against `tokenizers`
/// references built with each family's original regex (bpe_families.json).
@Suite(.enabled(if: Support.modelAvailable, "needs the SmolLM2 GGUF (TANDEM_MODEL or ~/.cache/tandem)"))
struct PreTokenizerFamilyTests {
    /// gpt2 / llama3 / qwen2 / tekken references agree between `tokenizers` and llama.cpp (tekken on
    /// 105 texts, with llama.cpp's form of its regex); `default` and `falcon` (llama.cpp-only
    /// families) come from llama.cpp alone.
    @Test(arguments: ["gpt2", "llama3", "qwen2", "default", "falcon", "tekken"])
    func exactIds(family: String) throws {
        var vocabulary = try #require(Support.smolVocabulary)
        vocabulary.preTokenizer =
            [
                "gpt2": "gpt-2", "llama3": "llama-bpe", "qwen2": "qwen2", "default": "default",
                "falcon": "falcon", "tekken": "tekken"
            ][family]
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        let families = try #require(Support.json("bpe_families.json")["families"] as? [String: Any])
        let cases = Support.cases(families[family])
        #expect(cases.count >= 30)
        for c in cases {
            #expect(tokenizer.encode(c.text) == c.ids, "\(family): \(c.text.debugDescription)")
            #expect(tokenizer.decodeBytes(c.ids) == Support.representableBytes(c.text, tokenizer))
        }
    }

    @Test func llama3DefaultsAddBOS() throws {
        var vocabulary = try #require(Support.smolVocabulary)
        vocabulary.preTokenizer = "llama-bpe"
        vocabulary.addBOS = nil
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        #expect(tokenizer.addsBOS)
        #expect(tokenizer.encode("hi", addSpecial: true).first == 1)
    }
}

/// A small SentencePiece BPE vocabulary trained by the `sentencepiece` library, whose own
/// encoder is the reference (spm_tiny.json).
struct SentencePieceTests {
    let tokenizer: Tokenizer
    let cases: [Support.Case]

    init() throws {
        let json = try Support.json("spm_tiny.json")
        let tokens = try #require(json["tokens"] as? [String])
        let scores = try #require(json["scores"] as? [Double]).map { Float($0) }
        let types = try #require(json["types"] as? [Int]).map(TokenType.init(raw:))
        tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(model: .llama, tokens: tokens, tokenTypes: types, scores: scores))
        cases = Support.cases(json["cases"])
    }

    @Test func defaultsFollowLlamaCpp() {
        #expect(tokenizer.addsBOS)
        #expect(!tokenizer.addsEOS)
        #expect(tokenizer.addsSpacePrefix)
        #expect(tokenizer.bos == 1 && tokenizer.eos == 2 && tokenizer.unknown == 0)
    }

    @Test func exactIds() {
        #expect(cases.count >= 10)
        for c in cases {
            // sentencepiece never parses control-token text, so compare with parsing off.
            #expect(tokenizer.encode(c.text, parseSpecial: false) == c.ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test func byteFallbackAndDecode() {
        let text = "unknown: 你好 😀 é"
        let ids = tokenizer.encode(text)
        #expect(ids.contains { tokenizer.tokenType(of: $0) == .byte })
        // The space prefix added by encoding is removed from the first piece when decoding.
        #expect(tokenizer.decode(ids) == text)
        for c in cases where !c.text.isEmpty && !c.text.hasPrefix(" ") {
            #expect(tokenizer.decode(tokenizer.encode(c.text, parseSpecial: false)) == c.text)
        }
    }

    /// Decoding matches llama.cpp's `llama_detokenize` (leading space removed from the first
    /// piece; after a BOS dropped by skipSpecial it is kept).
    @Test func decodeMatchesLlamaCpp() throws {
        let raw = try #require(Support.json("spm_tiny.json")["cases"] as? [[String: Any]])
        var checked = 0
        for entry in raw {
            guard let ids = (entry["ids"] as? [Int])?.map({ Int32($0) }),
                let decoded = entry["decoded"] as? String,
                let afterBOS = entry["decoded_bos_skip_special"] as? String
            else { continue }
            #expect(tokenizer.decode(ids) == decoded)
            #expect(tokenizer.decode([1] + ids, skipSpecial: true) == afterBOS)
            checked += 1
        }
        #expect(checked == raw.count)
    }

    @Test func bosAndSpecialParsing() {
        let ids = tokenizer.encode("Hello world", addSpecial: true)
        #expect(ids.first == 1)
        #expect(Array(ids.dropFirst()) == tokenizer.encode("Hello world"))
        #expect(tokenizer.encode("", addSpecial: true) == [1])
        #expect(tokenizer.encode("", addSpecial: false) == [])
        // With parsing on, "</s>" in text is the EOS control token and the text after it gets a space prefix.
        let parsed = tokenizer.encode("a</s>b")
        #expect(parsed.contains(2))
        #expect(Array(parsed.drop { $0 != 2 }.dropFirst()) == tokenizer.encode("b"))
        #expect(!tokenizer.encode("a</s>b", parseSpecial: false).contains(2))
        // Decoding after a BOS keeps llama.cpp's rule: BOS dropped by skipSpecial, space kept.
        #expect(tokenizer.decode(ids, skipSpecial: true) == " Hello world")
        #expect(tokenizer.decode(ids) == "<s> Hello world")
    }
}

/// Hand-checked splits of the pre-tokenizer matchers (expected pieces follow the regexes).
struct PreTokenizerSplitTests {
    func pieces(_ pre: PreTokenizer, _ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { buffer in
            let scalars = ScalarText(utf8: buffer, range: 0..<buffer.count)
            return pre.split(scalars).map { piece in
                String(decoding: buffer[scalars.byteOffsets[piece.lowerBound]..<scalars.byteOffsets[piece.upperBound]], as: UTF8.self)
            }
        }
    }

    @Test func gpt2() {
        #expect(pieces(.gpt2, "Hello world's  end 123!!") == ["Hello", " world", "'s", " ", " end", " 123", "!!"])
        #expect(pieces(.gpt2, "a   ") == ["a", "   "])
        #expect(pieces(.gpt2, "I'LL") == ["I", "'", "LL"])
    }

    @Test func smollmIsolatesDigits() {
        #expect(pieces(.smollm, "ab 123") == ["ab", " ", "1", "2", "3"])
    }

    @Test func llama3() {
        #expect(pieces(.llama3, "I'LL 1234567") == ["I", "'LL", " ", "123", "456", "7"])
        #expect(pieces(.llama3, "  \n  x") == ["  \n", " ", " x"])
        #expect(pieces(.llama3, "\tfoo...\n\nbar") == ["\tfoo", "...\n\n", "bar"])
        #expect(pieces(.qwen2, "x 123") == ["x", " ", "1", "2", "3"])
    }

    @Test func defaultFamily() {
        // [\p{P}$+<=>^~|]+ first, then GPT-2, then \p{N}+, then [0-9]{3} triples.
        #expect(pieces(.default, "a+b 12345") == ["a", "+", "b", " ", "123", "45"])
    }

    @Test func unknownPreTokenizerIsAnError() {
        #expect(throws: TokenizerError.unknownPreTokenizer("made-up")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: .gpt2, preTokenizer: "made-up", tokens: ["a"]))
        }
        // Absent or "default" selects llama.cpp's default family.
        let t = try? Tokenizer(vocabulary: TokenizerVocabulary(model: .gpt2, tokens: ["a"]))
        #expect(t?.preTokenizer == .default)
    }
}

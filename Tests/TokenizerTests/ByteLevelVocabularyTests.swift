import GGUF
import Testing

@testable import Tokenizer

/// Model-independent checks on a hand-built byte-level vocabulary: 256 byte tokens plus a
/// few merges and control tokens.
struct ByteLevelVocabularyTests {
    /// Byte-level text of each byte, in byte order (ids 0...255), then merged tokens.
    static let byteTokens: [String] = (0..<256).map { b in
        String(Character(Unicode.Scalar(ByteLevel.scalarForByte[b])!))
    }
    static let vocabulary = TokenizerVocabulary(
        model: .gpt2, preTokenizer: "gpt-2",
        tokens: byteTokens + ["Ġt", "he", "Ġthe", "<|end|>", "<|user|>"],
        tokenTypes: [TokenType](repeating: .normal, count: 259) + [.control, .userDefined],
        merges: ["Ġ t", "h e", "Ġt he"],
        bosTokenId: 259, eosTokenId: 259)

    let tokenizer = try! Tokenizer(vocabulary: ByteLevelVocabularyTests.vocabulary)

    @Test func byteMappingIsGPT2s() {
        #expect(ByteLevel.scalarForByte[0x20] == 0x120)  // 'Ġ'
        #expect(ByteLevel.scalarForByte[0x0A] == 0x10A)  // 'Ċ'
        #expect(ByteLevel.scalarForByte[0x41] == 0x41)
        #expect(Set(ByteLevel.scalarForByte).count == 256)
        #expect(ByteLevel.decode(ByteLevel.encode([0, 10, 32, 200, 255])) == [0, 10, 32, 200, 255])
    }

    @Test func mergesApplyByRank() {
        let the = Int32(258)
        #expect(tokenizer.encode(" the") == [the])
        #expect(tokenizer.encode(" thee") == [the, 101])  // 'e' = 0x65
        #expect(tokenizer.encode("he") == [257])
        #expect(tokenizer.encode("x") == [0x78])
    }

    @Test func userDefinedTokensAreAlwaysParsedControlOnlyOnRequest() {
        #expect(tokenizer.encode("a<|user|>b", parseSpecial: false) == [0x61, 260, 0x62])
        #expect(tokenizer.encode("a<|end|>b", parseSpecial: true) == [0x61, 259, 0x62])
        #expect(!tokenizer.encode("a<|end|>b", parseSpecial: false).contains(259))
        #expect(tokenizer.endOfGenerationTokens == [259])
        #expect(tokenizer.decode([0x61, 259, 260], skipSpecial: true) == "a<|user|>")
    }

    @Test func incrementalDecoderHoldsBackPartialCharacters() {
        let text = "é😀中 👨‍👩‍👧 end"
        let ids = tokenizer.encode(text)
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        var chunks: [String] = []
        for id in ids { chunks.append(decoder.append(id)) }
        chunks.append(decoder.flush())
        #expect(chunks.joined() == text)
        #expect(chunks.allSatisfy { !$0.contains("\u{FFFD}") })
        // 'é' is two byte tokens: nothing, then "é".
        #expect(Array(chunks.prefix(2)) == ["", "é"])
    }

    @Test func incrementalDecoderReplacesInvalidSequences() {
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        #expect(decoder.append(0xE4) == "")
        #expect(decoder.append(0x41) == "\u{FFFD}A")  // lead byte followed by ASCII
        #expect(decoder.append(0xFF) == "\u{FFFD}")  // never valid
        #expect(decoder.append(0xF0) == "")
        #expect(decoder.append(0x9F) == "")
        #expect(decoder.flush() == "\u{FFFD}")  // truncated at the end
        #expect(decoder.append(0xED) == "")
        #expect(decoder.append(0xA0) == "\u{FFFD}\u{FFFD}")  // surrogate range: invalid at once
        #expect(decoder.append(-7) == "\u{FFFD}")  // id outside the vocabulary
    }

    @Test func constructionErrors() {
        #expect(throws: TokenizerError.emptyVocabulary) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: .gpt2, tokens: []))
        }
        #expect(throws: TokenizerError.malformedMerge(index: 1, text: "nospace")) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: .gpt2, tokens: ["a"], merges: ["a a", "nospace"]))
        }
        #expect(throws: TokenizerError.tokenIdOutOfRange(key: "tokenizer.ggml.eos_token_id", id: 5, vocabularySize: 1)) {
            try Tokenizer(vocabulary: TokenizerVocabulary(model: .gpt2, tokens: ["a"], eosTokenId: 5))
        }
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.tokens")) {
            try Tokenizer(metadata: ["tokenizer.ggml.model": .string("gpt2")])
        }
        #expect(throws: TokenizerError.unknownModel("bert")) {
            try Tokenizer(metadata: ["tokenizer.ggml.model": .string("bert"), "tokenizer.ggml.tokens": .array([.string("a")])])
        }
        #expect(throws: TokenizerError.missingKey("tokenizer.ggml.merges")) {
            try Tokenizer(metadata: ["tokenizer.ggml.model": .string("gpt2"), "tokenizer.ggml.tokens": .array([.string("a")])])
        }
        #expect(throws: TokenizerError.invalidValue(key: "tokenizer.ggml.tokens", reason: "expected an array of strings")) {
            try Tokenizer(metadata: ["tokenizer.ggml.model": .string("llama"), "tokenizer.ggml.tokens": .array([.int32(1)])])
        }
        let message = TokenizerError.unknownPreTokenizer("foo").description
        #expect(message.contains("'foo'"))
    }

    @Test func metadataInitReadsAllKeys() throws {
        let metadata: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("gpt2"),
            "tokenizer.ggml.pre": .string("qwen2"),
            "tokenizer.ggml.tokens": .array(Self.byteTokens.map { .string($0) }),
            "tokenizer.ggml.merges": .array([]),
            "tokenizer.ggml.bos_token_id": .uint32(5),
            "tokenizer.ggml.add_bos_token": .bool(true)
        ]
        let t = try Tokenizer(metadata: metadata)
        #expect(t.preTokenizer == .qwen2)
        #expect(t.bos == 5 && t.addsBOS)
        #expect(t.encode("hi", addSpecial: true) == [5, 0x68, 0x69])
    }
}

import Foundation
import Testing

@testable import Tokenizer

/// Phi-3's SentencePiece tokenizer with its chat tokens, against llama.cpp (phi3_strip.json, written
/// by `scripts/fixtures_tokenizer.py --phi3`): for a file whose `general.name` says phi-3/phi3,
/// llama.cpp drops the whitespace after Phi-3's special tokens (`<|user|>\n` tokenizes as
/// `<|user|>` alone), and for any other name it keeps it.
@Suite struct Phi3TokenizerTests {
    @Test func idsMatchLlamaCpp() throws {
        let json = try Support.json("phi3_strip.json")
        let tokens = try #require(json["tokens"] as? [String])
        let scores = try #require(json["scores"] as? [Double]).map { Float($0) }
        let types = try #require(json["types"] as? [Int]).map(TokenType.init(raw:))
        let cases = try #require(json["cases"] as? [[String: Any]])
        #expect(cases.count == 12)
        for c in cases {
            let name = try #require(c["model_name"] as? String)
            let text = try #require(c["text"] as? String)
            let ids = try #require(c["ids"] as? [Int]).map { Int32($0) }
            let tokenizer = try Tokenizer(
                vocabulary: TokenizerVocabulary(model: .llama, tokens: tokens, tokenTypes: types, scores: scores, modelName: name))
            #expect(tokenizer.encode(text) == ids, "\(name): \(text.debugDescription)")
        }
    }

    /// Which tokens strip: every special token but `<unk>`, `<s>` and `<|endoftext|>`, and `</s>`.
    @Test func strippingTokensFollowLlamaCpp() {
        let tokens = ["<unk>", "<s>", "</s>", "a", "<|endoftext|>", "<|end|>", "<|user|>"]
        let types: [TokenType] = [.unknown, .control, .control, .normal, .control, .control, .userDefined]
        #expect(Tokenizer.rightStrippingTokens("Phi3", tokens: tokens, types: types) == [2, 5, 6])
        #expect(Tokenizer.rightStrippingTokens("phi-3-mini", tokens: tokens, types: types) == [2, 5, 6])
        #expect(Tokenizer.rightStrippingTokens("Phi 3 Mini", tokens: tokens, types: types).isEmpty)
        #expect(Tokenizer.rightStrippingTokens(nil, tokens: tokens, types: types).isEmpty)
    }
}

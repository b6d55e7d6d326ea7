import Randomness
import Testing

@testable import Tokenizer

/// Seeded random text over the whole scalar range: encoding never traps and byte-level
/// decoding gives the text back, whatever the pre-tokenizer.
@Suite(.enabled(if: Support.modelAvailable, "needs the SmolLM2 GGUF (TANDEM_MODEL or ~/.cache/tandem)"))
struct RobustnessTests {
    static func randomText(_ rng: inout SplitMix64) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...40, using: &rng) {
            let pick = Int.random(in: 0..<10, using: &rng)
            let value: UInt32
            switch pick {
            case 0...3: value = UInt32.random(in: 0...0x7F, using: &rng)
            case 4: value = [0x20, 0x0A, 0x0D, 0x09, 0xA0, 0x3000, 0x2028, 0x27][Int.random(in: 0..<8, using: &rng)]
            case 5: value = UInt32.random(in: 0x80...0x7FF, using: &rng)
            case 6: value = UInt32.random(in: 0x800...0xFFFF, using: &rng)
            case 7: value = UInt32.random(in: 0x1F300...0x1FAFF, using: &rng)
            default: value = UInt32.random(in: 0x10000...0x10FFFF, using: &rng)
            }
            if let scalar = Unicode.Scalar(value) { scalars.append(scalar) }
        }
        return String(scalars)
    }

    @Test(arguments: ["smollm", "gpt-2", "llama-bpe", "qwen2", "default", "falcon"])
    func randomTextRoundTrips(pre: String) throws {
        var vocabulary = try #require(Support.smolVocabulary)
        vocabulary.preTokenizer = pre
        let tokenizer = try Tokenizer(vocabulary: vocabulary)
        var rng = SplitMix64(seed: 42)
        for _ in 0..<300 {
            let text = Self.randomText(&rng)
            let ids = tokenizer.encode(text, parseSpecial: false)
            #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
            // Bytes without a byte token (SmolLM2 lacks e.g. 0xF1, 0xF2) are dropped, as in llama.cpp.
            #expect(
                tokenizer.decodeBytes(ids) == Support.representableBytes(text, tokenizer),
                "\(pre): \(text.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    @Test func sentencePieceRandomTextRoundTrips() throws {
        let json = try Support.json("spm_tiny.json")
        let tokens = try #require(json["tokens"] as? [String])
        let scores = try #require(json["scores"] as? [Double]).map { Float($0) }
        let types = try #require(json["types"] as? [Int]).map(TokenType.init(raw:))
        let tokenizer = try Tokenizer(vocabulary: TokenizerVocabulary(model: .llama, tokens: tokens, tokenTypes: types, scores: scores))
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            let text = Self.randomText(&rng)
            let ids = tokenizer.encode(text, parseSpecial: false)
            // Byte fallback covers every byte, so nothing is lost; the added prefix space is stripped.
            #expect(tokenizer.decode(ids) == text)
        }
    }
}

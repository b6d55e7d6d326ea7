import Foundation
import Testing

@testable import Tokenizer

/// The real SmolLM2 tokenizer (byte-level BPE, `smollm` pre-tokenizer) against references
/// produced by Hugging Face `tokenizers` (scripts/fixtures_tokenizer.py).
@Suite(.enabled(if: Support.modelAvailable, "needs the SmolLM2 GGUF (TANDEM_MODEL or ~/.cache/tandem)"))
struct SmolLM2Tests {
    let tokenizer: Tokenizer
    let cases: [Support.Case]

    init() throws {
        tokenizer = try #require(Support.smolTokenizer)
        cases = Support.cases(try Support.json("smollm2.json")["cases"])
    }

    @Test func metadataIsRead() {
        #expect(tokenizer.model == .gpt2)
        #expect(tokenizer.preTokenizer == .smollm)
        #expect(tokenizer.vocabularySize == 49152)
        #expect(tokenizer.bos == 1)
        #expect(tokenizer.eos == 2)
        #expect(tokenizer.addsBOS == false)
        #expect(tokenizer.token(for: "<|im_end|>") == 2)
        #expect(tokenizer.isControl(1))
        #expect(!tokenizer.isControl(100))
        // <|endoftext|> (0) and <|im_end|> (2, also EOS) end generation.
        #expect(tokenizer.endOfGenerationTokens == [0, 2])
    }

    @Test func exactIdsForEveryCorpusEntry() {
        #expect(cases.count >= 30)
        for c in cases {
            let ids = tokenizer.encode(c.text)
            #expect(ids == c.ids, "text: \(c.text.debugDescription)")
        }
    }

    @Test func decodeInvertsEncode() {
        var lossy = 0
        for c in cases {
            let expected = Support.representableBytes(c.text, tokenizer)
            #expect(tokenizer.decodeBytes(tokenizer.encode(c.text)) == expected)
            #expect(tokenizer.decodeBytes(c.ids) == expected)
            if expected.count == c.text.utf8.count {
                #expect(tokenizer.decode(c.ids) == c.text)
            } else {
                lossy += 1
            }
        }
        // Exactly one corpus entry holds bytes SmolLM2 has no token for (0xF2, 0x04, 0x06).
        #expect(lossy == 1)
    }

    @Test func specialTokenParsingOnAndOff() {
        let text = "<|im_start|>user\nhi<|im_end|>"
        let parsed = tokenizer.encode(text, parseSpecial: true)
        #expect(parsed.first == 1)
        #expect(parsed.last == 2)
        let plain = tokenizer.encode(text, parseSpecial: false)
        #expect(!plain.contains(1) && !plain.contains(2))
        #expect(plain.count > parsed.count)
        #expect(tokenizer.decode(plain) == text)
        // Skipping specials drops control tokens from the output text.
        #expect(tokenizer.decode(parsed, skipSpecial: true) == "user\nhi")
    }

    @Test func bosHandling() {
        // SmolLM2 sets add_bos_token = false, so addSpecial adds nothing.
        #expect(tokenizer.encode("Hello", addSpecial: true) == tokenizer.encode("Hello"))
        var v = try! #require(Support.smolVocabulary)
        v.addBOS = true
        v.addEOS = true
        let withBOS = try! Tokenizer(vocabulary: v)
        let ids = withBOS.encode("Hello", addSpecial: true)
        #expect(ids.first == 1 && ids.last == 2)
        #expect(Array(ids.dropFirst().dropLast()) == tokenizer.encode("Hello"))
        #expect(withBOS.encode("Hello", addSpecial: false) == tokenizer.encode("Hello"))
        #expect(withBOS.encode("", addSpecial: true) == [1, 2])
    }

    @Test func outOfRangeIdsDecodeToReplacement() {
        #expect(tokenizer.decode([-1, 49152, 1_000_000]) == "\u{FFFD}\u{FFFD}\u{FFFD}")
        #expect(tokenizer.bytes(of: -5).isEmpty)
    }

    @Test func incrementalDecodingNeverSplitsCharacters() {
        let texts = cases.map(\.text).filter {
            $0.unicodeScalars.contains { $0.value > 0x7F } && Support.representableBytes($0, tokenizer).count == $0.utf8.count
        }
        #expect(!texts.isEmpty)
        var sawHeldBack = false
        for text in texts {
            var decoder = IncrementalDecoder(tokenizer: tokenizer)
            var out = ""
            for id in tokenizer.encode(text) {
                let chunk = decoder.append(id)
                // Every emitted chunk is whole characters: no U+FFFD from split sequences.
                #expect(!chunk.contains("\u{FFFD}"))
                if chunk.isEmpty { sawHeldBack = true }
                out += chunk
            }
            out += decoder.flush()
            #expect(out == text)
        }
        // Emoji and CJK are split across byte tokens, so some tokens must have been held back.
        #expect(sawHeldBack)
    }

    @Test func concurrentEncodingAgrees() async {
        let tokenizer = self.tokenizer
        let cases = self.cases
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var bad = 0
                    for (i, c) in cases.enumerated() where i % 4 == worker {
                        if tokenizer.encode(c.text) != c.ids { bad += 1 }
                    }
                    return bad
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func constructionSpeed() throws {
        let vocabulary = try #require(Support.smolVocabulary)
        let start = DispatchTime.now().uptimeNanoseconds
        let built = try Tokenizer(vocabulary: vocabulary)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        print("tokenizer construction (49152 tokens, 48900 merges): \(String(format: "%.1f", elapsed)) ms")
        #expect(built.vocabularySize == tokenizer.vocabularySize)
    }

    @Test func encodingSpeed() {
        let text = String(repeating: "The quick brown fox jumps over the lazy dog, 1234 times; café 😀 中文.\n", count: 40)
        let ids = tokenizer.encode(text)
        let rounds = 20
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds { _ = tokenizer.encode(text) }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let perHundred = elapsed / Double(rounds) / Double(ids.count) * 100 * 1e6
        print(
            "tokenizer speed: \(ids.count) tokens in \(String(format: "%.3f", elapsed / Double(rounds) * 1e3)) ms (\(String(format: "%.1f", perHundred)) µs per 100 tokens)"
        )
        #expect(ids.count > 500)
    }
}

import Foundation
import GGUF
import Model
import Testing

/// How RoPE scaling is read from the synthetic fixtures, and Llama 3's formula against the factors
/// the Python writer computed for rope_freqs.weight (as llama.cpp's converter does). The logits of
/// these files are compared with the float64 reference in ``SyntheticModelReferenceTests``.
@Suite struct RoPEScalingTests {
    @Test func scalingIsReadFromMetadata() throws {
        let freqs = try ModelConfiguration(file: Fixtures.generatedModel("tiny-llama3-rope-freqs"))
        #expect(freqs.ropeScaling == .none)  // the real-file layout: only the tensor says llama3
        let metadata = try ModelConfiguration(file: Fixtures.generatedModel("tiny-llama3-rope-metadata"))
        #expect(
            metadata.ropeScaling
                == .llama3(
                    .init(
                        factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                        originalContextLength: 48)))
        let linear = try ModelConfiguration(file: Fixtures.generatedModel("tiny-llama-rope-linear"))
        #expect(linear.ropeScaling == .linear(factor: 4))
        let plain = try ModelConfiguration(file: Fixtures.generatedModel("tiny-llama-f32"))
        #expect(plain.ropeScaling == .none)
        #expect(try plain.ropeScaling.frequencyDivisors(base: 10000, ropeDimensions: 16, fileFactors: nil) == nil)
    }

    /// Swift's Llama 3 divisors equal the F32 factors the fixture writer stored (same parameters:
    /// factor 8, low 1, high 4, original context 64, base 10000, 16 rotated dimensions).
    @Test func llama3FormulaMatchesTheWrittenFactors() throws {
        let file = try Fixtures.generatedModel("tiny-llama3-rope-freqs")
        let tensor = try #require(file.tensor(named: "rope_freqs.weight"))
        let bytes = file.bytes(of: tensor)
        let written = (0..<8).map { bytes.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self) }
        let computed = RoPEScaling.Llama3Parameters(
            factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4,
            originalContextLength: 64
        )
        .divisors(base: 10000, ropeDimensions: 16)
        #expect(written.first == 1 && written.last == 8)
        for (w, c) in zip(written, computed) { #expect(abs(Double(w) - c) <= 1e-6 * c, "\(w) vs \(c)") }
    }

    /// Linear scaling multiplies every divisor, on top of file factors when both are present.
    @Test func linearScalesEveryPair() throws {
        let divisors = try RoPEScaling.linear(factor: 4)
            .frequencyDivisors(base: 10000, ropeDimensions: 4, fileFactors: [1, 2])
        #expect(divisors == [4, 8])
        #expect(throws: ModelError.self) {
            _ = try RoPEScaling.linear(factor: .greatestFiniteMagnitude)
                .frequencyDivisors(base: 10000, ropeDimensions: 4, fileFactors: [4, 4])
        }
    }

    /// YaRN from metadata (tiny-qwen2-yarn: factor 4, original context 2048, default betas) and its
    /// three regimes over 16 pairs with base 10000: with dim(r) = 32 ln(2048 / 2πr) / (2 ln 10000),
    /// low = floor(dim(32)) = 4 and high = ceil(dim(1)) = 11, so pairs 0-4 keep their frequency,
    /// 5-10 are blended and 11-15 are divided by the full factor; cos/sin times 0.1 ln 4 + 1.
    @Test func yarnRegimes() throws {
        let configuration = try ModelConfiguration(file: Fixtures.generatedModel("tiny-qwen2-yarn"))
        let expected = RoPEScaling.YaRNParameters(factor: 4, originalContextLength: 2048)
        #expect(configuration.ropeScaling == .yarn(expected))
        #expect(abs(configuration.ropeScaling.magnitude - (0.1 * log(4.0) + 1)) < 1e-12)
        let divisors = try #require(
            try configuration.ropeScaling.frequencyDivisors(base: 10000, ropeDimensions: 32, fileFactors: nil))
        #expect(divisors.count == 16)
        #expect(divisors[0...4].allSatisfy { $0 == 1 })
        #expect(divisors[11...].allSatisfy { abs($0 - 4) < 1e-12 })
        // In the ramp, pair i keeps mix = 1 - (i - 4) / 7 of its angle: divisor 1 / ((1 - mix) / 4 + mix).
        for i in 5...10 {
            let mix = 1 - Double(i - 4) / 7
            #expect(abs(divisors[i] - 1 / ((1 - mix) / 4 + mix)) < 1e-12, "pair \(i)")
        }
    }

    /// LongRoPE (tiny-phi3): the file's attention factor, the long factors when the model runs with
    /// more than the original context, the short ones otherwise (llama.cpp's rule).
    @Test func longRoPEChoosesItsFactorsByTheContext() throws {
        let configuration = try ModelConfiguration(file: Fixtures.generatedModel("tiny-phi3"))
        guard case .longRoPE(let parameters) = configuration.ropeScaling else {
            Issue.record("expected LongRoPE, got \(configuration.ropeScaling)")
            return
        }
        #expect(parameters.originalContextLength == 16)
        // Written as the converter computes it: sqrt(1 + ln(128 / 16) / ln 16), stored as F32.
        #expect(abs(parameters.attentionFactor - (1 + log(8.0) / log(16.0)).squareRoot()) < 1e-6)
        #expect(
            RoPEScaling.LongRoPEParameters.defaultAttentionFactor(contextLength: 128, originalContextLength: 16)
                == (1 + log(8.0) / log(16.0)).squareRoot())
        #expect(parameters.usesLongFactors(contextLength: 128))
        #expect(parameters.usesLongFactors(contextLength: 17))
        #expect(!parameters.usesLongFactors(contextLength: 16))
        #expect(configuration.ropeDimensions == 12 && configuration.headDimension == 16)
        #expect(configuration.fusedQueryKeyValue && configuration.fusedGateUp && configuration.ropeNeoX)
    }

    /// The context a model runs with is at most the file's; it must be positive.
    @Test func contextLengthCapsTheFile() throws {
        let file = try Fixtures.generatedModel("tiny-phi3-short")
        #expect(try LlamaModel(file: file, threads: 1).configuration.contextLength == 1024)
        #expect(try LlamaModel(file: file, threads: 1, contextLength: 256).configuration.contextLength == 256)
        #expect(try LlamaModel(file: file, threads: 1, contextLength: 4096).configuration.contextLength == 1024)
        #expect(throws: ModelError.self) { _ = try LlamaModel(file: file, threads: 1, contextLength: 0) }
    }

    /// Mistral: a llama file's window applies to every layer, with the one RoPE table.
    @Test func mistralWindowCoversEveryLayer() throws {
        let configuration = try ModelConfiguration(file: Fixtures.generatedModel("tiny-mistral"))
        #expect(configuration.slidingWindow == 16)
        #expect(configuration.slidingWindowLayers == [true, true])
        #expect(configuration.localRopeBase == nil)
        #expect(configuration.featureSummary == "sliding window 16 on 2 of 2 layers")
    }
}

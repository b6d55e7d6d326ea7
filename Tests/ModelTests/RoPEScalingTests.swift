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
}

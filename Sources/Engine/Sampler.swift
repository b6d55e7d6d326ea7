import Foundation
import Randomness

/// Chooses a sequence's next token from its logits, deterministically for a given seed.
///
/// One `Sampler` belongs to one sequence: it owns the random generator and the token counts that
/// the penalties need. The order of operations matches vLLM and llama.cpp: logit bias, penalties,
/// then greedy or temperature, top-k, top-p and min-p, then a draw. Every step costs
/// O(vocabulary + history) whatever the parameters: top-k is a radix selection (`TopKSelection`),
/// and `VocabularySampling` draws over the whole vocabulary, sorting at most one bin of it.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: Xoshiro256StarStar
    /// Random numbers drawn so far (one per non-greedy choice).
    public private(set) var draws = 0
    private var promptTokens: Set<Int32> = []
    private var outputCounts: [Int32: Int] = [:]

    public init(parameters: SamplingParameters, promptTokens: [Int32] = []) {
        self.parameters = parameters
        self.random = Xoshiro256StarStar(seed: parameters.seed ?? UInt64.random(in: .min ... .max))
        if parameters.repetitionPenalty != 1 { self.promptTokens = Set(promptTokens) }
    }

    /// Records a token that became part of the output (for the penalties).
    public mutating func accept(_ token: Int32) {
        if parameters.repetitionPenalty != 1 || parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0 {
            outputCounts[token, default: 0] += 1
        }
    }

    /// Picks the next token. Penalties are applied to `logits` while sampling and undone before
    /// returning, so the row still holds the model's logits afterwards.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        let saved = applyPenalties(logits)
        defer { for (index, value) in saved { logits[index] = value } }
        if parameters.isGreedy { return Self.argmax(logits) }
        let invTemperature = min(1 / parameters.temperature, .greatestFiniteMagnitude)  // finite for tiny T
        let row = UnsafeBufferPointer(logits)
        let topK = parameters.topK > 0 && parameters.topK < logits.count ? TopKSelection(row, k: parameters.topK) : nil
        draws += 1
        return VocabularySampling.draw(
            row, invTemperature: invTemperature, topK: topK,
            topP: parameters.topP, minP: parameters.minP, unit: random.nextUnitDouble())
    }

    /// Advances the generator as if `count` choices had been drawn since the sampler was made.
    mutating func skipDraws(_ count: Int) {
        while draws < count {
            _ = random.nextUnitDouble()
            draws += 1
        }
    }

    /// Index of the largest logit; the lowest index wins a tie. NaNs are never chosen (all NaN or
    /// -infinity gives 0). Eight lanes at a time: the maximum first, then the first index holding it.
    public static func argmax(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        guard let base = logits.baseAddress else { return 0 }
        let count = logits.count, raw = UnsafeRawPointer(base)
        var maxima = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= count {
            let v = raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            maxima.replace(with: v, where: v .> maxima)
            i += 8
        }
        var best = maxima.max()
        while i < count {
            if base[i] > best { best = base[i] }
            i += 1
        }
        guard best > -.infinity else { return 0 }
        i = 0
        while i + 8 <= count, !any(raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) .== best) { i += 8 }
        while base[i] != best { i += 1 }
        return Int32(i)
    }

    /// Applies the logit bias and the penalties in place and returns the original values of the
    /// changed entries. Costs O(bias entries + distinct prompt tokens + distinct output tokens).
    private func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>) -> [Int: Float] {
        let p = parameters
        var saved: [Int: Float] = [:]
        func change(_ token: Int32, _ transform: (Float) -> Float) {
            guard token >= 0, Int(token) < logits.count else { return }
            let index = Int(token)
            if saved[index] == nil { saved[index] = logits[index] }
            logits[index] = transform(logits[index])
        }
        for (token, bias) in p.logitBias { change(token) { $0 + bias } }
        if p.repetitionPenalty != 1 {
            for token in promptTokens.union(outputCounts.keys) {
                change(token) { $0 > 0 ? $0 / p.repetitionPenalty : $0 * p.repetitionPenalty }
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (token, count) in outputCounts {
                change(token) { $0 - (p.presencePenalty + p.frequencyPenalty * Float(count)) }
            }
        }
        return saved
    }
}

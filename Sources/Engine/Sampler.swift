import Foundation
import Randomness

/// Chooses a sequence's next token from its logits, deterministically for a given seed.
///
/// One `Sampler` belongs to one sequence: it owns the random generator and the token counts that
/// the penalties need. The order of operations matches vLLM and llama.cpp: penalties, then greedy
/// or temperature, top-k, top-p and min-p, then a draw. Without top-k the whole vocabulary is
/// sampled by `VocabularySampling`, which sorts at most one bin of it.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var random: Xoshiro256StarStar
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
        if parameters.topK > 0 && parameters.topK < logits.count {
            return sampleTopK(logits, invTemperature: invTemperature)
        }
        return VocabularySampling.draw(UnsafeBufferPointer(logits), invTemperature: invTemperature,
                                       topP: parameters.topP, minP: parameters.minP, unit: random.nextUnitDouble())
    }

    /// Top-k: the k best in order, then top-p and min-p over them, then a draw in that order.
    private mutating func sampleTopK(_ logits: UnsafeMutableBufferPointer<Float>, invTemperature: Float) -> Int32 {
        var candidates = topKCandidates(logits, k: parameters.topK)
        let maxLogit = candidates[0].logit
        var total: Double = 0
        for i in candidates.indices {
            let p = exp(Double((candidates[i].logit - maxLogit) * invTemperature))
            candidates[i].probability = p
            total += p
        }
        // top-p: keep the smallest prefix whose mass reaches topP.
        var keep = candidates.count
        if parameters.topP < 1 {
            var mass: Double = 0
            let target = Double(parameters.topP) * total
            for i in candidates.indices {
                mass += candidates[i].probability
                if mass >= target { keep = i + 1; break }
            }
        }
        // min-p: drop tokens below minP times the most likely one.
        let threshold = candidates[0].probability * Double(parameters.minP)
        while keep > 1 && candidates[keep - 1].probability < threshold { keep -= 1 }
        var keptMass: Double = 0
        for i in 0..<keep { keptMass += candidates[i].probability }
        let draw = random.nextUnitDouble() * keptMass
        var cumulative: Double = 0
        for i in 0..<keep {
            cumulative += candidates[i].probability
            if draw < cumulative { return candidates[i].token }
        }
        return candidates[keep - 1].token
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

    /// Applies the penalties in place and returns the original values of the changed entries.
    private func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>) -> [(Int, Float)] {
        let p = parameters
        var saved: [(Int, Float)] = []
        if p.repetitionPenalty != 1 {
            for token in promptTokens.union(outputCounts.keys) where token >= 0 && Int(token) < logits.count {
                let value = logits[Int(token)]
                saved.append((Int(token), value))
                logits[Int(token)] = value > 0 ? value / p.repetitionPenalty : value * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (token, count) in outputCounts where token >= 0 && Int(token) < logits.count {
                if p.repetitionPenalty == 1 { saved.append((Int(token), logits[Int(token)])) }
                logits[Int(token)] -= p.presencePenalty + p.frequencyPenalty * Float(count)
            }
        }
        return saved
    }

    private struct Candidate {
        var token: Int32
        var logit: Float
        var probability: Double = 0
    }

    /// The k best tokens, sorted by descending logit (ties: lower id first).
    private func topKCandidates(_ logits: UnsafeMutableBufferPointer<Float>, k: Int) -> [Candidate] {
        var best: [Candidate] = []
        best.reserveCapacity(k + 1)
        for i in 0..<logits.count {
            let candidate = Candidate(token: Int32(i), logit: logits[i])
            if best.count == k, let last = best.last, !Self.byLogit(candidate, last) { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if Self.byLogit(best[mid], candidate) { lo = mid + 1 } else { hi = mid }
            }
            best.insert(candidate, at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    /// Descending logit, then ascending token id.
    private static func byLogit(_ a: Candidate, _ b: Candidate) -> Bool {
        a.logit != b.logit ? a.logit > b.logit : a.token < b.token
    }
}

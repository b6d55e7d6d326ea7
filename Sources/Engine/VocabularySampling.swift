import Kernels

/// Draws a token from the temperature-scaled softmax of a whole vocabulary, with top-p and min-p,
/// without sorting the vocabulary.
///
/// Weights are `e^((logit - max) / T)`, so the likeliest token weighs 1 and min-p keeps the weights
/// of at least `minP`. Top-p keeps the smallest set of likeliest tokens (by descending logit, lower id
/// first on ties) whose mass reaches `topP` of the total: the weights are binned by the top bits of
/// their Float representation (which order positive floats by value), the bins are summed from the
/// top down to the one where the mass is reached, and only that bin's tokens are sorted. The draw
/// then walks the kept tokens in token order. A full sort of a 49k vocabulary per token took
/// milliseconds on the device thread; this takes tens of microseconds.
enum VocabularySampling {
    /// A weight's bin: its Float bits without the sign, above the lowest 19 (8 exponent bits, 4
    /// mantissa bits). Weights are positive; the mask keeps even a NaN from a broken model in range.
    static let binShift: UInt32 = 19
    static let binCount = 1 << 12

    @inline(__always)
    static func bin(_ weight: Float) -> Int { Int((weight.bitPattern & 0x7FFF_FFFF) >> binShift) }

    /// Draws from `logits` with `unit` in [0, 1), among the tokens `topK` keeps (all when nil).
    static func draw(
        _ logits: UnsafeBufferPointer<Float>, invTemperature: Float, topK: TopKSelection? = nil,
        topP: Float, minP: Float, unit: Double
    ) -> Int32 {
        let count = logits.count
        guard count > 0, let source = logits.baseAddress else { return 0 }
        var maxLogit = -Float.infinity
        for value in logits { maxLogit = max(maxLogit, value) }
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: count + 8) { buffer in
            let weights = buffer.baseAddress.unsafelyUnwrapped
            computeWeights(source, count: count, maxLogit: maxLogit, invTemperature: invTemperature, into: weights)
            if let topK {
                for j in 0..<count where !topK.keeps(source[j], token: j) { weights[j] = 0 }
            }
            var total: Double = 0
            for j in 0..<count { total += Double(weights[j]) }

            let cut =
                topP < 1
                ? TopPCut(weights: weights, logits: source, count: count, target: Double(topP) * total) : .keepAll
            @inline(__always)
            func kept(_ j: Int) -> Bool {
                let weight = weights[j]
                return weight > 0 && weight >= minP && cut.keeps(weight: weight, logit: source[j], token: j)
            }
            var keptMass: Double = 0
            if cut.isKeepAll && minP <= 0 {
                keptMass = total
            } else {
                for j in 0..<count where kept(j) { keptMass += Double(weights[j]) }
            }
            let target = unit * keptMass
            var cumulative: Double = 0
            var last = 0
            for j in 0..<count where kept(j) {
                cumulative += Double(weights[j])
                last = j
                if target < cumulative { return Int32(j) }
            }
            return Int32(last)
        }
    }

    /// `weights[j] = e^((logits[j] - maxLogit) * invTemperature)`, 8 lanes at a time.
    private static func computeWeights(
        _ logits: UnsafePointer<Float>, count: Int, maxLogit: Float, invTemperature: Float,
        into weights: UnsafeMutablePointer<Float>
    ) {
        let top = SIMD8<Float>(repeating: maxLogit), scale = SIMD8<Float>(repeating: invTemperature)
        var j = 0
        while j < count {
            var x = top
            if j + 8 <= count {
                x = UnsafeRawPointer(logits + j).loadUnaligned(as: SIMD8<Float>.self)
            } else {
                for lane in 0..<(count - j) { x[lane] = logits[j + lane] }
            }
            // (x - max) * (1/T): 0 for the likeliest token, so its weight is exactly 1.
            let scaled = (x - top) * scale
            UnsafeMutableRawPointer(weights + j).storeBytes(of: SIMDKernels.exp(scaled), as: SIMD8<Float>.self)
            j += 8
        }
    }

    /// Where top-p cuts the likelihood order: every token in a bin above `bin`, and in `bin` those at
    /// or before (`logit`, `token`) in order of descending logit, then ascending id.
    struct TopPCut {
        var bin: Int
        var logit: Float
        var token: Int

        static let keepAll = TopPCut(bin: -1, logit: -.infinity, token: .max)
        var isKeepAll: Bool { bin < 0 }

        @inline(__always)
        func keeps(weight: Float, logit: Float, token: Int) -> Bool {
            if isKeepAll { return true }
            let b = VocabularySampling.bin(weight)
            if b != bin { return b > bin }
            return logit > self.logit || (logit == self.logit && token <= self.token)
        }
    }
}

extension VocabularySampling.TopPCut {
    /// The cut that keeps the smallest prefix of the likelihood order whose weights reach `target`.
    init(weights: UnsafePointer<Float>, logits: UnsafePointer<Float>, count: Int, target: Double) {
        var boundary = 0, above: Double = 0
        withUnsafeTemporaryAllocation(of: Double.self, capacity: VocabularySampling.binCount) { bins in
            bins.initialize(repeating: 0)
            for j in 0..<count { bins[VocabularySampling.bin(weights[j])] += Double(weights[j]) }
            for b in stride(from: VocabularySampling.binCount - 1, through: 0, by: -1) {
                if above + bins[b] >= target { boundary = b; return }
                above += bins[b]
            }
            above -= bins[0]  // (rounding left the target out of reach: keep every bin)
        }
        var members: [(logit: Float, token: Int)] = []
        for j in 0..<count where VocabularySampling.bin(weights[j]) == boundary { members.append((logits[j], j)) }
        members.sort { $0.logit != $1.logit ? $0.logit > $1.logit : $0.token < $1.token }
        self.init(bin: boundary, logit: .infinity, token: -1)
        var mass = above
        for member in members {
            (logit, token) = member
            mass += Double(weights[member.token])
            if mass >= target { break }
        }
    }
}

import Foundation
import Kernels

/// Log-softmax of one row of logits, for log-probability reports.
struct LogProbabilities {
    let logits: UnsafeMutableBufferPointer<Float>
    let logNormalizer: Float

    /// The normalizer `max + log(sum(e^(x - max)))`: exponentials eight lanes at a time, summed in
    /// Double per block of 8 (a 128k vocabulary costs tens of microseconds, not a scalar exp each).
    init(_ logits: UnsafeMutableBufferPointer<Float>) {
        self.logits = logits
        var maximum = -Float.infinity
        for value in logits { maximum = max(maximum, value) }
        var sum: Double = 0
        if let base = logits.baseAddress, maximum.isFinite {
            let top = SIMD8<Float>(repeating: maximum)
            var j = 0
            while j + 8 <= logits.count {
                let x = UnsafeRawPointer(base + j).loadUnaligned(as: SIMD8<Float>.self)
                sum += Double(SIMDKernels.exp(x - top).sum())
                j += 8
            }
            while j < logits.count {
                sum += exp(Double(base[j] - maximum))
                j += 1
            }
        }
        logNormalizer = maximum.isFinite ? maximum + Float(log(sum)) : maximum
    }

    /// The chosen token's log-probability and the `count` most likely tokens'.
    func report(chosen token: Int32, top count: Int) -> TokenLogprob {
        let best = TopKSelection.best(UnsafeBufferPointer(logits), k: count)
        return TokenLogprob(
            token: token, logprob: logits[Int(token)] - logNormalizer,
            top: best.map { (token: $0.token, logprob: $0.logit - logNormalizer) })
    }
}

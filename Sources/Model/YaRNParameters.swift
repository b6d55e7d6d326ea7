import Foundation

extension RoPEScaling {
    /// YaRN ("yet another RoPE extension", `rope.scaling.type = yarn`; Qwen2.5's long-context
    /// configuration): high frequencies keep their angle, low frequencies are slowed down by
    /// `factor`, a linear ramp blends the two between the "correction dimensions" set by
    /// `betaFast` and `betaSlow`, and cos/sin are multiplied by an attention (magnitude) factor.
    ///
    /// Computed as llama.cpp's `rope_yarn` / `ggml_rope_yarn_corr_dims` (with `ext_factor` 1), which
    /// gives the same angles as transformers' `_compute_yarn_parameters` (its ramp adds 0.001 to an
    /// empty range; llama.cpp clamps the range to at least 0.001).
    public struct YaRNParameters: Sendable, Equatable {
        /// The context extension factor `s` (4 for Qwen2.5's 131072 over 32768).
        public var factor: Double
        /// The pre-training context length (`rope.scaling.original_context_length`).
        public var originalContextLength: Double
        /// Rotations over the original context above which a frequency is left unchanged (32).
        public var betaFast: Double
        /// Rotations below which a frequency is fully interpolated (1).
        public var betaSlow: Double
        /// The factor cos and sin are multiplied by: `rope.scaling.attn_factor` when the file
        /// gives one (transformers' `attention_factor`), else `0.1 ln(s) + 1` (llama.cpp's
        /// magnitude correction, transformers' `get_mscale`), 1 when `s <= 1`.
        public var attentionFactor: Double

        /// The defaults of llama.cpp and transformers for the two betas.
        public static let defaultBetaFast = 32.0
        public static let defaultBetaSlow = 1.0

        /// Creates the parameters (validated by the reader); `attentionFactor` nil means the
        /// default `0.1 ln(factor) + 1`.
        public init(
            factor: Double, originalContextLength: Double, betaFast: Double = defaultBetaFast,
            betaSlow: Double = defaultBetaSlow, attentionFactor: Double? = nil
        ) {
            self.factor = factor
            self.originalContextLength = originalContextLength
            self.betaFast = betaFast
            self.betaSlow = betaSlow
            self.attentionFactor = attentionFactor ?? (factor > 1 ? 0.1 * Foundation.log(factor) + 1 : 1)
        }

        /// The pair index at which a frequency turns `rotations` times over the original context:
        /// `d ln(L / (2π rotations)) / (2 ln base)`.
        func correctionDimension(rotations: Double, base: Double, ropeDimensions: Int) -> Double {
            Double(ropeDimensions) * Foundation.log(originalContextLength / (rotations * 2 * Double.pi))
                / (2 * Foundation.log(base))
        }

        /// The divisor of each of the `ropeDimensions / 2` frequencies: pair `i` keeps the fraction
        /// `mix = 1 - clamp((i - low) / max(0.001, high - low), 0, 1)` of its original angle and
        /// takes `1 - mix` of the interpolated one (angle / factor), so the divisor is
        /// `1 / ((1 - mix) / factor + mix)`; `low = max(0, floor(dim(betaFast)))`,
        /// `high = min(d - 1, ceil(dim(betaSlow)))`.
        public func divisors(base: Double, ropeDimensions: Int) -> [Double] {
            let low = max(0, correctionDimension(rotations: betaFast, base: base, ropeDimensions: ropeDimensions).rounded(.down))
            let high = min(
                Double(ropeDimensions - 1),
                correctionDimension(rotations: betaSlow, base: base, ropeDimensions: ropeDimensions).rounded(.up))
            return (0..<(ropeDimensions / 2)).map { i in
                let y = (Double(i) - low) / max(0.001, high - low)
                let mix = 1 - min(1, max(0, y))
                return 1 / ((1 - mix) / factor + mix)
            }
        }
    }
}

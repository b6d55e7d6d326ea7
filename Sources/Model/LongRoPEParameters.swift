import Foundation

extension RoPEScaling {
    /// Phi-3's LongRoPE ("su" / `longrope` in transformers' `rope_scaling`): one divisor per
    /// rotated pair from one of two F32 tensors, `rope_factors_short.weight` or
    /// `rope_factors_long.weight` (`ropeDimensions / 2` values each, written by llama.cpp's
    /// converter), and cos/sin multiplied by an attention (magnitude) factor.
    ///
    /// **Which factors**: llama.cpp chooses by the context size the model is created with (long
    /// factors when it exceeds `original_context_length`), transformers by the current sequence
    /// length. Tandem follows llama.cpp (``usesLongFactors(contextLength:)``): a position's rotation
    /// must not depend on how long its sequence later grows, or cached keys (and the prefix cache)
    /// would be stale; transformers itself keeps the short-factor keys in its cache when a sequence
    /// crosses the original context.
    public struct LongRoPEParameters: Sendable, Equatable {
        /// The pre-training context length (`rope.scaling.original_context_length`, 4096 for Phi-3).
        public var originalContextLength: Int
        /// The factor cos and sin are multiplied by: `rope.scaling.attn_factor` (llama.cpp's
        /// converter writes it), else transformers' default `sqrt(1 + ln(s) / ln(L))` with
        /// `s = context_length / L`, 1 when `s <= 1`.
        public var attentionFactor: Double

        /// Creates the parameters (validated by the reader).
        public init(originalContextLength: Int, attentionFactor: Double) {
            self.originalContextLength = originalContextLength
            self.attentionFactor = attentionFactor
        }

        /// transformers' default attention factor for a model of `contextLength` positions.
        public static func defaultAttentionFactor(contextLength: Int, originalContextLength: Int) -> Double {
            let scale = Double(contextLength) / Double(originalContextLength)
            guard scale > 1, originalContextLength > 1 else { return 1 }
            return (1 + Foundation.log(scale) / Foundation.log(Double(originalContextLength))).squareRoot()
        }

        /// Whether a model run with `contextLength` positions uses the long factors (llama.cpp's
        /// `get_rope_factors`: `n_ctx_per_seq > n_ctx_orig_yarn`).
        public func usesLongFactors(contextLength: Int) -> Bool { contextLength > originalContextLength }
    }
}

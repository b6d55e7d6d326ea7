import GGUF

/// The mixture-of-experts feed-forward of a model (Mixtral-style `llama`, `qwen3moe`, `olmoe`), read
/// from `{arch}.expert_*` metadata.
///
/// Every layer's feed-forward is `Σ_{e in top-k} weight_e · down_e(silu(gate_e h) · up_e h)`. The router
/// (`ffn_gate_inp`) gives one logit per expert; the probabilities are the softmax over all experts,
/// the `usedCount` most probable experts are run, and their weights are the probabilities, divided by
/// their sum when ``normalizesTopK`` (Mixtral, Qwen3-MoE) — which equals a softmax over the selected
/// logits, Mixtral's definition — or taken as they are (OLMoE).
public struct ExpertConfiguration: Sendable, Equatable {
    /// Experts per layer (`{arch}.expert_count`).
    public var count: Int
    /// Experts run per token (`{arch}.expert_used_count`), at most ``count``.
    public var usedCount: Int
    /// Rows of each expert's gate and up matrices (columns of its down matrix).
    public var feedForwardWidth: Int
    /// Whether the selected experts' probabilities are divided by their sum.
    public var normalizesTopK: Bool

    /// The `{arch}.expert_*` keys this reader knows. Any other such key (groups, biases, shared
    /// experts, another gating function…) describes a variant that is refused, never ignored.
    static let knownKeys: Set<String> = [
        "expert_count", "expert_used_count", "expert_feed_forward_length", "expert_weights_norm",
        "expert_gating_func", "expert_shared_count", "expert_weights_scale"
    ]

    /// The most experts per token Tandem runs (real models use 2-16), which bounds the routing work
    /// and the per-step buffers a file can ask for.
    public static let maximumUsedCount = 256

    /// llama.cpp's `LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX`, the value of `{arch}.expert_gating_func`
    /// for a softmax router (2 is sigmoid).
    static let softmaxGating = 1

    /// Reads the experts of `file` (architecture `name`), or returns nil for a dense file.
    ///
    /// `family`: whether the architecture defines experts at all (llama: optional; qwen3moe and
    /// olmoe: required; any other: `expert_count` > 0 is refused). `normalizesByDefault`: the
    /// family's top-k renormalisation (Qwen3-MoE's `norm_top_k_prob`, true in every released
    /// configuration and hard-wired in llama.cpp; Mixtral's softmax over the selected logits; OLMoE's
    /// false), which `{arch}.expert_weights_norm` overrides when present (transformers' configs
    /// decide it; llama.cpp ignores the key for these families).
    static func read(
        _ file: GGUFFile, architecture name: String, family: Family,
        denseFeedForwardWidth: Int
    ) throws(ModelError) -> ExpertConfiguration? {
        let metadata = file.metadata
        let countKey = "\(name).expert_count"
        guard let countValue = metadata[countKey] else {
            if family.requiresExperts { throw .missingMetadata(countKey) }
            return nil
        }
        guard let count = countValue.int, count >= 0, count <= 1 << 16 else {
            throw .invalidMetadata(countKey, "expected an integer in 0...65536, got \(countValue)")
        }
        if count == 0 {
            if family.requiresExperts { throw .invalidMetadata(countKey, "a \(name) file needs at least one expert") }
            return nil
        }
        guard family.definesExperts else {
            throw .unsupportedFeature("mixture of experts ('\(countKey)' = \(count)); the \(name) architecture has none")
        }
        let prefix = "\(name).expert_"
        for key in metadata.keys.sorted() where key.hasPrefix(prefix) {
            guard Self.knownKeys.contains(String(key.dropFirst(name.count + 1))) else {
                throw .unsupportedFeature("mixture-of-experts variant '\(key)'")
            }
        }
        if let value = metadata["\(name).leading_dense_block_count"], value.int != 0 {
            throw .unsupportedFeature("dense leading layers in a mixture of experts ('\(name).leading_dense_block_count')")
        }

        func positive(_ key: String) throws(ModelError) -> Int {
            let fullKey = "\(name).\(key)"
            guard let value = metadata[fullKey] else { throw .missingMetadata(fullKey) }
            guard let int = value.int, int > 0, int <= 1 << 24 else {
                throw .invalidMetadata(fullKey, "expected a positive integer, got \(value)")
            }
            return int
        }
        let used = try positive("expert_used_count")
        guard used <= count else {
            throw .invalidMetadata("\(name).expert_used_count", "\(used) experts per token, but the file has \(count)")
        }
        guard used <= Self.maximumUsedCount else {
            throw .invalidMetadata(
                "\(name).expert_used_count", "\(used) experts per token; Tandem runs at most \(Self.maximumUsedCount)")
        }
        let width = family.expertWidthKey ? try positive("expert_feed_forward_length") : denseFeedForwardWidth
        func show(_ value: GGUFValue) -> String { value.int.map(String.init) ?? value.float.map { "\($0)" } ?? "\(value)" }
        if let value = metadata["\(name).expert_gating_func"], value.int != Self.softmaxGating {
            throw .unsupportedFeature("expert gating function \(show(value)) in '\(name).expert_gating_func' (supported: 1, softmax)")
        }
        if let value = metadata["\(name).expert_shared_count"], value.int != 0 {
            throw .unsupportedFeature("shared experts ('\(name).expert_shared_count' = \(show(value))); the \(name) architecture has none")
        }
        if let value = metadata["\(name).expert_weights_scale"], value.float != 1 {
            throw .unsupportedFeature("scaled expert weights ('\(name).expert_weights_scale' = \(show(value)))")
        }
        var normalizes = family.normalizesByDefault
        if let value = metadata["\(name).expert_weights_norm"] {
            switch value {
            case .bool(let flag): normalizes = flag
            default: throw .invalidMetadata("\(name).expert_weights_norm", "expected a boolean, got \(value)")
            }
        }
        return ExpertConfiguration(count: count, usedCount: used, feedForwardWidth: width, normalizesTopK: normalizes)
    }

    /// How an architecture treats experts.
    struct Family {
        /// Whether the architecture may have experts.
        var definesExperts: Bool
        /// Whether every file of the architecture must have them.
        var requiresExperts: Bool
        /// Whether the expert width is `expert_feed_forward_length` (else `feed_forward_length`).
        var expertWidthKey: Bool
        /// The family's top-k renormalisation when the file does not say.
        var normalizesByDefault: Bool

        static let dense = Family(definesExperts: false, requiresExperts: false, expertWidthKey: false, normalizesByDefault: false)
        /// Mixtral-style llama: softmax over the selected logits (= renormalised top-k); width
        /// `feed_forward_length`, as llama.cpp reads it.
        static let llama = Family(definesExperts: true, requiresExperts: false, expertWidthKey: false, normalizesByDefault: true)
        /// Qwen3-MoE: `moe_intermediate_size` as `expert_feed_forward_length`, `norm_top_k_prob`.
        static let qwen3moe = Family(definesExperts: true, requiresExperts: true, expertWidthKey: true, normalizesByDefault: true)
        /// OLMoE: width `feed_forward_length` (llama.cpp), `norm_topk_prob` false.
        static let olmoe = Family(definesExperts: true, requiresExperts: true, expertWidthKey: false, normalizesByDefault: false)
    }

    /// For `tandem inspect`: "8 experts, 2 per token (top-k renormalised), expert width 32".
    public var summary: String {
        "\(count) experts, \(usedCount) per token (softmax router, top-k \(normalizesTopK ? "renormalised" : "not renormalised")), "
            + "expert feed-forward \(feedForwardWidth)"
    }
}

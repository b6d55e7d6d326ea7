/// The names of the tensors the forward pass binds: the one list that both the weight loader
/// (``ModelWeights``) and the support check (``ModelSupport``) read, so a tensor the loader does not
/// bind is always reported as unconsumed.
public enum TensorManifest {
    /// The token embedding (also the output head when the file has no `output.weight`).
    public static let tokenEmbedding = "token_embd.weight"
    /// The final RMS norm.
    public static let outputNorm = "output_norm.weight"
    /// The output head (optional: tied to the embedding when absent).
    public static let output = "output.weight"

    /// The tensors of block `index`.
    public struct Layer: Sendable {
        public let attentionNorm: String
        public let query: String
        /// Query, key and value in one matrix (phi3).
        public let queryKeyValue: String
        public let key: String
        public let value: String
        /// Optional biases of the query, key and value projections.
        public let queryBias: String
        public let keyBias: String
        public let valueBias: String
        public let attentionOutput: String
        public let feedForwardNorm: String
        public let gate: String
        public let up: String
        public let down: String
        /// Per-head query and key norms (qwen3, gemma3).
        public let queryNorm: String
        public let keyNorm: String
        /// Norms of the attention and feed-forward outputs (gemma3).
        public let postAttentionNorm: String
        public let postFeedForwardNorm: String
        /// The experts' router (`[embedding, experts]`) and the experts' gate, up and down matrices
        /// stacked in one 3-D tensor each (`[columns, rows, experts]`), when the model has experts.
        public let router: String
        public let gateExperts: String
        public let upExperts: String
        public let downExperts: String

        /// The names of block `index` (`blk.{index}.…`).
        public init(_ index: Int) {
            let p = "blk.\(index)."
            attentionNorm = p + "attn_norm.weight"
            query = p + "attn_q.weight"
            queryKeyValue = p + "attn_qkv.weight"
            key = p + "attn_k.weight"
            value = p + "attn_v.weight"
            queryBias = p + "attn_q.bias"
            keyBias = p + "attn_k.bias"
            valueBias = p + "attn_v.bias"
            attentionOutput = p + "attn_output.weight"
            feedForwardNorm = p + "ffn_norm.weight"
            gate = p + "ffn_gate.weight"
            up = p + "ffn_up.weight"
            down = p + "ffn_down.weight"
            queryNorm = p + "attn_q_norm.weight"
            keyNorm = p + "attn_k_norm.weight"
            postAttentionNorm = p + "post_attention_norm.weight"
            postFeedForwardNorm = p + "post_ffw_norm.weight"
            router = p + "ffn_gate_inp.weight"
            gateExperts = p + "ffn_gate_exps.weight"
            upExperts = p + "ffn_up_exps.weight"
            downExperts = p + "ffn_down_exps.weight"
        }

        /// Every name of the block that the forward pass of `configuration` binds, required and
        /// optional: Q/K/V biases only for llama and qwen2 (as llama.cpp loads them), query/key
        /// norms and post-norms only where the family has them, the router and stacked experts
        /// instead of gate/up/down when the model has experts; for phi3 the fused `attn_qkv` (or,
        /// without it, separate query/key/value) and the fused gate/up in `ffn_up`, no `ffn_gate`.
        public func all(_ configuration: ModelConfiguration) -> [String] {
            var names = [attentionNorm, query, key, value, attentionOutput, feedForwardNorm]
            names += configuration.experts == nil ? [gate, up, down] : [router, gateExperts, upExperts, downExperts]
            switch configuration.architecture {
            case .llama, .qwen2: names += [queryBias, keyBias, valueBias]
            case .qwen3, .gemma2, .gemma3, .qwen3moe, .olmoe: break
            case .phi3:
                names = [attentionNorm, attentionOutput, feedForwardNorm, up, down]
                names += configuration.fusedQueryKeyValue ? [queryKeyValue] : [query, key, value]
            }
            if configuration.queryKeyNorm { names += [queryNorm, keyNorm] }
            if configuration.postNorms { names += [postAttentionNorm, postFeedForwardNorm] }
            return names
        }
    }

    /// Every tensor name the forward pass of `configuration` may consume, required or optional.
    public static func consumedNames(_ configuration: ModelConfiguration) -> Set<String> {
        var names: Set<String> = [tokenEmbedding, outputNorm, output]
        if configuration.architecture == .llama { names.insert(ModelConfiguration.ropeFrequencyTensor) }
        if configuration.architecture == .phi3 {
            names.formUnion([RoPEScaling.longRoPEShortFactorsTensor, RoPEScaling.longRoPELongFactorsTensor])
        }
        for index in 0..<configuration.layerCount { names.formUnion(Layer(index).all(configuration)) }
        return names
    }
}

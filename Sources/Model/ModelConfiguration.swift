import GGUF

/// The hyperparameters of a Llama-family model, read from GGUF metadata.
public struct ModelConfiguration: Sendable, Equatable {
    /// Architectures Tandem can run.
    public enum Architecture: String, Sendable, CaseIterable {
        /// Llama 2/3, SmolLM, Mistral-style models: normal RoPE layout, no attention biases.
        case llama
        /// Qwen2/2.5: NeoX RoPE layout and biases on the Q/K/V projections.
        case qwen2
        /// Qwen3 (dense): NeoX RoPE, no biases, a per-head RMSNorm of queries and keys before RoPE.
        case qwen3
        /// Gemma 2: as Gemma 3 without query/key norms, with every other layer sliding-window (one
        /// RoPE base for all) and soft-capped attention scores and final logits.
        case gemma2
        /// Gemma 3 (text): embedding scaled by sqrt(width), norms before and after attention and
        /// feed-forward, GELU (tanh) gate, per-head query/key norms, interleaved sliding-window layers.
        case gemma3
        /// Qwen3-MoE (Qwen3-30B-A3B, 235B-A22B): Qwen3's attention, a mixture of experts in every layer.
        case qwen3moe
        /// OLMoE: NeoX RoPE, query/key RMSNorm over the whole projection (not per head), a mixture
        /// of experts in every layer without top-k renormalisation.
        case olmoe
        /// Phi-3 / Phi-3.5 / Phi-4 (dense): query/key/value in one matrix (`attn_qkv`), gate and up in
        /// one (`ffn_up`, gate rows first), NeoX RoPE (possibly on fewer dimensions than the head),
        /// LongRoPE factors, and a sliding window on every layer when the file declares one.
        case phi3
    }

    /// The gate's activation in the feed-forward block: `down(act(gate x) * up x)`.
    public enum FeedForwardActivation: String, Sendable {
        /// SwiGLU: `silu(x) = x / (1 + e^-x)` (llama, qwen).
        case silu
        /// GeGLU with the tanh approximation of GELU (gemma's `gelu_pytorch_tanh`).
        case geluTanh
    }

    /// Gemma 3's local/global layer pattern: every sixth layer (5, 11, …) attends to the whole
    /// context, the others only to the sliding window. GGUF does not store it; this is
    /// transformers' `sliding_window_pattern` default and llama.cpp's `set_swa_pattern(6)`.
    public static let gemma3SlidingWindowPattern = 6
    /// Gemma 3's RoPE base for its sliding-window layers (transformers' `rope_local_base_freq`,
    /// llama.cpp's `rope_freq_base_train_swa`); not in GGUF. The global layers use
    /// `rope.freq_base` and the file's RoPE scaling, the local layers neither.
    public static let gemma3LocalRoPEBase: Float = 10000
    /// Gemma 2's pattern: even layers (0, 2, …) are sliding-window layers, odd ones global
    /// (transformers' `layer_types`, llama.cpp's `set_swa_pattern(2)`).
    public static let gemma2SlidingWindowPattern = 2

    public var architecture: Architecture
    public var contextLength: Int
    public var embeddingWidth: Int
    public var layerCount: Int
    /// Rows of the gate and up matrices; for a mixture of experts, each expert's.
    public var feedForwardWidth: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDimension: Int
    public var rmsNormEpsilon: Float
    public var ropeBase: Float
    /// How many leading dimensions of each head RoPE rotates.
    public var ropeDimensions: Int
    /// NeoX layout rotates pairs (i, i + d/2); the normal layout rotates adjacent pairs (2i, 2i+1).
    public var ropeNeoX: Bool
    /// RoPE scaling from `{arch}.rope.scaling.*` (Llama 3 factors may also come from the tensor
    /// `rope_freqs.weight`, which the weights read).
    public var ropeScaling: RoPEScaling
    public var vocabularySize: Int
    /// Whether the output head reuses the token embedding.
    public var tiedEmbedding: Bool
    /// RMSNorm of queries and keys before RoPE (`attn_q_norm`, `attn_k_norm`): per head (qwen3,
    /// gemma3), or over the whole projection when ``queryKeyNormOverProjection`` (olmoe).
    /// (Gemma's norm weights need no `1 +`: llama.cpp's converter stores `w + 1` for every
    /// `*norm.weight`, so every family multiplies by the stored weight.)
    public var queryKeyNorm: Bool = false
    /// The query/key norm spans the whole query (key) projection, `qWidth` (`kvWidth`) values, as
    /// OLMoE's `q_norm`/`k_norm` do, instead of each head.
    public var queryKeyNormOverProjection: Bool = false
    /// The mixture of experts that replaces the dense feed-forward in every layer, or nil.
    public var experts: ExpertConfiguration?
    /// RMSNorm of the attention and feed-forward outputs before the residual add
    /// (`post_attention_norm`, `post_ffw_norm`; gemma2, gemma3).
    public var postNorms: Bool = false
    /// The feed-forward gate's activation.
    public var activation: FeedForwardActivation = .silu
    /// Factor the token embedding is multiplied by before the first layer (gemma: sqrt(width)).
    public var embeddingScale: Float = 1
    /// Factor of the attention scores `q·k` (`1/sqrt(headDimension)` unless the family defines it
    /// otherwise).
    public var attentionScale: Float = 1
    /// Positions a sliding-window layer attends to (its own and the `slidingWindow - 1` before);
    /// 0 when no layer has a window.
    public var slidingWindow: Int = 0
    /// Per layer, whether it is a sliding-window ("local") layer; empty when none is.
    public var slidingWindowLayers: [Bool] = []
    /// RoPE base of the sliding-window layers (gemma3), which also run without RoPE scaling.
    public var localRopeBase: Float?
    /// Final logits become `cap * tanh(logits / cap)` (`{arch}.final_logit_softcapping`), or nil.
    public var finalLogitSoftCap: Float?
    /// Scaled attention scores become `cap * tanh(score / cap)` (gemma2's `attn_logit_softcapping`), or nil.
    public var attentionSoftCap: Float?
    /// Whether query, key and value come from one fused matrix `attn_qkv.weight` (phi3 files; its
    /// rows are the query rows, then the key rows, then the value rows).
    public var fusedQueryKeyValue: Bool = false
    /// Whether gate and up come from one fused matrix `ffn_up.weight` of `2 * feedForwardWidth` rows,
    /// the gate's first (phi3: transformers' `gate_up_proj`, split by `chunk(2)`; llama.cpp's
    /// `ggml_swiglu` activates the first half).
    public var fusedGateUp: Bool = false

    /// What the family adds to the plain llama layer, for `tandem inspect` (e.g. "q/k norms,
    /// post-norms, GELU (tanh) gate, sliding window 512 on 15 of 18 layers (RoPE base 10000)"); empty
    /// for a plain llama.
    public var featureSummary: String {
        var parts: [String] = []
        if queryKeyNorm { parts.append("q/k norms") }
        if postNorms { parts.append("post-norms") }
        if activation == .geluTanh { parts.append("GELU (tanh) gate") }
        if embeddingScale != 1 { parts.append("embedding × \(embeddingScale)") }
        if headDimension * headCount != embeddingWidth { parts.append("head size \(headDimension)") }
        if ropeDimensions < headDimension { parts.append("RoPE on \(ropeDimensions) of \(headDimension) dimensions") }
        if fusedQueryKeyValue { parts.append("fused QKV") }
        if fusedGateUp { parts.append("fused gate/up") }
        let local = slidingWindowLayers.filter { $0 }.count
        if local > 0 {
            let base = localRopeBase.map { " (RoPE base \(Int($0)))" } ?? ""
            parts.append("sliding window \(slidingWindow) on \(local) of \(layerCount) layers\(base)")
        }
        if let cap = attentionSoftCap { parts.append("attention soft-cap \(cap)") }
        if let cap = finalLogitSoftCap { parts.append("final logit soft-cap \(cap)") }
        if queryKeyNormOverProjection { parts.append("q/k norms over the whole projection") }
        if let experts { parts.append(experts.summary) }
        return parts.joined(separator: ", ")
    }

    /// Whether layer `index` is a sliding-window layer.
    public func isSlidingWindowLayer(_ index: Int) -> Bool {
        index < slidingWindowLayers.count && slidingWindowLayers[index]
    }

    /// The window when every layer has it (Mistral, Phi-3 with a window), else nil. Then no
    /// position before `p - window + 1` is read for a token at `p` in any layer, so the cache may
    /// drop those positions; with interleaved global layers (Gemma 2/3) every position stays needed.
    public var windowOnEveryLayer: Int? {
        guard slidingWindow > 0, slidingWindowLayers.count == layerCount, !slidingWindowLayers.contains(false) else {
            return nil
        }
        return slidingWindow
    }

    /// The local layers' window when the model interleaves them with global layers (Gemma 2/3),
    /// else nil. The local layers then need only their window of the cache, the global ones every
    /// position: a KV cache may keep the two kinds in separate block pools (`KVCache`).
    public var interleavedWindow: Int? {
        guard slidingWindow > 0, slidingWindowLayers.count == layerCount, slidingWindowLayers.contains(true),
            slidingWindowLayers.contains(false)
        else { return nil }
        return slidingWindow
    }

    public var qWidth: Int { headCount * headDimension }
    public var kvWidth: Int { kvHeadCount * headDimension }

    /// The name of the tensor of Llama 3 RoPE frequency divisors (`ropeDimensions / 2` F32 values).
    public static let ropeFrequencyTensor = "rope_freqs.weight"

    /// Reads the configuration from `file`, naming any missing or invalid key, and refusing
    /// (with ``ModelError``) metadata that asks for something the forward pass does not do: an
    /// unknown architecture or RoPE scaling type, experts outside llama/qwen3moe/olmoe or of a
    /// variant not implemented (``ExpertConfiguration``), a sliding attention window in a qwen2,
    /// qwen3, qwen3moe or olmoe file (llama and phi3 files get it on every layer, gemma2/gemma3 on
    /// their local layers), attention soft-capping in a gemma3 file, separate key and value head
    /// sizes.
    public init(file: GGUFFile) throws(ModelError) {
        guard let name = file.architecture else { throw .missingMetadata("general.architecture") }
        guard let architecture = Architecture(rawValue: name) else { throw .unsupportedArchitecture(name) }
        self.architecture = architecture
        let metadata = file.metadata

        func integer(_ key: String, default defaultValue: Int? = nil) throws(ModelError) -> Int {
            let fullKey = "\(name).\(key)"
            guard let value = metadata[fullKey] else {
                if let defaultValue { return defaultValue }
                throw .missingMetadata(fullKey)
            }
            guard let int = value.int, int > 0, int <= 1 << 24 else {
                throw .invalidMetadata(fullKey, "expected a positive integer, got \(value)")
            }
            return int
        }
        func real(_ key: String, default defaultValue: Double) throws(ModelError) -> Float {
            let fullKey = "\(name).\(key)"
            guard let value = metadata[fullKey] else { return Float(defaultValue) }
            guard let double = value.float, double.isFinite, double > 0 else {
                throw .invalidMetadata(fullKey, "expected a positive number, got \(value)")
            }
            return Float(double)
        }

        contextLength = try integer("context_length", default: 4096)
        embeddingWidth = try integer("embedding_length")
        layerCount = try integer("block_count")
        // Qwen3-MoE's experts have their own width (`expert_feed_forward_length`), and its dense
        // width (`intermediate_size`, for layers without experts, which llama.cpp does not run
        // either) may be absent. With experts, this becomes the experts' width below.
        feedForwardWidth = try integer("feed_forward_length", default: architecture == .qwen3moe ? 1 : nil)
        headCount = try integer("attention.head_count")
        kvHeadCount = try integer("attention.head_count_kv", default: headCount)
        guard embeddingWidth % headCount == 0 || metadata["\(name).attention.key_length"] != nil else {
            throw .invalidMetadata("\(name).embedding_length", "\(embeddingWidth) is not a multiple of the head count \(headCount)")
        }
        headDimension = try integer("attention.key_length", default: embeddingWidth / headCount)
        guard headCount % kvHeadCount == 0 else {
            throw .invalidMetadata("\(name).attention.head_count_kv", "head count \(headCount) is not a multiple of \(kvHeadCount)")
        }
        guard headDimension % 2 == 0, headDimension <= 1024 else {
            throw .invalidMetadata("\(name).attention.key_length", "head dimension \(headDimension) must be even and at most 1024")
        }
        rmsNormEpsilon = try real("attention.layer_norm_rms_epsilon", default: 1e-5)
        ropeBase = try real("rope.freq_base", default: 10000)
        ropeDimensions = try integer("rope.dimension_count", default: headDimension)
        guard ropeDimensions <= headDimension, ropeDimensions % 2 == 0 else {
            throw .invalidMetadata("\(name).rope.dimension_count", "\(ropeDimensions) must be even and at most the head dimension \(headDimension)")
        }
        ropeNeoX = architecture != .llama
        var longRoPEFactorsPresent = false
        if architecture == .phi3 {
            let short = file.tensor(named: RoPEScaling.longRoPEShortFactorsTensor) != nil
            let long = file.tensor(named: RoPEScaling.longRoPELongFactorsTensor) != nil
            if short != long {
                throw .missingTensor(short ? RoPEScaling.longRoPELongFactorsTensor : RoPEScaling.longRoPEShortFactorsTensor)
            }
            longRoPEFactorsPresent = short
        }
        ropeScaling = try RoPEScaling(
            file: file, architecture: name,
            ropeFrequencyTensorPresent: architecture == .llama && file.tensor(named: Self.ropeFrequencyTensor) != nil,
            longRoPEFactorsPresent: longRoPEFactorsPresent)

        let family: ExpertConfiguration.Family
        switch architecture {
        case .llama: family = .llama
        case .qwen3moe: family = .qwen3moe
        case .olmoe: family = .olmoe
        case .qwen2, .qwen3, .phi3, .gemma2, .gemma3: family = .dense
        }
        experts = try ExpertConfiguration.read(file, architecture: name, family: family, denseFeedForwardWidth: feedForwardWidth)
        if let experts { feedForwardWidth = experts.feedForwardWidth }
        attentionScale = 1 / Float(headDimension).squareRoot()
        switch architecture {
        case .llama, .qwen2: break
        case .qwen3, .qwen3moe: queryKeyNorm = true
        case .olmoe:
            queryKeyNorm = true
            queryKeyNormOverProjection = true
        case .phi3:
            // llama.cpp reads attn_qkv when present and separate q/k/v otherwise; gate/up is always fused.
            fusedQueryKeyValue = file.tensor(named: TensorManifest.Layer(0).queryKeyValue) != nil
            fusedGateUp = true
        case .gemma2:
            postNorms = true
            activation = .geluTanh
            embeddingScale = Float(embeddingWidth).squareRoot()
            // query_pre_attn_scalar: head_dim (256) for 2B and 9B, n_embd / n_head (144) for 27B
            // (46 layers), as transformers' configs and llama.cpp's layer-count rule.
            let scalar = layerCount == 46 ? embeddingWidth / headCount : headDimension
            attentionScale = 1 / Float(scalar).squareRoot()
            slidingWindow = try integer("attention.sliding_window")
            slidingWindowLayers = (0..<layerCount).map { ($0 + 1) % Self.gemma2SlidingWindowPattern != 0 }
            // Defaults as transformers' Gemma2Config and llama.cpp when a file leaves them out.
            attentionSoftCap = try real("attn_logit_softcapping", default: 50)
            finalLogitSoftCap = try real("final_logit_softcapping", default: 30)
        case .gemma3:
            queryKeyNorm = true
            postNorms = true
            activation = .geluTanh
            // llama.cpp scales by sqrtf(n_embd) in float32 (transformers rounds the factor to the
            // weights' dtype).
            embeddingScale = Float(embeddingWidth).squareRoot()
            // query_pre_attn_scalar is not in GGUF: transformers' Gemma 3 configs give head_dim for
            // every size but 27B (62 layers), whose value is n_embd / n_head; llama.cpp decides by
            // the layer count the same way.
            let scalar = layerCount == 62 ? embeddingWidth / headCount : headDimension
            attentionScale = 1 / Float(scalar).squareRoot()
            slidingWindow = try integer("attention.sliding_window")
            slidingWindowLayers = (0..<layerCount).map { ($0 + 1) % Self.gemma3SlidingWindowPattern != 0 }
            localRopeBase = Self.gemma3LocalRoPEBase
            if metadata["\(name).final_logit_softcapping"] != nil {
                finalLogitSoftCap = try real("final_logit_softcapping", default: 0)
            }
            if metadata["\(name).attn_logit_softcapping"] != nil {
                throw .unsupportedFeature("attention logit soft-capping ('\(name).attn_logit_softcapping')")
            }
        }
        if architecture != .gemma3, architecture != .gemma2, let value = metadata["\(name).attention.sliding_window"] {
            guard let window = value.int, window >= 0 else {
                throw .invalidMetadata("\(name).attention.sliding_window", "expected a non-negative integer, got \(value)")
            }
            if window > 0 && window < contextLength {
                switch architecture {
                case .llama, .phi3:
                    // Mistral 7B v0.1 (`llama`) and Phi-3 (e.g. 2047 in Phi-3-mini-4k): every layer
                    // attends to the window, as transformers' MistralModel and Phi3Model do.
                    // llama.cpp runs Phi-3 without it (it disables Phi SWA), so past the window
                    // its logits differ from transformers' and Tandem's.
                    slidingWindow = window
                    slidingWindowLayers = Array(repeating: true, count: layerCount)
                case .qwen2, .qwen3, .qwen3moe, .olmoe, .gemma2, .gemma3:
                    throw .unsupportedFeature(
                        "sliding-window attention ('\(name).attention.sliding_window' = \(window), "
                            + "context length \(contextLength))")
                }
            }
        }
        if let value = metadata["\(name).attention.value_length"], value.int != headDimension {
            throw .unsupportedFeature(
                "value head size '\(name).attention.value_length' = \(value) differs from the "
                    + "key head size \(headDimension)")
        }

        guard let embedding = file.tensor(named: "token_embd.weight") else { throw .missingTensor("token_embd.weight") }
        guard embedding.dimensions.count == 2, embedding.dimensions[0] == embeddingWidth else {
            throw .tensorShape("token_embd.weight", expected: [embeddingWidth, -1], actual: embedding.dimensions)
        }
        vocabularySize = embedding.dimensions[1]
        tiedEmbedding = file.tensor(named: "output.weight") == nil
    }
}

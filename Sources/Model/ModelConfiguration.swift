import GGUF

/// The hyperparameters of a Llama-family model, read from GGUF metadata.
public struct ModelConfiguration: Sendable, Equatable {
    /// Architectures Tandem can run.
    public enum Architecture: String, Sendable, CaseIterable {
        /// Llama 2/3, SmolLM, Mistral-style models: normal RoPE layout, no attention biases.
        case llama
        /// Qwen2/2.5: NeoX RoPE layout and biases on the Q/K/V projections.
        case qwen2
    }

    public var architecture: Architecture
    public var contextLength: Int
    public var embeddingWidth: Int
    public var layerCount: Int
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

    public var qWidth: Int { headCount * headDimension }
    public var kvWidth: Int { kvHeadCount * headDimension }

    /// The name of the tensor of Llama 3 RoPE frequency divisors (`ropeDimensions / 2` F32 values).
    public static let ropeFrequencyTensor = "rope_freqs.weight"

    /// Reads the configuration from `file`, naming any missing or invalid key, and refusing
    /// (with ``ModelError``) metadata that asks for something the forward pass does not do: an
    /// unknown architecture or RoPE scaling type, experts, a sliding attention window, separate
    /// key and value head sizes.
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
        feedForwardWidth = try integer("feed_forward_length")
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
        ropeNeoX = architecture == .qwen2
        ropeScaling = try RoPEScaling(
            file: file, architecture: name,
            ropeFrequencyTensorPresent: architecture == .llama && file.tensor(named: Self.ropeFrequencyTensor) != nil)

        if let value = metadata["\(name).expert_count"] {
            guard let experts = value.int, experts >= 0 else {
                throw .invalidMetadata("\(name).expert_count", "expected a non-negative integer, got \(value)")
            }
            if experts > 0 {
                throw .unsupportedFeature("mixture of experts ('\(name).expert_count' = \(experts)); Tandem runs dense models only")
            }
        }
        if let value = metadata["\(name).attention.sliding_window"] {
            guard let window = value.int, window >= 0 else {
                throw .invalidMetadata("\(name).attention.sliding_window", "expected a non-negative integer, got \(value)")
            }
            if window > 0 && window < contextLength {
                throw .unsupportedFeature(
                    "sliding-window attention ('\(name).attention.sliding_window' = \(window), "
                        + "context length \(contextLength))")
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

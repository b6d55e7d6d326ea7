import GGUF
import Kernels
import Tokenizer

/// Whether Tandem can run a GGUF file exactly, decided before any weight is bound.
///
/// Tandem fails closed: a file it would run subtly wrong is refused with a ``ModelError`` that
/// names the reason. ``check(_:)`` refuses an unknown architecture, RoPE scaling type or
/// tokenizer, experts outside llama/qwen3moe/olmoe or of an unknown variant, sliding windows in qwen2/qwen3/qwen3moe/olmoe files (through ``ModelConfiguration/init(file:)``), any tensor
/// the forward pass would not consume (an extra norm, expert weights, an output bias: the mark of a
/// variant of the architecture), and tensor types the kernels cannot compute with. `LlamaModel`
/// runs it on every load and `tandem inspect` reports it.
public enum ModelSupport {
    /// How many unconsumed tensors an error names (it counts all of them).
    public static let namedTensorLimit = 4

    /// Checks `file` (metadata, tokenizer, tensor names and types, the experts' tensor shapes, and
    /// the RoPE factors tensor's values) and returns its configuration.
    public static func check(_ file: GGUFFile) throws(ModelError) -> ModelConfiguration {
        let configuration = try ModelConfiguration(file: file)
        try checkTokenizer(file.metadata)
        try checkAllConsumed(
            tensorNames: file.tensors.map(\.name),
            consumed: TensorManifest.consumedNames(configuration),
            architecture: configuration.architecture.rawValue)
        let factorTensors: Set<String> = [
            ModelConfiguration.ropeFrequencyTensor, RoPEScaling.longRoPEShortFactorsTensor,
            RoPEScaling.longRoPELongFactorsTensor
        ]
        for tensor in file.tensors where !factorTensors.contains(tensor.name) {
            guard tensor.type.isSupported, WeightMatrix.supports(tensor.type) else {
                throw .unsupportedTensorType(tensor.name, tensor.type)
            }
        }
        if let experts = configuration.experts {
            for index in 0..<configuration.layerCount {
                try ExpertWeights.checkShapes(
                    file: file, layer: TensorManifest.Layer(index), width: configuration.embeddingWidth, experts: experts)
            }
        }
        if configuration.architecture == .llama, let tensor = file.tensor(named: ModelConfiguration.ropeFrequencyTensor) {
            _ = try ModelWeights.ropeFrequencyFactors(tensor, file: file, pairs: configuration.ropeDimensions / 2)
        }
        try checkFusedShapes(file, configuration)
        if case .longRoPE = configuration.ropeScaling {
            for name in [RoPEScaling.longRoPEShortFactorsTensor, RoPEScaling.longRoPELongFactorsTensor] {
                guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
                _ = try ModelWeights.ropeFrequencyFactors(tensor, file: file, pairs: configuration.ropeDimensions / 2)
            }
        }
        return configuration
    }

    /// Refuses a fused projection (phi3's `attn_qkv`, `ffn_up`) whose shape is not the parts' rows
    /// stacked: splitting it would read the wrong rows.
    static func checkFusedShapes(_ file: GGUFFile, _ c: ModelConfiguration) throws(ModelError) {
        var fused: [(name: String, rows: Int)] = []
        for index in 0..<c.layerCount {
            let names = TensorManifest.Layer(index)
            if c.fusedQueryKeyValue { fused.append((names.queryKeyValue, c.qWidth + 2 * c.kvWidth)) }
            if c.fusedGateUp { fused.append((names.up, 2 * c.feedForwardWidth)) }
        }
        for (name, rows) in fused {
            guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
            guard tensor.dimensions == [c.embeddingWidth, rows] else {
                throw .tensorShape(name, expected: [c.embeddingWidth, rows], actual: tensor.dimensions)
            }
        }
    }

    /// Refuses a missing or unknown `tokenizer.ggml.model` and an unknown `tokenizer.ggml.pre`.
    public static func checkTokenizer(_ metadata: [String: GGUFValue]) throws(ModelError) {
        let modelKey = "tokenizer.ggml.model"
        guard let value = metadata[modelKey] else { throw .missingMetadata(modelKey) }
        guard let name = value.string else { throw .invalidMetadata(modelKey, "expected a string, got \(value)") }
        guard TokenizerModelKind(rawValue: name) != nil else {
            throw .unsupportedTokenizer(key: modelKey, name: name, supported: TokenizerModelKind.allCases.map(\.rawValue))
        }
        let preKey = "tokenizer.ggml.pre"
        if let value = metadata[preKey] {
            guard let pre = value.string else { throw .invalidMetadata(preKey, "expected a string, got \(value)") }
            guard PreTokenizer.recognizes(pre) else { throw .unsupportedTokenizer(key: preKey, name: pre, supported: []) }
        }
    }

    /// Refuses when any of `tensorNames` (in file order) is not in `consumed`, naming the first few.
    public static func checkAllConsumed(
        tensorNames: [String], consumed: Set<String>,
        architecture: String
    ) throws(ModelError) {
        let extra = tensorNames.filter { !consumed.contains($0) }
        guard extra.isEmpty else {
            throw .unconsumedTensors(
                architecture: architecture, names: Array(extra.prefix(namedTensorLimit)),
                count: extra.count)
        }
    }
}

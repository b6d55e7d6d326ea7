import GGUF
import Kernels
import Tokenizer

/// Whether Tandem can run a GGUF file exactly, decided before any weight is bound.
///
/// Tandem fails closed: a file it would run subtly wrong is refused with a ``ModelError`` that
/// names the reason. ``check(_:)`` refuses an unknown architecture, RoPE scaling type or
/// tokenizer, experts outside llama/qwen3moe/olmoe or of an unknown variant, sliding windows outside gemma2/gemma3 (through ``ModelConfiguration/init(file:)``), any tensor
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
        for tensor in file.tensors where tensor.name != ModelConfiguration.ropeFrequencyTensor {
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
        return configuration
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

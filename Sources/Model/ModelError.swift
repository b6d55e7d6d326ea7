import GGUF

/// Why a model could not be loaded or run. Every case names the key or tensor at fault.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case missingMetadata(String)
    case invalidMetadata(String, String)
    case missingTensor(String)
    case tensorShape(String, expected: [Int], actual: [Int])
    case unsupportedTensorType(String, GGMLType)
    case invalidBatch(String)
    /// `{arch}.rope.scaling.type` names a scaling Tandem does not implement (yarn, longrope, …).
    case unsupportedRoPEScaling(key: String, type: String)
    /// `tokenizer.ggml.model` (or `tokenizer.ggml.pre`) names a tokenizer Tandem does not implement.
    case unsupportedTokenizer(key: String, name: String, supported: [String])
    /// The file holds tensors the forward pass would not use: a variant of the architecture
    /// (extra norms, experts, biases) that Tandem would otherwise run silently wrong. Names the
    /// first few and counts all.
    case unconsumedTensors(architecture: String, names: [String], count: Int)
    /// The metadata asks for something the forward pass does not do (mixture of experts, a
    /// sliding attention window, …); the text says what.
    case unsupportedFeature(String)
    /// A tensor's values are unusable (e.g. a non-finite or non-positive RoPE frequency factor).
    case invalidTensorData(String, String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let name):
            let known = ModelConfiguration.Architecture.allCases.map(\.rawValue).joined(separator: ", ")
            return "unsupported model architecture '\(name)' (supported: \(known))"
        case .missingMetadata(let key): return "model metadata is missing '\(key)'"
        case .invalidMetadata(let key, let why): return "model metadata '\(key)' is invalid: \(why)"
        case .missingTensor(let name): return "model is missing tensor '\(name)'"
        case .tensorShape(let name, let expected, let actual):
            let show = { (dims: [Int]) in "[" + dims.map { $0 < 0 ? "*" : String($0) }.joined(separator: ", ") + "]" }
            return "tensor '\(name)' has shape \(show(actual)), expected \(show(expected))"
        case .unsupportedTensorType(let name, let type):
            return "tensor '\(name)' has type \(type), which Tandem cannot compute with"
        case .invalidBatch(let why): return "invalid batch: \(why)"
        case .unsupportedRoPEScaling(let key, let type):
            return "unsupported RoPE scaling type '\(type)' in '\(key)' (supported: "
                + RoPEScaling.supportedTypes.joined(separator: ", ") + ")"
        case .unsupportedTokenizer(let key, let name, let supported):
            let list = supported.isEmpty ? "" : " (supported: \(supported.joined(separator: ", ")))"
            return "unsupported tokenizer '\(name)' in '\(key)'\(list)"
        case .unconsumedTensors(let architecture, let names, let count):
            let shown = names.map { "'\($0)'" }.joined(separator: ", ")
            let more = count > names.count ? " and \(count - names.count) more" : ""
            return "unsupported model variant: \(count) tensor\(count == 1 ? "" : "s") that the \(architecture) "
                + "forward pass would not use (\(shown)\(more)); running it would give wrong results"
        case .unsupportedFeature(let what): return "unsupported model feature: \(what)"
        case .invalidTensorData(let name, let why): return "tensor '\(name)' is invalid: \(why)"
        }
    }
}

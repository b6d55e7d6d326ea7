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
        }
    }
}

import ArgumentParser
import GGUF
import Model

/// `tandem inspect FILE`: a GGUF file's metadata, a summary of its tensor table, and whether Tandem
/// can run it (the same check as loading, ``ModelSupport/check(_:)``).
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Print a GGUF file's metadata, a summary of its tensor table, and whether Tandem can run it."
    )

    @Argument(help: "Path to a GGUF file.")
    var file: String

    @Flag(help: "List every tensor, not only the per-type summary.")
    var tensors = false

    @Option(help: "Show at most this many elements of an array value.")
    var arrayPreview = 8

    func run() throws {
        let gguf: GGUFFile
        do { gguf = try GGUFFile(path: file) } catch { throw CLIError("\(file): \(error)") }
        print("file:       \(file)")
        print("version:    GGUF v\(gguf.version)")
        print("size:       \(formatBytes(gguf.fileSize))")
        print("alignment:  \(gguf.alignment)")
        print("supported:  \(support(gguf))")
        print("metadata:   \(gguf.metadataKeys.count) keys")
        let keyWidth = min(48, gguf.metadataKeys.map(\.count).max() ?? 0)
        for key in gguf.metadataKeys {
            guard let value = gguf[key] else { continue }
            print("  \(key.padding(toLength: keyWidth, withPad: " ", startingAt: 0))  \(render(value))")
        }

        print("tensors:    \(gguf.tensors.count), \(formatBytes(gguf.tensors.reduce(0) { $0 + $1.byteCount })) of data")
        var byType: [GGMLType: (count: Int, elements: Int, bytes: Int)] = [:]
        for tensor in gguf.tensors {
            let entry = byType[tensor.type] ?? (0, 0, 0)
            byType[tensor.type] = (entry.count + 1, entry.elements + tensor.elementCount, entry.bytes + tensor.byteCount)
        }
        for (type, entry) in byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            let bits = Double(entry.bytes * 8) / Double(max(entry.elements, 1))
            print(
                "  \(type.description.padding(toLength: 6, withPad: " ", startingAt: 0)) \(String(entry.count).leftPadded(4)) tensors  "
                    + "\(formatCount(entry.elements).leftPadded(8)) elements  \(formatBytes(entry.bytes).leftPadded(10))  "
                    + "\(String(format: "%.2f", bits)) bits/element" + (type.isSupported ? "" : "  (unsupported)"))
        }
        if tensors {
            for tensor in gguf.tensors {
                let shape = tensor.dimensions.map(String.init).joined(separator: " x ")
                print(
                    "  \(tensor.name.padding(toLength: 32, withPad: " ", startingAt: 0)) \(tensor.type.description.padding(toLength: 6, withPad: " ", startingAt: 0)) [\(shape)]"
                )
            }
        }
    }

    /// "yes (…)" with the architecture and RoPE scaling, or "no: " and the reason loading would fail.
    private func support(_ gguf: GGUFFile) -> String {
        let configuration: ModelConfiguration
        do { configuration = try ModelSupport.check(gguf) } catch { return "no: \(error)" }
        var rope = configuration.ropeScaling.summary
        if configuration.ropeScaling == .none, configuration.architecture == .llama,
            gguf.tensor(named: ModelConfiguration.ropeFrequencyTensor) != nil
        {
            rope = "per-frequency factors from rope_freqs.weight"
        }
        if case .longRoPE(let longRoPE) = configuration.ropeScaling {
            let set = longRoPE.usesLongFactors(contextLength: configuration.contextLength) ? "long" : "short"
            rope += ", \(set) factors at context \(configuration.contextLength)"
        }
        let features = configuration.featureSummary.isEmpty ? "" : ", \(configuration.featureSummary)"
        return "yes (\(configuration.architecture.rawValue), \(configuration.layerCount) layers, RoPE scaling: \(rope)\(features))"
    }

    private func render(_ value: GGUFValue) -> String {
        switch value {
        case .string(let s):
            let escaped = s.replacingOccurrences(of: "\n", with: "\\n")
            return escaped.count > 120 ? "\"\(escaped.prefix(117))…\" (\(s.count) chars)" : "\"\(escaped)\""
        case .array(let items):
            let shown = items.prefix(arrayPreview).map(render).joined(separator: ", ")
            return "[\(shown)\(items.count > arrayPreview ? ", …" : "")] (\(items.count) items)"
        case .bool(let b): return String(b)
        case .float32(let f): return String(f)
        case .float64(let f): return String(f)
        default: return value.int.map(String.init) ?? "\(value)"
        }
    }
}

import ArgumentParser
import Foundation
import GGUF
import Kernels
import Model
import ModelStore
import Tokenizer

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    @Option(
        name: .long, help: "Path to a GGUF model. Default: SmolLM2-135M-Instruct Q4_1, fetched on first use into $TANDEM_CACHE or ~/.cache/tandem.")
    var model: String?

    @Option(name: .long, help: "Compute threads (default: the CPUs this process may use, within its affinity and its cgroup's CPU limit).")
    var threads: Int?

    /// The model path, fetching the default model if none was given.
    func resolvedPath() throws -> String {
        if let model { return model }
        do {
            return try DefaultModel.resolve { line in standardError(line) }
        } catch {
            throw CLIError("\(error)")
        }
    }

    /// Opens the GGUF file (no weights are read yet).
    func openFile() throws -> GGUFFile {
        let path = try resolvedPath()
        do { return try GGUFFile(path: path) } catch { throw CLIError("\(path): \(error)") }
    }

    func loadTokenizer(_ file: GGUFFile) throws -> Tokenizer {
        do { return try Tokenizer(metadata: file.metadata) } catch { throw CLIError("tokenizer: \(error)") }
    }

    /// Binds the model's weights (repacking them on all threads) and pages in the matrices that stay in
    /// the memory map, with a progress bar on a terminal; logs the time to ready on standard error.
    func loadModel(_ file: GGUFFile) throws -> LlamaModel {
        let threadCount = threads ?? WorkerPool.processorCount
        guard threadCount >= 1, threadCount <= 1024 else { throw CLIError("--threads must be between 1 and 1024") }
        let start = Date()
        let model: LlamaModel
        do { model = try LlamaModel(file: file, threads: threadCount) } catch { throw CLIError("\(error)") }
        // Repacked matrices are in memory and their file pages released: touching them again would read
        // the file a second time and keep both copies resident.
        let mapped = model.fileBackedWeights
        let progress = ProgressBar(label: "Loading model", total: mapped.reduce(0) { $0 + $1.count }, unit: .bytes)
        var done = 0
        for bytes in mapped {
            pageIn(bytes)
            done += bytes.count
            progress.update(done)
        }
        progress.finish()
        standardError(
            String(
                format: "model ready in %.2f s (%.2f GB of weights per token, %d threads)", Date().timeIntervalSince(start),
                Double(model.weightBytesPerToken) / 1e9, threadCount))
        return model
    }

    /// Touches every page so the first forward pass does not stall on page faults.
    private func pageIn(_ bytes: UnsafeRawBufferPointer) {
        var checksum: UInt8 = 0
        var offset = 0
        while offset < bytes.count {
            checksum &+= bytes[offset]
            offset += 4096
        }
        withExtendedLifetime(checksum) {}
    }
}

/// Writes a line to standard error.
func standardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

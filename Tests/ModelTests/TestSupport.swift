import Foundation
import GGUF
import Kernels
import Model
import ModelStore

/// Where the committed and generated fixtures live.
enum Fixtures {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func json<T: Decodable>(_ relative: String, as type: T.Type) throws -> T {
        let data = try Data(contentsOf: url(relative))
        return try JSONDecoder().decode(T.self, from: data)
    }

    /// A generated synthetic model; fails with a hint if scripts/test.sh has not made it.
    static func generatedModel(_ name: String) throws -> GGUFFile {
        let path = url("generated/\(name).gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw FixtureMissing(path: path)
        }
        return try GGUFFile(path: path)
    }
}

struct FixtureMissing: Error, CustomStringConvertible {
    let path: String
    var description: String { "\(path) is missing: run scripts/test.sh (it regenerates the synthetic fixtures)" }
}

/// The default model, fetched through the same path as `tandem` (shared by all tests).
enum RealModel {
    static let file: Result<GGUFFile, any Error> = Result {
        try GGUFFile(path: ProcessInfo.processInfo.environment["TANDEM_MODEL"] ?? DefaultModel.resolve())
    }
    static let model: Result<LlamaModel, any Error> = Result { try LlamaModel(file: file.get()) }
}

/// Runs `tokens` through `model` one sequence, teacher-forced, and returns the logits of every position.
func logitsOfEveryPosition(
    _ model: LlamaModel, tokens: [Int32], chunk: Int = 64, precision: KVElementType = .float32
) throws -> [[Float]] {
    let blockSize = 16
    let blocks = (tokens.count + blockSize - 1) / blockSize
    let cache = model.makeKVCache(blockSize: blockSize, blockCount: blocks, precision: precision)
    // A shuffled block table: paging must not change results.
    let table = (0..<Int32(blocks)).reversed().map { $0 }
    var rows: [[Float]] = []
    var start = 0
    let vocabulary = model.configuration.vocabularySize
    while start < tokens.count {
        let end = min(start + chunk, tokens.count)
        var batch = ForwardBatch()
        batch.append(
            tokens: tokens[start..<end], firstPosition: start, blockTable: table, blockSize: blockSize,
            logitCount: end - start)
        try model.forward(batch, cache: cache) { logits in
            for r in 0..<(end - start) {
                rows.append(Array(logits[(r * vocabulary)..<((r + 1) * vocabulary)]))
            }
        }
        start = end
    }
    return rows
}

import Foundation
import GGUF

@testable import Tokenizer

/// Shared fixtures for the tokenizer tests.
enum Support {
    static let fixtureDirectory: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tokenizer")

    /// The SmolLM2 GGUF: $TANDEM_MODEL or ~/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf.
    static let modelPath: String? = {
        let env = ProcessInfo.processInfo.environment["TANDEM_MODEL"]
        let candidates = [env, NSHomeDirectory() + "/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf"].compactMap { $0 }
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }()

    static var modelAvailable: Bool { modelPath != nil }

    /// The SmolLM2 vocabulary read through the GGUF reader.
    static let smolVocabulary: TokenizerVocabulary? = {
        guard let path = modelPath, let file = try? GGUFFile(path: path) else { return nil }
        return try? TokenizerVocabulary(metadata: file.metadata)
    }()

    static let smolTokenizer: Tokenizer? = smolVocabulary.flatMap { try? Tokenizer(vocabulary: $0) }

    struct Case: Sendable {
        var text: String
        var ids: [Int32]
    }

    /// The UTF-8 of `text` without the bytes that have no byte-level token in `tokenizer`'s
    /// vocabulary: those are dropped by encoding, as llama.cpp drops them.
    static func representableBytes(_ text: String, _ tokenizer: Tokenizer) -> [UInt8] {
        text.utf8.filter { byte in
            guard let scalar = Unicode.Scalar(ByteLevel.scalarForByte[Int(byte)]) else { return false }
            return tokenizer.token(for: String(Character(scalar))) != nil
        }
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtureDirectory.appendingPathComponent(name))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    static func cases(_ raw: Any?) -> [Case] {
        guard let list = raw as? [[String: Any]] else { return [] }
        return list.compactMap { entry in
            guard let text = entry["text"] as? String, let ids = entry["ids"] as? [Int] else { return nil }
            return Case(text: text, ids: ids.map { Int32($0) })
        }
    }
}

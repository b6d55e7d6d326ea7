import Foundation
import GGUF
import Model
import Testing
import Tokenizer

@testable import Engine

/// A synthetic GGUF of `Tests/Fixtures/generated` (written by `scripts/test.sh`) and the greedy
/// reference the engine tests compare with.
enum SyntheticModel {
    struct FixtureMissing: Error, CustomStringConvertible {
        let path: String
        var description: String { "\(path) is missing: run scripts/test.sh (it regenerates the synthetic fixtures)" }
    }

    /// Loads `name`.gguf with two threads.
    static func load(_ name: String) throws -> (LlamaModel, Tokenizer) {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/generated/\(name).gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
        let file = try GGUFFile(path: path)
        return (try LlamaModel(file: file, threads: 2), try Tokenizer(metadata: file.metadata))
    }

    /// Greedy tokens of `prompt` computed one sequence at a time on one unsplit cache with every
    /// block in place.
    static func greedyReference(_ model: LlamaModel, prompt: [Int32], count: Int) throws -> [Int32] {
        let blockSize = 16
        let total = prompt.count + count
        let cache = model.makeKVCache(blockSize: blockSize, blockCount: (total + blockSize - 1) / blockSize, precision: .float16)
        let table = (0..<Int32(cache.blockCount)).map { $0 }
        var context = prompt
        var computed = 0
        var output: [Int32] = []
        while output.count < count {
            var batch = ForwardBatch()
            batch.append(
                tokens: context[computed...], firstPosition: computed, blockTable: table, blockSize: blockSize, logitCount: 1)
            let token = try model.forward(batch, cache: cache) { logits in
                Int32(logits.indices.max { logits[$0] < logits[$1] || (logits[$0] == logits[$1] && $0 > $1) } ?? 0)
            }
            computed = context.count
            context.append(token)
            output.append(token)
        }
        return output
    }

    /// The prompt that two of `expectGreedyGenerationsOfSharedPrompts`'s generations share.
    static let sharedPrompt: [Int32] = (0..<12).map { Int32(3 + $0 * 5) }

    /// Three 100-token greedy generations on `engine`, two of them sharing a prompt, each equal to
    /// `greedyReference`.
    static func expectGreedyGenerationsOfSharedPrompts(_ engine: Engine, model: LlamaModel) async throws {
        let prompts = [sharedPrompt, sharedPrompt, (0..<9).map { Int32(7 + $0 * 3) }]
        let requests = prompts.enumerated().map { index, prompt in
            GenerationRequest(id: "g\(index)", promptTokens: prompt, maxTokens: 100, ignoreEOS: true)
        }
        let streams = try requests.map { try engine.submit($0) }
        for (request, stream) in zip(requests, streams) {
            let result = await Engine.result(of: stream, id: request.id)
            #expect(result.finishReason == .length, "\(request.id)")
            #expect(result.tokenIDs == (try greedyReference(model, prompt: request.promptTokens, count: 100)), "\(request.id)")
        }
    }
}

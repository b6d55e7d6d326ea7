import Foundation
import GGUF
import Model
import Testing
import Tokenizer

@testable import Engine

/// The engine over the CPU device on the synthetic Mistral file (a window of 16 on both layers):
/// generations far longer than the KV pool run to their end with the blocks behind the window
/// freed and holes in their tables, and give the greedy tokens of the model run on a full table.
@Suite struct SlidingWindowEngineTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/generated/tiny-mistral.gguf").path

    struct FixtureMissing: Error, CustomStringConvertible {
        var description: String { "\(path) is missing: run scripts/test.sh (it regenerates the synthetic fixtures)" }
    }

    static let loaded: Result<(LlamaModel, Tokenizer), any Error> = Result {
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing() }
        let file = try GGUFFile(path: path)
        return (try LlamaModel(file: file, threads: 2), try Tokenizer(metadata: file.metadata))
    }

    /// Greedy tokens of `prompt` computed one sequence at a time with every block in place.
    private func reference(_ model: LlamaModel, prompt: [Int32], count: Int) throws -> [Int32] {
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

    @Test(arguments: [false, true])
    func longGenerationsInATinyPoolMatchTheFullCache(asynchronous: Bool) async throws {
        let (model, tokenizer) = try Self.loaded.get()
        #expect(model.configuration.windowOnEveryLayer == 16)
        var configuration = Engine.Configuration()
        configuration.asynchronous = asynchronous
        configuration.maxBatchTokens = 8
        configuration.maxSequences = 4
        var cache = CPUDevice.CacheConfiguration()
        cache.blockSize = 4
        cache.tokens = 48  // 12 blocks; each generation below spans 28 without the window
        let engine = Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
        defer { engine.shutdown() }
        let shared: [Int32] = (0..<12).map { Int32(3 + $0 * 5) }
        let prompts = [shared, shared, (0..<9).map { Int32(7 + $0 * 3) }]
        let requests = prompts.enumerated().map { index, prompt in
            GenerationRequest(id: "w\(index)", promptTokens: prompt, maxTokens: 100, ignoreEOS: true)
        }
        let streams = try requests.map { try engine.submit($0) }
        var results: [GenerationResult] = []
        for (request, stream) in zip(requests, streams) { results.append(await Engine.result(of: stream, id: request.id)) }
        for (request, result) in zip(requests, results) {
            #expect(result.finishReason == .length, "\(request.id)")
            #expect(result.tokenIDs == (try reference(model, prompt: request.promptTokens, count: 100)), "\(request.id)")
        }
        #expect(try await Shared.eventuallyEmpty(engine))
        #expect(engine.currentStatistics.prefixCacheHits > 0)
    }
}

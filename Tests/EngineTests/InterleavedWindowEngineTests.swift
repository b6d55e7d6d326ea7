import Foundation
import GGUF
import Model
import Testing
import Tokenizer

@testable import Engine

/// The engine over the CPU device on the synthetic Gemma 3 file (layers 0-4 local with a window of
/// 8, layer 5 global) with a split cache: the local layers' pool holds 8 blocks of 4 where the
/// three generations span 28 each, the global pool holds every position. The blocks behind the
/// local window are released as they advance, and the greedy tokens are those of the model on one
/// unsplit cache with every block in place.
@Suite struct InterleavedWindowEngineTests {
    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/generated/tiny-gemma3.gguf").path

    struct FixtureMissing: Error, CustomStringConvertible {
        var description: String { "\(path) is missing: run scripts/test.sh (it regenerates the synthetic fixtures)" }
    }

    static let loaded: Result<(LlamaModel, Tokenizer), any Error> = Result {
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing() }
        let file = try GGUFFile(path: path)
        return (try LlamaModel(file: file, threads: 2), try Tokenizer(metadata: file.metadata))
    }

    /// Greedy tokens of `prompt` computed one sequence at a time on an unsplit cache.
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
    func longGenerationsInASmallLocalPoolMatchTheFullCache(asynchronous: Bool) async throws {
        let (model, tokenizer) = try Self.loaded.get()
        #expect(model.configuration.interleavedWindow == 8)
        var configuration = Engine.Configuration()
        configuration.asynchronous = asynchronous
        configuration.maxBatchTokens = 8
        configuration.maxSequences = 4
        var cache = CPUDevice.CacheConfiguration()
        cache.blockSize = 4
        cache.tokens = 3 * 112
        cache.localTokens = 32  // 8 blocks: one sequence holds at most (8 + 8 - 1) / 4 + 1 = 5
        let engine = Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
        defer { engine.shutdown() }
        #expect(engine.cacheLayout.localPool == KVCacheLayout.LocalPool(blockCount: 8, window: 8))
        #expect(engine.cacheLayout.blockCount == 84)
        #expect(engine.maxSequenceLength == 336)
        let shared: [Int32] = (0..<12).map { Int32(3 + $0 * 5) }
        let prompts = [shared, shared, (0..<9).map { Int32(7 + $0 * 3) }]
        let requests = prompts.enumerated().map { index, prompt in
            GenerationRequest(id: "g\(index)", promptTokens: prompt, maxTokens: 100, ignoreEOS: true)
        }
        let streams = try requests.map { try engine.submit($0) }
        var results: [GenerationResult] = []
        for (request, stream) in zip(requests, streams) { results.append(await Engine.result(of: stream, id: request.id)) }
        for (request, result) in zip(requests, results) {
            #expect(result.finishReason == .length, "\(request.id)")
            #expect(result.tokenIDs == (try reference(model, prompt: request.promptTokens, count: 100)), "\(request.id)")
        }
        #expect(try await Shared.eventuallyEmpty(engine))
        #expect(engine.currentStatistics.localKVCacheUsage == 0)
    }

    /// Without the split (`splitsLocalLayers` false) the cache is one pool, as before: the same tokens.
    @Test func anUnsplitCacheGivesTheSameTokens() async throws {
        let (model, tokenizer) = try Self.loaded.get()
        var cache = CPUDevice.CacheConfiguration()
        cache.blockSize = 4
        cache.tokens = 112
        cache.splitsLocalLayers = false
        let engine = Engine(model: model, tokenizer: tokenizer, cache: cache)
        defer { engine.shutdown() }
        #expect(engine.cacheLayout.localPool == nil)
        let prompt: [Int32] = (0..<12).map { Int32(3 + $0 * 5) }
        let request = GenerationRequest(id: "u", promptTokens: prompt, maxTokens: 100, ignoreEOS: true)
        let result = await Engine.result(of: try engine.submit(request), id: request.id)
        #expect(result.tokenIDs == (try reference(model, prompt: prompt, count: 100)))
    }

    /// The sizing rule: from a memory budget the local pool gets `localTokens` (at most its layers'
    /// share of an unsplit cache) and the global pool the memory it leaves. tiny-gemma3 (f16, 64 key
    /// values per layer: 256 bytes per token and layer) in 1 MiB: 682 tokens unsplit; with 64 local
    /// tokens (81,920 bytes over 5 layers) the global layer gets 3776 tokens.
    @Test func aMemoryBudgetGoesToTheGlobalPoolWhatTheLocalOneLeaves() throws {
        let (model, tokenizer) = try Self.loaded.get()
        var cache = CPUDevice.CacheConfiguration()
        cache.memoryMiB = 1
        cache.localTokens = 64
        let split = CPUDevice(model: model, cache: cache)
        defer { split.shutdown() }
        #expect(split.cacheLayout.blockCount == 236 && split.cacheLayout.localPool?.blockCount == 4)
        #expect(split.cache.byteCount <= 1 << 20)
        cache.localTokens = nil  // the unsplit share: both pools as large as one unsplit pool
        let even = CPUDevice(model: model, cache: cache)
        defer { even.shutdown() }
        #expect(even.cacheLayout.blockCount == 43 && even.cacheLayout.localPool?.blockCount == 43)
        cache.splitsLocalLayers = false
        let unsplit = CPUDevice(model: model, cache: cache)
        defer { unsplit.shutdown() }
        #expect(unsplit.cacheLayout.blockCount == 43 && unsplit.cacheLayout.localPool == nil)
        #expect(even.cache.byteCount == unsplit.cache.byteCount)
        // A request may be as long as the global pool when one sequence's window fits the local pool.
        var configuration = Engine.Configuration()
        configuration.maxBatchTokens = 8
        cache.splitsLocalLayers = true
        cache.localTokens = 64
        let engine = Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
        defer { engine.shutdown() }
        #expect(engine.maxSequenceLength == min(model.configuration.contextLength, 236 * 16))
    }
}

import Foundation
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
    static let loaded = Result { try SyntheticModel.load("tiny-gemma3") }

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
        try await SyntheticModel.expectGreedyGenerationsOfSharedPrompts(engine, model: model)
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
        #expect(result.tokenIDs == (try SyntheticModel.greedyReference(model, prompt: prompt, count: 100)))
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

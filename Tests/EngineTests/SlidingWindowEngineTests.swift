import Foundation
import Model
import Testing
import Tokenizer

@testable import Engine

/// The engine over the CPU device on the synthetic Mistral file (a window of 16 on both layers):
/// generations far longer than the KV pool run to their end with the blocks behind the window
/// freed and holes in their tables, and give the greedy tokens of the model run on a full table.
@Suite struct SlidingWindowEngineTests {
    static let loaded = Result { try SyntheticModel.load("tiny-mistral") }

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
        // A first request leaves the shared prompt's blocks in the prefix cache, and nothing takes
        // them while the engine is idle, so the generations below hit them whenever they arrive.
        // Without it the hit depended on timing: on a busy machine the first generation could run
        // far enough past its prompt, before the second arrived, to reuse the prompt's blocks.
        let primer = GenerationRequest(id: "primer", promptTokens: SyntheticModel.sharedPrompt, maxTokens: 1, ignoreEOS: true)
        _ = await Engine.result(of: try engine.submit(primer), id: primer.id)
        try await SyntheticModel.expectGreedyGenerationsOfSharedPrompts(engine, model: model)
        #expect(try await Shared.eventuallyEmpty(engine))
        #expect(engine.currentStatistics.prefixCacheHits > 0)
    }
}

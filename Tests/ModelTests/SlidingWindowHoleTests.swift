import Kernels
import Model
import Testing

/// Block tables with holes (-1) where the engine released the blocks behind a sliding window: the
/// forward pass never reads them, so the logits are those of the full table; a hole a token would
/// attend to, or any hole on a model with a global layer, is refused before anything is touched.
@Suite struct SlidingWindowHoleTests {
    private static let blockSize = 4

    /// Computes `tokens[range]` of one sequence through `table` and returns every row's logits.
    private func logits(
        _ model: LlamaModel, cache: KVCache, tokens: [Int32], range: Range<Int>, table: [Int32]
    ) throws -> [Float] {
        var batch = ForwardBatch()
        batch.append(
            tokens: tokens[range], firstPosition: range.lowerBound, blockTable: table, blockSize: Self.blockSize,
            logitCount: range.count)
        return try model.forward(batch, cache: cache) { Array($0) }
    }

    private func tokens(_ model: LlamaModel, count: Int) -> [Int32] {
        (0..<count).map { Int32(($0 * 7 + 3) % model.configuration.vocabularySize) }
    }

    @Test func holesBehindTheWindowGiveTheSameLogits() throws {
        let model = try LlamaModel(file: Fixtures.generatedModel("tiny-mistral"), threads: 2)
        let window = try #require(model.configuration.windowOnEveryLayer)
        #expect(window == 16)
        let tokens = tokens(model, count: 41)
        let cache = model.makeKVCache(blockSize: Self.blockSize, blockCount: 11)
        let table = (0..<Int32(11)).reversed().map { $0 }
        _ = try logits(model, cache: cache, tokens: tokens, range: 0..<36, table: table)
        let full = try logits(model, cache: cache, tokens: tokens, range: 36..<41, table: table)
        // Position 36 attends from 21: blocks 0-4 (positions 0-19) are read by no token of the chunk.
        var holed = table
        for block in 0..<5 { holed[block] = -1 }
        let withHoles = try logits(model, cache: cache, tokens: tokens, range: 36..<41, table: holed)
        #expect(withHoles == full)
    }

    @Test func aHoleInsideTheWindowIsRefused() throws {
        let model = try LlamaModel(file: Fixtures.generatedModel("tiny-mistral"), threads: 2)
        let tokens = tokens(model, count: 41)
        let cache = model.makeKVCache(blockSize: Self.blockSize, blockCount: 11)
        let table = (0..<Int32(11)).map { $0 }
        _ = try logits(model, cache: cache, tokens: tokens, range: 0..<36, table: table)
        // Block 5 holds positions 20-23; position 36 attends to 21.
        var holed = table
        for block in 0...5 { holed[block] = -1 }
        #expect(throws: ModelError.self) { _ = try logits(model, cache: cache, tokens: tokens, range: 36..<41, table: holed) }
    }

    /// Gemma 3 interleaves global layers, which attend to every position: no hole is allowed.
    @Test func aModelWithAGlobalLayerRefusesEveryHole() throws {
        let model = try LlamaModel(file: Fixtures.generatedModel("tiny-gemma3"), threads: 2)
        #expect(model.configuration.slidingWindow > 0)
        #expect(model.configuration.windowOnEveryLayer == nil)
        let count = model.configuration.slidingWindow + 3 * Self.blockSize
        let tokens = tokens(model, count: count)
        let blocks = (count + Self.blockSize - 1) / Self.blockSize
        let cache = model.makeKVCache(blockSize: Self.blockSize, blockCount: blocks)
        var table = (0..<Int32(blocks)).map { $0 }
        _ = try logits(model, cache: cache, tokens: tokens, range: 0..<count - 1, table: table)
        table[0] = -1
        #expect(throws: ModelError.self) { _ = try logits(model, cache: cache, tokens: tokens, range: count - 1..<count, table: table) }
    }
}

import Kernels
import Model
import Testing

/// Block tables with holes (-1) where the engine released the blocks behind a sliding window: the
/// forward pass never reads them, so the logits are those of the full table; a hole a token would
/// attend to, or any hole on a model with a global layer, is refused before anything is touched.
/// With a split cache (Gemma 2/3) the local layers' own table may hold holes behind their window;
/// the global table none.
@Suite struct SlidingWindowHoleTests {
    private static let blockSize = 4

    /// Computes `tokens[range]` of one sequence through `table` (and `localTable` on a split cache)
    /// and returns every row's logits.
    private func logits(
        _ model: LlamaModel, cache: KVCache, tokens: [Int32], range: Range<Int>, table: [Int32], localTable: [Int32]? = nil
    ) throws -> [Float] {
        var batch = ForwardBatch()
        batch.append(
            tokens: tokens[range], firstPosition: range.lowerBound, blockTable: table, localBlockTable: localTable,
            blockSize: Self.blockSize, logitCount: range.count)
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

    /// Gemma 3 and Gemma 2 with a split cache: the local layers (gemma3: 0-4; gemma2: 0 and 2;
    /// window 8) keep their keys and values in a pool of their own, read through a second table
    /// whose blocks behind the window are holes; the global layers read every position through the
    /// first. The logits equal, bit for bit, those of one unsplit cache with every block in place,
    /// for the prefill and for every chunk after the window has moved on; the local pool here has 4
    /// blocks where the context needs 11.
    @Test(arguments: ["tiny-gemma3", "tiny-gemma2"])
    func aSplitCacheWithHolesBehindTheLocalWindowGivesTheFullCacheLogits(file: String) throws {
        let model = try LlamaModel(file: Fixtures.generatedModel(file), threads: 2)
        #expect(model.configuration.interleavedWindow == 8)
        let tokens = tokens(model, count: 44)
        let unsplit = model.makeKVCache(blockSize: Self.blockSize, blockCount: 11)
        let table = (0..<Int32(11)).map { $0 }
        var expected: [[Float]] = []
        for range in [0..<4, 4..<12, 12..<20, 20..<28, 28..<36, 36..<44] {
            expected.append(try logits(model, cache: unsplit, tokens: tokens, range: range, table: table))
        }

        let split = model.makeKVCache(blockSize: Self.blockSize, blockCount: 11, localBlockCount: 4)
        let expectedLocal = file == "tiny-gemma3" ? [true, true, true, true, true, false] : [true, false, true, false]
        #expect(split.isSplit && split.localLayers == expectedLocal)
        let global = (0..<Int32(11)).reversed().map { $0 }
        // The local table reuses 4 blocks round robin: a chunk of 8 from position p attends locally
        // from p - 7, so blocks before (p - 7) / 4 are holes and their blocks are rewritten.
        var got: [[Float]] = []
        for range in [0..<4, 4..<12, 12..<20, 20..<28, 28..<36, 36..<44] {
            let firstHeld = max(range.lowerBound - 7, 0) / Self.blockSize
            let local = (0..<11).map { $0 < firstHeld ? Int32(-1) : Int32(($0 * 3) % 4) }
            got.append(try logits(model, cache: split, tokens: tokens, range: range, table: global, localTable: local))
        }
        #expect(got == expected)
    }

    @Test func aSplitCacheRefusesHolesItWouldRead() throws {
        let model = try LlamaModel(file: Fixtures.generatedModel("tiny-gemma3"), threads: 2)
        let tokens = tokens(model, count: 24)
        let split = model.makeKVCache(blockSize: Self.blockSize, blockCount: 6, localBlockCount: 6)
        let table = (0..<Int32(6)).map { $0 }
        _ = try logits(model, cache: split, tokens: tokens, range: 0..<20, table: table, localTable: table)
        // Position 20 attends locally from 13: block 3 (positions 12-15) must be there; blocks 0-2 may be holes.
        var local = table
        for block in 0..<3 { local[block] = -1 }
        _ = try logits(model, cache: split, tokens: tokens, range: 20..<21, table: table, localTable: local)
        local[3] = -1
        #expect(throws: ModelError.self) { _ = try logits(model, cache: split, tokens: tokens, range: 21..<22, table: table, localTable: local) }
        // The global layer reads every position: no hole in the global table.
        var global = table
        global[0] = -1
        #expect(throws: ModelError.self) { _ = try logits(model, cache: split, tokens: tokens, range: 21..<22, table: global, localTable: table) }
        // A split cache needs the local table; an unsplit one refuses it.
        #expect(throws: ModelError.self) { _ = try logits(model, cache: split, tokens: tokens, range: 21..<22, table: table) }
        let unsplit = model.makeKVCache(blockSize: Self.blockSize, blockCount: 6)
        #expect(throws: ModelError.self) { _ = try logits(model, cache: unsplit, tokens: tokens, range: 0..<1, table: table, localTable: table) }
    }
}

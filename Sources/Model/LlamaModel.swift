import GGUF
import Kernels

/// A Llama-family transformer (llama, qwen2) bound to a GGUF file, with one `forward` over a
/// ragged batch.
///
/// The model is driven by one thread at a time (the device's compute thread); its work buffers
/// are reused between calls. Compute is spread over the cores by the worker pool.
public final class LlamaModel: @unchecked Sendable {
    public let configuration: ModelConfiguration
    public let file: GGUFFile
    let weights: ModelWeights
    public let pool: WorkerPool
    private var workspace = Workspace()
    private let scratch = MatmulScratch()

    /// Binds `file`'s tensors, checking every name, shape and type.
    public init(file: GGUFFile, threads: Int = WorkerPool.processorCount) throws(ModelError) {
        self.file = file
        configuration = try ModelConfiguration(file: file)
        weights = try ModelWeights(file: file, configuration: configuration)
        pool = WorkerPool(threads: threads)
    }

    /// Creates a KV cache shaped for this model.
    public func makeKVCache(blockSize: Int = 16, blockCount: Int, precision: KVCache.Precision = .f32) -> KVCache {
        KVCache(layerCount: configuration.layerCount, kvWidth: configuration.kvWidth, blockSize: blockSize,
                blockCount: blockCount, precision: precision)
    }

    /// Runs the batch through the model, writing each token's keys and values into `cache`, and
    /// calls `body` with the logits of the sequences that want them (one row of
    /// `vocabularySize` values per such sequence, in batch order). The buffer is reused by the
    /// next call.
    public func forward<R>(_ batch: ForwardBatch, cache: KVCache,
                           _ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        try validate(batch, cache: cache)
        let c = configuration
        let n = batch.tokens.count
        let rows = batch.logitRowCount
        workspace.reserve(tokens: n, logitRows: rows, configuration: c)
        let w = workspace

        // Embedding.
        for (i, token) in batch.tokens.enumerated() {
            weights.embed(token, width: c.embeddingWidth, into: w.x + i * c.embeddingWidth)
        }

        let attentionSequences = batch.sequences.map {
            AttentionSequence(tokenStart: $0.tokenStart, tokenCount: $0.tokenCount, firstPosition: $0.firstPosition)
        }
        try batch.positions.withUnsafeBufferPointer { positions in
            try batch.slots.withUnsafeBufferPointer { slots in
                try withBlockTables(batch.sequences) { blockTables in
                    for (index, layer) in weights.layers.enumerated() {
                        try runLayer(layer, index: index, tokens: n, positions: positions, slots: slots,
                                     sequences: attentionSequences, blockTables: blockTables, cache: cache)
                    }
                }
            }
        }

        // Final norm and output head, only for the rows that are sampled.
        var row = 0
        for sequence in batch.sequences where sequence.wantsLogits {
            let last = sequence.tokenStart + sequence.tokenCount - 1
            (w.normed + row * c.embeddingWidth).update(from: w.x + last * c.embeddingWidth, count: c.embeddingWidth)
            row += 1
        }
        weights.outputNorm.withUnsafeBufferPointer { norm in
            rmsNorm(w.normed, weight: norm.baseAddress!, epsilon: c.rmsNormEpsilon, rows: rows,
                    width: c.embeddingWidth, output: w.normed)
        }
        matmul(weights.output, input: w.normed, tokens: rows, output: w.logits, pool: pool, scratch: scratch)
        return try body(UnsafeMutableBufferPointer(start: w.logits, count: rows * c.vocabularySize))
    }

    private func runLayer(_ layer: LayerWeights, index: Int, tokens n: Int, positions: UnsafeBufferPointer<Int32>,
                          slots: UnsafeBufferPointer<Int32>, sequences: [AttentionSequence],
                          blockTables: [UnsafePointer<Int32>], cache: KVCache) throws {
        let c = configuration
        let w = workspace
        let width = c.embeddingWidth

        layer.attentionNorm.withUnsafeBufferPointer {
            rmsNorm(w.x, weight: $0.baseAddress!, epsilon: c.rmsNormEpsilon, rows: n, width: width, output: w.normed)
        }
        matmul(layer.query, input: w.normed, tokens: n, output: w.q, pool: pool, scratch: scratch)
        matmul(layer.key, input: w.normed, tokens: n, output: w.k, pool: pool, scratch: scratch)
        matmul(layer.value, input: w.normed, tokens: n, output: w.v, pool: pool, scratch: scratch)
        if let bias = layer.queryBias { addBias(bias, to: w.q, rows: n) }
        if let bias = layer.keyBias { addBias(bias, to: w.k, rows: n) }
        if let bias = layer.valueBias { addBias(bias, to: w.v, rows: n) }

        let rope = RoPE(base: c.ropeBase, dimensions: c.ropeDimensions, headDimension: c.headDimension, neox: c.ropeNeoX)
        rope.apply(w.q, heads: c.headCount, positions: positions.baseAddress!, tokens: n)
        rope.apply(w.k, heads: c.kvHeadCount, positions: positions.baseAddress!, tokens: n)

        let keys = cache.keys(layer: index)
        let values = cache.values(layer: index)
        writeKV(keys: w.k, values: w.v, slots: slots.baseAddress!, tokens: n, kvWidth: c.kvWidth,
                keyCache: keys, valueCache: values, precision: cache.precision)
        pagedAttention(q: w.q, output: w.attention, sequences: sequences, blockTables: blockTables,
                       keyCache: keys, valueCache: values, blockSize: cache.blockSize, precision: cache.precision,
                       headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDimension: c.headDimension, pool: pool)
        matmul(layer.attentionOutput, input: w.attention, tokens: n, output: w.normed, pool: pool, scratch: scratch)
        add(w.normed, into: w.x, count: n * width)

        layer.feedForwardNorm.withUnsafeBufferPointer {
            rmsNorm(w.x, weight: $0.baseAddress!, epsilon: c.rmsNormEpsilon, rows: n, width: width, output: w.normed)
        }
        matmul(layer.gate, input: w.normed, tokens: n, output: w.gate, pool: pool, scratch: scratch)
        matmul(layer.up, input: w.normed, tokens: n, output: w.up, pool: pool, scratch: scratch)
        siluMul(gate: w.gate, up: w.up, count: n * c.feedForwardWidth, output: w.gate)
        matmul(layer.down, input: w.gate, tokens: n, output: w.normed, pool: pool, scratch: scratch)
        add(w.normed, into: w.x, count: n * width)
    }

    private func addBias(_ bias: [Float], to x: UnsafeMutablePointer<Float>, rows: Int) {
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows { add(b.baseAddress!, into: x + r * b.count, count: b.count) }
        }
    }

    /// Checks every index in the batch before any memory is touched.
    private func validate(_ batch: ForwardBatch, cache: KVCache) throws(ModelError) {
        let n = batch.tokens.count
        guard n > 0 else { throw .invalidBatch("no tokens") }
        guard batch.positions.count == n, batch.slots.count == n else {
            throw .invalidBatch("positions/slots do not match the token count")
        }
        guard cache.layerCount == configuration.layerCount, cache.kvWidth == configuration.kvWidth else {
            throw .invalidBatch("KV cache shape does not match the model")
        }
        for token in batch.tokens where token < 0 || Int(token) >= configuration.vocabularySize {
            throw .invalidBatch("token id \(token) outside the vocabulary (0..<\(configuration.vocabularySize))")
        }
        for slot in batch.slots where slot < 0 || Int(slot) >= cache.capacity {
            throw .invalidBatch("KV slot \(slot) outside the cache (0..<\(cache.capacity))")
        }
        var expectedStart = 0
        for s in batch.sequences {
            guard s.tokenStart == expectedStart, s.tokenCount > 0 else { throw .invalidBatch("sequences are not contiguous") }
            expectedStart += s.tokenCount
            let end = s.firstPosition + s.tokenCount
            guard s.firstPosition >= 0, end <= configuration.contextLength else {
                throw .invalidBatch("positions \(s.firstPosition)..<\(end) exceed the context length \(configuration.contextLength)")
            }
            guard (end + cache.blockSize - 1) / cache.blockSize <= s.blockTable.count else {
                throw .invalidBatch("block table too short for \(end) positions")
            }
            for block in s.blockTable where block < 0 || Int(block) >= cache.blockCount {
                throw .invalidBatch("block \(block) outside the cache (0..<\(cache.blockCount))")
            }
            for i in 0..<s.tokenCount where batch.positions[s.tokenStart + i] != Int32(s.firstPosition + i) {
                throw .invalidBatch("positions of a sequence must be consecutive")
            }
        }
        guard expectedStart == n else { throw .invalidBatch("sequences do not cover the tokens") }
    }
}

/// Calls `body` with stable pointers to every sequence's block table.
private func withBlockTables<R>(_ sequences: [ForwardBatch.Sequence],
                                _ body: ([UnsafePointer<Int32>]) throws -> R) rethrows -> R {
    let total = sequences.reduce(0) { $0 + $1.blockTable.count }
    let flat = UnsafeMutablePointer<Int32>.allocate(capacity: max(total, 1))
    defer { flat.deallocate() }
    var pointers: [UnsafePointer<Int32>] = []
    pointers.reserveCapacity(sequences.count)
    var offset = 0
    for s in sequences {
        s.blockTable.withUnsafeBufferPointer { (flat + offset).update(from: $0.baseAddress!, count: $0.count) }
        pointers.append(UnsafePointer(flat + offset))
        offset += s.blockTable.count
    }
    return try body(pointers)
}

/// Activation buffers of one forward pass, grown to the largest batch seen.
private struct Workspace {
    var x: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var normed: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var q: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var k: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var v: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var attention: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var gate: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var up: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    var logits: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    private var tokenCapacity = 0
    private var logitCapacity = 0

    mutating func reserve(tokens: Int, logitRows: Int, configuration c: ModelConfiguration) {
        if tokens > tokenCapacity {
            let count = max(tokens, tokenCapacity * 2)
            let width = max(c.embeddingWidth, c.qWidth)
            for buffer in [x, normed, q, k, v, attention, gate, up] { buffer.deallocate() }
            x = .allocate(capacity: count * c.embeddingWidth)
            normed = .allocate(capacity: count * width)
            q = .allocate(capacity: count * c.qWidth)
            k = .allocate(capacity: count * c.kvWidth)
            v = .allocate(capacity: count * c.kvWidth)
            attention = .allocate(capacity: count * c.qWidth)
            gate = .allocate(capacity: count * c.feedForwardWidth)
            up = .allocate(capacity: count * c.feedForwardWidth)
            tokenCapacity = count
        }
        if logitRows > logitCapacity {
            logits.deallocate()
            logitCapacity = max(logitRows, logitCapacity * 2)
            logits = .allocate(capacity: logitCapacity * c.vocabularySize)
        }
    }
}

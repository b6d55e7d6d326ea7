import Foundation
import GGUF
import Kernels

/// A decoder-only transformer of the families Tandem runs (llama, qwen2, qwen3, gemma2, gemma3, phi3,
/// and the mixtures of experts: Mixtral-style llama, qwen3moe, olmoe) bound to
/// a GGUF file, with one `forward` over a ragged batch. The families differ only in switches of
/// ``ModelConfiguration`` (biases, query/key norms, post-norms, activation, embedding scale,
/// sliding-window layers, soft-capping, experts), applied at their place in the layer.
///
/// Calls to `forward` are serialized (its work buffers are reused between calls); compute within
/// a call is spread over the cores by the worker pool.
///
/// `@unchecked Sendable`: weights are immutable after load; the work buffers are touched only by the
/// serialized `forward` (one device thread) and its worker-pool jobs, on disjoint ranges.
public final class LlamaModel: @unchecked Sendable {
    public let configuration: ModelConfiguration
    public let file: GGUFFile
    let weights: ModelWeights
    public let pool: WorkerPool
    private var workspace = Workspace()
    /// Buffers of the mixture-of-experts layers (untouched by dense models).
    private let expertWorkspace = ExpertWorkspace()
    private let scratch = MatmulScratch()
    private let rope: RoPETable
    /// The sliding-window layers' RoPE (gemma3: its own base, no scaling), or nil.
    private let localRope: RoPETable?
    private let lock = NSLock()

    /// Binds `file`'s tensors, checking every name, shape and type.
    ///
    /// Fails closed: a file ``ModelSupport/check(_:)`` refuses (unknown architecture, RoPE scaling
    /// or tokenizer, experts, a tensor the forward pass would not use) throws before any weight is
    /// bound, and the names actually bound are checked against the file's tensor table again after.
    ///
    /// - Parameter contextLength: the context size to run with, at most the file's
    ///   `context_length` (nil: the file's). Like llama.cpp's `n_ctx`, it decides which LongRoPE
    ///   factors a Phi-3 file uses (the long ones when it exceeds the original context length).
    public init(file: GGUFFile, threads: Int = WorkerPool.processorCount, contextLength: Int? = nil) throws(ModelError) {
        self.file = file
        var configuration = try ModelSupport.check(file)
        if let contextLength {
            guard contextLength > 0 else { throw .invalidBatch("context length \(contextLength) must be positive") }
            configuration.contextLength = min(configuration.contextLength, contextLength)
        }
        self.configuration = configuration
        let pool = WorkerPool(threads: threads)
        weights = try ModelWeights(file: file, configuration: configuration, pool: pool)
        try ModelSupport.checkAllConsumed(
            tensorNames: file.tensors.map(\.name), consumed: weights.boundNames,
            architecture: configuration.architecture.rawValue)
        let base = Double(configuration.ropeBase)
        let maxPositions = min(configuration.contextLength, 8192)
        var fileFactors = weights.ropeFrequencyFactors
        if case .longRoPE(let longRoPE) = configuration.ropeScaling, let factors = weights.longRoPEFactors {
            // llama.cpp's choice, by the context this model runs with (see LongRoPEParameters).
            fileFactors = longRoPE.usesLongFactors(contextLength: configuration.contextLength) ? factors.long : factors.short
        }
        rope = RoPETable(
            base: base, ropeDims: configuration.ropeDimensions, maxPositions: maxPositions,
            frequencyDivisors: try configuration.ropeScaling.frequencyDivisors(
                base: base, ropeDimensions: configuration.ropeDimensions,
                fileFactors: fileFactors),
            magnitude: configuration.ropeScaling.magnitude)
        localRope = configuration.localRopeBase.map {
            RoPETable(base: Double($0), ropeDims: configuration.ropeDimensions, maxPositions: maxPositions)
        }
        self.pool = pool
    }

    deinit { workspace.deallocate() }

    /// Creates a KV cache shaped for this model. With `localBlockCount`, on a model that interleaves
    /// local and global layers (`ModelConfiguration.interleavedWindow`), the local layers get their
    /// own pool of that many blocks (a split cache: batches then carry local block tables).
    public func makeKVCache(
        blockSize: Int = 16, blockCount: Int, localBlockCount: Int? = nil, precision: KVElementType = .float32
    ) -> KVCache {
        let split = configuration.interleavedWindow != nil ? localBlockCount : nil
        return KVCache(
            layerCount: configuration.layerCount, kvHeadCount: configuration.kvHeadCount,
            headDimension: configuration.headDimension, blockSize: blockSize, blockCount: blockCount,
            precision: precision, localLayers: configuration.slidingWindowLayers, localBlockCount: split)
    }

    /// Runs the batch through the model, writing each token's keys and values into `cache`, and
    /// calls `body` with the logits that the sequences want (one row of `vocabularySize` values per
    /// wanted position, in batch order). The buffer is reused by the next call.
    public func forward<R>(
        _ batch: ForwardBatch, cache: KVCache,
        _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
    ) throws -> R {
        try validate(batch, cache: cache)
        lock.lock()
        defer { lock.unlock() }
        let c = configuration
        let n = batch.tokens.count
        let rows = batch.logitRowCount
        workspace.reserve(tokens: n, logitRows: rows, configuration: c)
        let w = workspace

        // Embedding.
        for (i, token) in batch.tokens.enumerated() {
            weights.embed(token, width: c.embeddingWidth, into: w.x + i * c.embeddingWidth)
            if c.embeddingScale != 1 { multiplyInPlace(w.x + i * c.embeddingWidth, count: c.embeddingWidth, by: c.embeddingScale) }
        }

        // With a split cache the local layers write and read through the local tables and slots.
        let localSlots = cache.isSplit ? batch.localSlots : batch.slots
        batch.positions.withUnsafeBufferPointer { positions in
            batch.slots.withUnsafeBufferPointer { slots in
                localSlots.withUnsafeBufferPointer { localSlots in
                    withAttentionSequences(batch.sequences, \.blockTable) { global in
                        withAttentionSequences(batch.sequences, { cache.isSplit ? $0.localBlockTable ?? [] : $0.blockTable }) { local in
                            for (index, layer) in weights.layers.enumerated() {
                                let inLocalPool = cache.localLayers[index]
                                runLayer(
                                    layer, index: index, tokens: n, positions: positions.baseAddress!,
                                    slots: inLocalPool ? localSlots.baseAddress! : slots.baseAddress!,
                                    sequences: inLocalPool ? local : global, kv: cache.layer(index))
                            }
                        }
                    }
                }
            }
        }

        // Final norm and output head, only for the rows that are sampled.
        var row = 0
        for sequence in batch.sequences where sequence.logitCount > 0 {
            let first = sequence.tokenStart + sequence.tokenCount - sequence.logitCount
            (w.normed + row * c.embeddingWidth).update(
                from: w.x + first * c.embeddingWidth,
                count: sequence.logitCount * c.embeddingWidth)
            row += sequence.logitCount
        }
        weights.outputNorm.withUnsafeBufferPointer { norm in
            rmsNorm(
                w.normed, weight: norm.baseAddress!, eps: c.rmsNormEpsilon, rows: rows,
                width: c.embeddingWidth, output: w.normed)
        }
        matmul(weights.output, input: w.normed, tokens: rows, output: w.logits, pool: pool, scratch: scratch)
        if let cap = c.finalLogitSoftCap { softCap(w.logits, count: rows * c.vocabularySize, cap: cap) }
        return try body(UnsafeMutableBufferPointer(start: w.logits, count: rows * c.vocabularySize))
    }

    private func runLayer(
        _ layer: LayerWeights, index: Int, tokens n: Int, positions: UnsafePointer<Int32>,
        slots: UnsafePointer<Int32>, sequences: UnsafeBufferPointer<AttentionSequence>,
        kv: PagedKVLayer
    ) {
        let c = configuration
        let w = workspace
        let width = c.embeddingWidth
        let local = c.isSlidingWindowLayer(index)
        let table = local ? (localRope ?? rope) : rope

        layer.attentionNorm.withUnsafeBufferPointer { norm in
            perTokens(n) { r in
                rmsNorm(
                    w.x + r.lowerBound * width, weight: norm.baseAddress!, eps: c.rmsNormEpsilon, rows: r.count,
                    width: width, output: w.normed + r.lowerBound * width)
            }
        }
        let qkv = layer.attentionInput.run(
            input: w.normed, tokens: n, outputs: [w.q, w.k, w.v], staging: w.staging,
            pool: pool, scratch: scratch)
        perTokens(n) { r in
            qkv[0].copy(r, width: c.qWidth, to: w.q)
            qkv[1].copy(r, width: c.kvWidth, to: w.k)
            qkv[2].copy(r, width: c.kvWidth, to: w.v)
            if let bias = layer.queryBias { addBias(bias, to: w.q, rows: r) }
            if let bias = layer.keyBias { addBias(bias, to: w.k, rows: r) }
            if let bias = layer.valueBias { addBias(bias, to: w.v, rows: r) }
            let first = r.lowerBound
            if let norm = layer.queryNorm { headNorm(norm, w.q + first * c.qWidth, values: r.count * c.qWidth) }
            if let norm = layer.keyNorm { headNorm(norm, w.k + first * c.kvWidth, values: r.count * c.kvWidth) }
            applyRoPE(
                w.q + first * c.qWidth, heads: c.headCount, headDim: c.headDimension, positions: positions + first,
                tokens: r.count, table: table, neox: c.ropeNeoX)
            applyRoPE(
                w.k + first * c.kvWidth, heads: c.kvHeadCount, headDim: c.headDimension,
                positions: positions + first, tokens: r.count, table: table, neox: c.ropeNeoX)
            writeKV(
                k: w.k + first * c.kvWidth, v: w.v + first * c.kvWidth, slotMapping: slots + first,
                tokens: r.count, layer: kv)
        }
        pagedAttention(
            q: w.q, output: w.attention, qHeads: c.headCount, sequences: sequences, layer: kv, pool: pool,
            scale: c.attentionScale, window: local ? c.slidingWindow : 0, softCap: c.attentionSoftCap ?? 0)
        matmul(layer.attentionOutput, input: w.attention, tokens: n, output: w.normed, pool: pool, scratch: scratch)

        layer.feedForwardNorm.withUnsafeBufferPointer { norm in
            perTokens(n) { r in
                let x = w.x + r.lowerBound * width, normed = w.normed + r.lowerBound * width
                if let post = layer.postAttentionNorm { widthNorm(post, normed, rows: r.count) }
                add(x, normed, count: r.count * width, output: x)
                rmsNorm(x, weight: norm.baseAddress!, eps: c.rmsNormEpsilon, rows: r.count, width: width, output: normed)
            }
        }
        if let experts = layer.experts {
            let output = experts.apply(
                input: w.normed, tokens: n, width: width, workspace: expertWorkspace, pool: pool, scratch: scratch)
            perTokens(n) { r in
                add(
                    w.x + r.lowerBound * width, output + r.lowerBound * width, count: r.count * width,
                    output: w.x + r.lowerBound * width)
            }
            return
        }
        guard let feedForwardInput = layer.feedForwardInput, let down = layer.down else { return }
        let gateUp = feedForwardInput.run(
            input: w.normed, tokens: n, outputs: [w.gate, w.up],
            staging: w.staging, pool: pool, scratch: scratch)
        perTokens(n) { r in
            for t in r {
                switch c.activation {
                case .silu:
                    siluMul(
                        gate: gateUp[0].row(t), up: gateUp[1].row(t), count: c.feedForwardWidth,
                        output: w.gate + t * c.feedForwardWidth)
                case .geluTanh:
                    geluTanhMul(
                        gate: gateUp[0].row(t), up: gateUp[1].row(t), count: c.feedForwardWidth,
                        output: w.gate + t * c.feedForwardWidth)
                }
            }
        }
        matmul(down, input: w.gate, tokens: n, output: w.normed, pool: pool, scratch: scratch)
        perTokens(n) { r in
            if let post = layer.postFeedForwardNorm { widthNorm(post, w.normed + r.lowerBound * width, rows: r.count) }
            add(
                w.x + r.lowerBound * width, w.normed + r.lowerBound * width, count: r.count * width,
                output: w.x + r.lowerBound * width)
        }
    }

    /// Runs per-token work (norms, residual adds, RoPE, KV writes, SwiGLU) for tokens `0..<n` on the
    /// pool, a contiguous range per thread; a few tokens run on the calling thread. Every token is
    /// computed alone, so the split changes no result.
    private func perTokens(_ n: Int, _ body: (Range<Int>) -> Void) {
        if n < 4 { body(0..<n) } else { pool.parallelFor(n, body) }
    }

    /// RMS-normalizes `values` values in place, in rows as wide as `weight`: head vectors for a per-head
    /// norm (qwen3, gemma3), whole projections for olmoe's.
    private func headNorm(_ weight: [Float], _ x: UnsafeMutablePointer<Float>, values: Int) {
        let c = configuration
        weight.withUnsafeBufferPointer { w in
            guard let base = w.baseAddress, w.count > 0 else { return }
            rmsNorm(x, weight: base, eps: c.rmsNormEpsilon, rows: values / w.count, width: w.count, output: x)
        }
    }

    /// RMS-normalizes `rows` rows of `embeddingWidth` values in place with `weight`.
    private func widthNorm(_ weight: [Float], _ x: UnsafeMutablePointer<Float>, rows: Int) {
        let c = configuration
        weight.withUnsafeBufferPointer { w in
            guard let base = w.baseAddress else { return }
            rmsNorm(x, weight: base, eps: c.rmsNormEpsilon, rows: rows, width: c.embeddingWidth, output: x)
        }
    }

    private func addBias(_ bias: [Float], to x: UnsafeMutablePointer<Float>, rows: Range<Int>) {
        bias.withUnsafeBufferPointer { b in
            for r in rows { add(x + r * b.count, b.baseAddress!, count: b.count, output: x + r * b.count) }
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
        if let localCapacity = cache.localCapacity {
            guard cache.localLayers == configuration.slidingWindowLayers else { throw .invalidBatch("KV cache shape does not match the model") }
            guard batch.localSlots.count == n else { throw .invalidBatch("a split KV cache needs a local slot per token") }
            for slot in batch.localSlots where slot < 0 || Int(slot) >= localCapacity {
                throw .invalidBatch("local KV slot \(slot) outside the local pool (0..<\(localCapacity))")
            }
        } else if !batch.localSlots.isEmpty || batch.sequences.contains(where: { $0.localBlockTable != nil }) {
            throw .invalidBatch("local block tables without a split KV cache")
        }
        var expectedStart = 0
        for s in batch.sequences {
            guard s.tokenStart == expectedStart, s.tokenCount > 0 else { throw .invalidBatch("sequences are not contiguous") }
            guard (0...s.tokenCount).contains(s.logitCount) else { throw .invalidBatch("logit count \(s.logitCount) out of range") }
            expectedStart += s.tokenCount
            let end = s.firstPosition + s.tokenCount
            guard s.firstPosition >= 0, end <= configuration.contextLength else {
                throw .invalidBatch("positions \(s.firstPosition)..<\(end) exceed the context length \(configuration.contextLength)")
            }
            // Holes (-1) may stand only for blocks no token of the sequence attends to: those
            // entirely before the window of its first token, when every layer reading the table has
            // that window (every layer; or the local layers of a split cache).
            let window = cache.isSplit ? nil : configuration.windowOnEveryLayer
            try Self.validate(
                s.blockTable, end: end, firstAttended: window.map { max(s.firstPosition - $0 + 1, 0) } ?? 0, cache: cache, blocks: cache.blockCount)
            if let localBlocks = cache.localBlockCount {
                guard let table = s.localBlockTable else { throw .invalidBatch("a split KV cache needs a local block table") }
                try Self.validate(
                    table, end: end, firstAttended: max(s.firstPosition - configuration.slidingWindow + 1, 0), cache: cache, blocks: localBlocks)
            }
            for i in 0..<s.tokenCount where batch.positions[s.tokenStart + i] != Int32(s.firstPosition + i) {
                throw .invalidBatch("positions of a sequence must be consecutive")
            }
        }
        guard expectedStart == n else { throw .invalidBatch("sequences do not cover the tokens") }
    }

    /// Checks one block table of a sequence whose new tokens end at `end`: it covers them, every
    /// block is in its pool of `blocks`, and a hole (-1) lies entirely before `firstAttended`.
    private static func validate(_ table: [Int32], end: Int, firstAttended: Int, cache: KVCache, blocks: Int) throws(ModelError) {
        guard (end + cache.blockSize - 1) / cache.blockSize <= table.count else {
            throw .invalidBatch("block table too short for \(end) positions")
        }
        for (index, block) in table.enumerated() {
            if block < 0 {
                guard (index + 1) * cache.blockSize <= firstAttended else {
                    throw .invalidBatch("block \(index) of the table is a hole but position \(firstAttended) on is attended")
                }
            } else if Int(block) >= blocks {
                throw .invalidBatch("block \(block) outside the cache (0..<\(blocks))")
            }
        }
    }
}

/// Calls `body` with the attention kernel's view of the batch's sequences (the block tables
/// `table` picks, copied to one stable buffer).
private func withAttentionSequences<R>(
    _ sequences: [ForwardBatch.Sequence], _ table: (ForwardBatch.Sequence) -> [Int32],
    _ body: (UnsafeBufferPointer<AttentionSequence>) -> R
) -> R {
    let total = sequences.reduce(0) { $0 + table($1).count }
    let flat = UnsafeMutablePointer<Int32>.allocate(capacity: max(total, 1))
    defer { flat.deallocate() }
    var views: [AttentionSequence] = []
    views.reserveCapacity(sequences.count)
    var offset = 0
    for s in sequences {
        let blockTable = table(s)
        blockTable.withUnsafeBufferPointer { table in
            if let base = table.baseAddress { (flat + offset).update(from: base, count: table.count) }
        }
        views.append(
            AttentionSequence(
                firstToken: Int32(s.tokenStart), tokenCount: Int32(s.tokenCount),
                positionOfFirst: Int32(s.firstPosition), blockTable: UnsafePointer(flat + offset)))
        offset += blockTable.count
    }
    return views.withUnsafeBufferPointer(body)
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
    /// Output of a fused projection before it is split (query/key/value or gate/up).
    var staging: UnsafeMutablePointer<Float> = .allocate(capacity: 1)
    private var tokenCapacity = 0
    private var logitCapacity = 0

    func deallocate() {
        for buffer in [x, normed, q, k, v, attention, gate, up, staging, logits] { buffer.deallocate() }
    }

    mutating func reserve(tokens: Int, logitRows: Int, configuration c: ModelConfiguration) {
        if tokens > tokenCapacity {
            let count = max(tokens, tokenCapacity * 2)
            let width = max(c.embeddingWidth, c.qWidth)
            for buffer in [x, normed, q, k, v, attention, gate, up, staging] { buffer.deallocate() }
            x = .allocate(capacity: count * c.embeddingWidth)
            normed = .allocate(capacity: count * width)
            q = .allocate(capacity: count * c.qWidth)
            k = .allocate(capacity: count * c.kvWidth)
            v = .allocate(capacity: count * c.kvWidth)
            attention = .allocate(capacity: count * c.qWidth)
            gate = .allocate(capacity: count * c.feedForwardWidth)
            up = .allocate(capacity: count * c.feedForwardWidth)
            staging = .allocate(capacity: count * max(c.qWidth + 2 * c.kvWidth, 2 * c.feedForwardWidth))
            tokenCapacity = count
        }
        if logitRows > logitCapacity {
            logits.deallocate()
            logitCapacity = max(logitRows, logitCapacity * 2)
            logits = .allocate(capacity: logitCapacity * c.vocabularySize)
        }
    }
}

import Foundation

extension KernelBenchmark {
    /// One measured decode-attention shape.
    public struct AttentionResult: Sendable {
        /// Sequences in the batch (one query token each).
        public var sequences: Int
        /// Cached positions each sequence attends to.
        public var context: Int
        /// Layers of separate cache memory, visited in turn.
        public var layers: Int
        /// Mean seconds per layer.
        public var secondsPerLayer: Double
        /// Key and value bytes one layer reads.
        public var bytesPerLayer: Int
        /// Cache bytes read per second, in 1e9/s.
        public var gigabytesPerSecond: Double { Double(bytesPerLayer) / secondsPerLayer / 1e9 }
    }

    /// Decode attention at the default model's shape (9 query heads over 3 kv heads of 64, a float16
    /// cache in blocks of 16): `sequences` tokens, each attending to `context` positions of its own
    /// sequence, over `layers` layers of separate memory, so that the cache streams from DRAM as in a
    /// model's step. The blocks are dealt to the sequences in turn, as when they grow together.
    public static func attention(
        pool: WorkerPool, sequences: Int = 64, context: Int = 192, layers: Int = 30,
        minimumSeconds: Double = 0.3
    ) -> AttentionResult {
        let qHeads = 9, kvHeads = 3, headDim = 64, blockSize = 16
        let blocksPerSequence = (context + blockSize - 1) / blockSize
        let blockCount = sequences * blocksPerSequence
        let poolBytes = blockCount * blockSize * kvHeads * headDim * 2
        let memory = HugePageBuffer(byteCount: 2 * layers * poolBytes)
        let halves = memory.base.bindMemory(to: UInt16.self, capacity: memory.byteCount / 2)
        for i in 0..<(memory.byteCount / 2) { halves[i] = Float16(Float(i % 29) / 29 - 0.5).bitPattern }
        let tables = UnsafeMutablePointer<Int32>.allocate(capacity: blockCount)
        defer { tables.deallocate() }
        for s in 0..<sequences {
            for j in 0..<blocksPerSequence { tables[s * blocksPerSequence + j] = Int32(j * sequences + s) }
        }
        let tokens = (0..<sequences).map {
            AttentionSequence(
                firstToken: Int32($0), tokenCount: 1, positionOfFirst: Int32(context - 1),
                blockTable: UnsafePointer(tables + $0 * blocksPerSequence))
        }
        let q = UnsafeMutablePointer<Float>.allocate(capacity: sequences * qHeads * headDim)
        let output = UnsafeMutablePointer<Float>.allocate(capacity: sequences * qHeads * headDim)
        defer { q.deallocate(); output.deallocate() }
        for i in 0..<(sequences * qHeads * headDim) { q[i] = Float(i % 13) / 13 - 0.5 }
        let cacheLayers = (0..<layers).map {
            PagedKVLayer(
                keys: memory.base + 2 * $0 * poolBytes, values: memory.base + (2 * $0 + 1) * poolBytes,
                blockSize: blockSize, kvHeads: kvHeads, headDim: headDim, elementType: .float16)
        }
        var visits = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        tokens.withUnsafeBufferPointer { batch in
            repeat {
                for layer in cacheLayers {
                    pagedAttention(q: q, output: output, qHeads: qHeads, sequences: batch, layer: layer, pool: pool)
                }
                visits += layers
                elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            } while elapsed < minimumSeconds
        }
        return AttentionResult(
            sequences: sequences, context: context, layers: layers,
            secondsPerLayer: elapsed / Double(visits),
            bytesPerLayer: 2 * sequences * context * kvHeads * headDim * 2)
    }
}

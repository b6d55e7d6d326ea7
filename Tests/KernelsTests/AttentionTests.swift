import Foundation
import Testing

@testable import Kernels

@Suite struct AttentionTests {
    /// Paged attention vs a naive float64 softmax attention over the same K/V (read back from the
    /// cache for F16, so only the kernel's arithmetic is compared), several sequences, shuffled blocks, GQA.
    /// The shapes take every pass width: groups of 3 (the default model's), 4 (a pass of 3 and one of 1)
    /// and 2 heads; head sizes that take only single slices (16), four-slice runs (64) and both (40).
    /// With a sliding window (5: inside one chunk; 33: across chunks, shorter than the longest sequence;
    /// 100: longer than every sequence) only the window's positions count, and a score scale other
    /// than 1/sqrt(headDim) is passed.
    @Test(
        arguments: [KVElementType.float32, .float16],
        [
            (group: 3, headDim: 16, window: 0), (group: 4, headDim: 40, window: 0), (group: 2, headDim: 64, window: 0),
            (group: 3, headDim: 16, window: 5), (group: 4, headDim: 40, window: 33), (group: 2, headDim: 64, window: 100)
        ])
    func matchesNaiveAttention(elementType: KVElementType, shape: (group: Int, headDim: Int, window: Int)) {
        let kvHeads = 2, group = shape.group, qHeads = kvHeads * group, headDim = shape.headDim, blockSize = 4, blockCount = 40
        let window = shape.window
        let scale: Float? = window == 0 ? nil : 0.7 / Float(headDim).squareRoot()
        let expectedScale = Double(scale ?? 1 / Float(headDim).squareRoot())
        func attended(_ position: Int) -> ClosedRange<Int> { (window == 0 ? 0 : max(0, position - window + 1))...position }
        let kvWidth = kvHeads * headDim
        let keys = UnsafeMutableRawPointer.allocate(byteCount: blockCount * blockSize * kvWidth * 4, alignment: 64)
        let values = UnsafeMutableRawPointer.allocate(byteCount: blockCount * blockSize * kvWidth * 4, alignment: 64)
        defer { keys.deallocate(); values.deallocate() }
        let layer = PagedKVLayer(
            keys: keys, values: values, blockSize: blockSize, kvHeads: kvHeads, headDim: headDim,
            elementType: elementType)
        var random = SeededRandom(seed: 42)
        // Sequence lengths (total positions) and how many of their last tokens are in this batch.
        let lengths = [1, 9, 37, 70], inBatch = [1, 9, 3, 1]
        var freeBlocks = Array(0..<blockCount).shuffled(using: &random)
        var tables: [[Int32]] = []
        var kvData: [[Float]] = [], vData: [[Float]] = []
        for length in lengths {
            let needed = (length + blockSize - 1) / blockSize
            tables.append(freeBlocks.prefix(needed).map { Int32($0) })
            freeBlocks.removeFirst(needed)
            kvData.append((0..<(length * kvWidth)).map { _ in random.float(-2...2) })
            vData.append((0..<(length * kvWidth)).map { _ in random.float(-1...1) })
        }
        // Write every position's K/V through writeKV with the slot mapping.
        for (s, length) in lengths.enumerated() {
            let slots = (0..<length).map { j in tables[s][j / blockSize] * Int32(blockSize) + Int32(j % blockSize) }
            kvData[s].withUnsafeBufferPointer { k in
                vData[s].withUnsafeBufferPointer { v in
                    slots.withUnsafeBufferPointer { m in
                        writeKV(k: k.baseAddress!, v: v.baseAddress!, slotMapping: m.baseAddress!, tokens: length, layer: layer)
                    }
                }
            }
        }
        let totalTokens = inBatch.reduce(0, +)
        let q = (0..<(totalTokens * qHeads * headDim)).map { _ in random.float(-1...1) }
        var output = [Float](repeating: .nan, count: q.count)
        let tablePointers = tables.map { table -> UnsafeMutablePointer<Int32> in
            let p = UnsafeMutablePointer<Int32>.allocate(capacity: table.count)
            p.initialize(from: table, count: table.count)
            return p
        }
        defer { for pointer in tablePointers { pointer.deallocate() } }
        var sequences: [AttentionSequence] = []
        var first = 0
        for s in lengths.indices {
            sequences.append(
                AttentionSequence(
                    firstToken: Int32(first), tokenCount: Int32(inBatch[s]),
                    positionOfFirst: Int32(lengths[s] - inBatch[s]), blockTable: tablePointers[s]))
            first += inBatch[s]
        }
        let pool = WorkerPool(threads: 2)
        q.withUnsafeBufferPointer { qp in
            output.withUnsafeMutableBufferPointer { op in
                sequences.withUnsafeBufferPointer { sp in
                    pagedAttention(
                        q: qp.baseAddress!, output: op.baseAddress!, qHeads: qHeads, sequences: sp, layer: layer, pool: pool,
                        scale: scale, window: window)
                }
            }
        }
        // Stored values as the kernel sees them.
        func stored(_ x: Float) -> Double { elementType == .float16 ? Double(Float(Float16(x))) : Double(x) }
        for s in lengths.indices {
            for i in 0..<inBatch[s] {
                let token = Int(sequences[s].firstToken) + i
                let position = lengths[s] - inBatch[s] + i
                for h in 0..<qHeads {
                    let kvh = h / group
                    var scores = [Double]()
                    for j in attended(position) {
                        var dot = 0.0
                        for d in 0..<headDim {
                            dot += Double(q[(token * qHeads + h) * headDim + d]) * stored(kvData[s][j * kvWidth + kvh * headDim + d])
                        }
                        scores.append(dot * expectedScale)
                    }
                    let m = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - m) }
                    let total = weights.reduce(0, +)
                    for d in 0..<headDim {
                        var expected = 0.0
                        for (w, j) in attended(position).enumerated() {
                            expected += weights[w] / total * stored(vData[s][j * kvWidth + kvh * headDim + d])
                        }
                        let got = Double(output[(token * qHeads + h) * headDim + d])
                        #expect(abs(got - expected) < 1e-5, "seq \(s) token \(i) head \(h) dim \(d): \(got) vs \(expected)")
                    }
                }
            }
        }
        // Batch invariance: the last token of sequence 1 alone gives the same bits.
        let token = Int(sequences[1].firstToken) + inBatch[1] - 1
        let single = [AttentionSequence(firstToken: 0, tokenCount: 1, positionOfFirst: Int32(lengths[1] - 1), blockTable: tablePointers[1])]
        let singleQ = Array(q[(token * qHeads * headDim)..<((token + 1) * qHeads * headDim)])
        var singleOut = [Float](repeating: .nan, count: singleQ.count)
        singleQ.withUnsafeBufferPointer { qp in
            singleOut.withUnsafeMutableBufferPointer { op in
                single.withUnsafeBufferPointer { sp in
                    pagedAttention(
                        q: qp.baseAddress!, output: op.baseAddress!, qHeads: qHeads, sequences: sp, layer: layer, pool: WorkerPool(threads: 1),
                        scale: scale, window: window)
                }
            }
        }
        #expect(singleOut.map(\.bitPattern) == Array(output[(token * qHeads * headDim)..<((token + 1) * qHeads * headDim)]).map(\.bitPattern))
    }
}

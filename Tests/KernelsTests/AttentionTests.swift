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
        checkAgainstNaiveAttention(elementType: elementType, shape: shape)
    }

    /// The same with a Q8_0 cache (head sizes of whole 32-value blocks: one, two, three and four
    /// blocks), against the naive attention over the values dequantized from llama.cpp's
    /// quantization rule, computed here.
    @Test(arguments: [
        (group: 3, headDim: 32, window: 0), (group: 4, headDim: 64, window: 33), (group: 2, headDim: 96, window: 100),
        (group: 1, headDim: 128, window: 5)
    ])
    func q8MatchesNaiveAttention(shape: (group: Int, headDim: Int, window: Int)) {
        checkAgainstNaiveAttention(elementType: .q8_0, shape: shape)
    }

    /// Q8_0 blocks hold the values llama.cpp's `quantize_row_q8_0_ref` writes: a scale of
    /// max|x| / 127 (here a float32) and round(x * 127 / max|x|); a zero block quantizes to zeros,
    /// a NaN to 0.
    @Test func q8QuantizationFollowsLlamaCpp() {
        var x = (0..<96).map { Float($0 % 32) * 0.37 - 5.1 }
        for i in 32..<64 { x[i] = 0 }
        x[70] = .nan
        var bytes = [UInt8](repeating: 0xff, count: 3 * 36)
        x.withUnsafeBufferPointer { x in bytes.withUnsafeMutableBytes { quantizeQ8(x.baseAddress!, count: 96, into: $0.baseAddress!) } }
        let d = abs(x[31]) / 127  // the largest magnitude of the first block
        #expect(bytes.withUnsafeBytes { $0.loadUnaligned(as: Float.self) } == d)
        for i in 0..<32 { #expect(Int8(bitPattern: bytes[4 + i]) == Int8((x[i] * (1 / d)).rounded()), "value \(i)") }
        #expect(bytes[36..<(2 * 36)].allSatisfy { $0 == 0 })
        #expect(bytes[2 * 36 + 4 + 6] == 0)  // the NaN
        #expect(Int8(bitPattern: bytes[2 * 36 + 4 + 31]) == 127)
    }

    private func checkAgainstNaiveAttention(elementType: KVElementType, shape: (group: Int, headDim: Int, window: Int)) {
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
        // Stored values as the kernel sees them (Q8_0: each row's blocks of 32 dequantized).
        func q8(_ data: [Float]) -> [Double] {
            stride(from: 0, to: data.count, by: 32).flatMap { start -> [Double] in
                let block = data[start..<start + 32]
                let d = (block.map(abs).max() ?? 0) / 127
                let inverse: Float = d > 0 ? 1 / d : 0
                return block.map { Double(d * ($0 * inverse).rounded()) }
            }
        }
        let storedK = kvData.map { elementType == .q8_0 ? q8($0) : $0.map { elementType == .float16 ? Double(Float(Float16($0))) : Double($0) } }
        let storedV = vData.map { elementType == .q8_0 ? q8($0) : $0.map { elementType == .float16 ? Double(Float(Float16($0))) : Double($0) } }
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
                            dot += Double(q[(token * qHeads + h) * headDim + d]) * storedK[s][j * kvWidth + kvh * headDim + d]
                        }
                        scores.append(dot * expectedScale)
                    }
                    let m = scores.max()!
                    let weights = scores.map { Foundation.exp($0 - m) }
                    let total = weights.reduce(0, +)
                    for d in 0..<headDim {
                        var expected = 0.0
                        for (w, j) in attended(position).enumerated() {
                            expected += weights[w] / total * storedV[s][j * kvWidth + kvh * headDim + d]
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

    /// A score 44 or more below the maximum gets probability 0, in the chunk of the maximum and in the
    /// chunks before it (whose rescaling factor is then 0): its products with the values would
    /// otherwise be tiny or subnormal numbers, which Intel CPUs handle in microcode. The value rows of
    /// the low scores are 1 and the maximum's is 0, so any share they kept would show.
    @Test(arguments: [0, 39])
    func negligibleScoresContributeNothing(peak: Int) {
        let headDim = 16, blockSize = 4, length = 40, blocks = length / blockSize
        let keys = UnsafeMutableRawPointer.allocate(byteCount: length * headDim * 4, alignment: 64)
        let values = UnsafeMutableRawPointer.allocate(byteCount: length * headDim * 4, alignment: 64)
        defer { keys.deallocate(); values.deallocate() }
        let layer = PagedKVLayer(keys: keys, values: values, blockSize: blockSize, kvHeads: 1, headDim: headDim, elementType: .float32)
        // Scores (q = e0, scale 1): 60 at `peak`, 15 elsewhere, 45 below.
        var k = [Float](repeating: 0, count: length * headDim), v = [Float](repeating: 1, count: length * headDim)
        for j in 0..<length { k[j * headDim] = j == peak ? 60 : 15 }
        for d in 0..<headDim { v[peak * headDim + d] = 0 }
        let slots = (0..<length).map { Int32($0) }
        k.withUnsafeBufferPointer { k in
            v.withUnsafeBufferPointer { v in
                slots.withUnsafeBufferPointer { slots in
                    writeKV(k: k.baseAddress!, v: v.baseAddress!, slotMapping: slots.baseAddress!, tokens: length, layer: layer)
                }
            }
        }
        var q = [Float](repeating: 0, count: headDim)
        q[0] = 1
        var output = [Float](repeating: .nan, count: headDim)
        let table = (0..<blocks).map { Int32($0) }
        table.withUnsafeBufferPointer { table in
            let sequences = [AttentionSequence(firstToken: 0, tokenCount: 1, positionOfFirst: Int32(length - 1), blockTable: table.baseAddress!)]
            q.withUnsafeBufferPointer { qp in
                output.withUnsafeMutableBufferPointer { op in
                    sequences.withUnsafeBufferPointer { sp in
                        pagedAttention(
                            q: qp.baseAddress!, output: op.baseAddress!, qHeads: 1, sequences: sp, layer: layer,
                            pool: WorkerPool(threads: 1), scale: 1)
                    }
                }
            }
        }
        #expect(output == [Float](repeating: 0, count: headDim), "peak at \(peak)")
    }

}

import GGUF
import Testing

@testable import Kernels

let allMatmulTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .f16, .bf16, .f32]

func runMatmul(
    _ w: WeightMatrix, _ input: [Float], tokens: Int, pool: WorkerPool,
    scratch: MatmulScratch = MatmulScratch()
) -> [Float] {
    var output = [Float](repeating: .nan, count: tokens * w.rows)
    input.withUnsafeBufferPointer { x in
        output.withUnsafeMutableBufferPointer { y in
            matmul(w, input: x.baseAddress!, tokens: tokens, output: y.baseAddress!, pool: pool, scratch: scratch)
        }
    }
    return output
}

@Suite struct MatmulTests {
    static let pool1 = WorkerPool(threads: 1)
    static let pool2 = WorkerPool(threads: 2)

    /// Every type and token count against a float64 reference on dequantized weights. The tolerance is a
    /// hard bound on the activation quantization error: each activation is off by at most half a step,
    /// max|block| / 254, so |error| <= Σ_i |w_i| * max|block(i)| / 254 (plus float rounding).
    @Test(arguments: allMatmulTypes)
    func matchesFloat64Reference(type: GGMLType) {
        let rows = 13, columns = type.blockSize == 256 ? 512 : 96
        let weights = RandomWeights(type: type, rows: rows, columns: columns, seed: 7 + UInt64(type.rawValue))
        let reference = (0..<rows).map { weights.dequantizedRow($0) }
        let quantizesActivations = ![.f32, .f16, .bf16].contains(type)
        let activationBlock = type.blockSize == 256 ? 256 : 32
        for tokens in [1, 2, 3, 5, 8, 17, 64] {
            let input = randomActivations(tokens: tokens, columns: columns, seed: UInt64(tokens))
            let output = runMatmul(weights.matrix, input, tokens: tokens, pool: Self.pool2)
            for t in 0..<tokens {
                let x = input[(t * columns)..<((t + 1) * columns)].map(Double.init)
                var blockMax = [Double](repeating: 0, count: columns)
                for b in 0..<(columns / activationBlock) {
                    let slice = x[(b * activationBlock)..<((b + 1) * activationBlock)]
                    let m = slice.map(abs).max()!
                    for i in (b * activationBlock)..<((b + 1) * activationBlock) { blockMax[i] = m }
                }
                for r in 0..<rows {
                    let w = reference[r]
                    var exact = 0.0, mass = 0.0, bound = 0.0
                    for c in 0..<columns {
                        exact += w[c] * x[c]
                        mass += abs(w[c] * x[c])
                        bound += abs(w[c]) * blockMax[c] / 254
                    }
                    let tolerance = (quantizesActivations ? bound * 1.001 : 0) + 1e-5 * mass + 1e-6
                    let got = Double(output[t * rows + r])
                    #expect(
                        abs(got - exact) <= tolerance,
                        "\(type) tokens \(tokens) t \(t) r \(r): \(got) vs \(exact) (tolerance \(tolerance))")
                }
            }
        }
    }

    /// The result for (t, r) is bit-identical whatever the batch size and thread count.
    @Test(arguments: allMatmulTypes)
    func batchInvariant(type: GGMLType) {
        let rows = 37, columns = type.blockSize == 256 ? 512 : 160
        let weights = RandomWeights(type: type, rows: rows, columns: columns, seed: 99)
        let tokens = 17
        let input = randomActivations(tokens: tokens, columns: columns, seed: 5)
        let batched1 = runMatmul(weights.matrix, input, tokens: tokens, pool: Self.pool1)
        let batched2 = runMatmul(weights.matrix, input, tokens: tokens, pool: Self.pool2)
        #expect(batched1.map(\.bitPattern) == batched2.map(\.bitPattern))
        for t in 0..<tokens {
            let row = Array(input[(t * columns)..<((t + 1) * columns)])
            for pool in [Self.pool1, Self.pool2] {
                let single = runMatmul(weights.matrix, row, tokens: 1, pool: pool)
                #expect(
                    single.map(\.bitPattern) == Array(batched2[(t * rows)..<((t + 1) * rows)]).map(\.bitPattern),
                    "\(type) token \(t) differs between batch of 17 and batch of 1")
            }
        }
        // A sub-batch starting at token 3 gives the same rows again.
        let sub = runMatmul(weights.matrix, Array(input[(3 * columns)..<(8 * columns)]), tokens: 5, pool: Self.pool2)
        #expect(sub.map(\.bitPattern) == Array(batched2[(3 * rows)..<(8 * rows)]).map(\.bitPattern))
    }

    /// The AVX2 tile (when compiled in) and the portable reference tile give identical bits.
    @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0])
    func portableMatchesVectorPath(type: GGMLType) {
        let rows = 11, columns = 128, tokens = 6
        let weights = RandomWeights(type: type, rows: rows, columns: columns, seed: 3)
        let input = randomActivations(tokens: tokens, columns: columns, seed: 4)
        let scratch = MatmulScratch()
        let fast = runMatmul(weights.matrix, input, tokens: tokens, pool: Self.pool1, scratch: scratch)
        let activations = scratch.activations(tokens: tokens, columns: columns, blockSize: 32)
        input.withUnsafeBufferPointer { ActivationQuantizer.quantize($0.baseAddress!, tokens: 0..<tokens, into: activations) }
        var portable = [Float](repeating: .nan, count: tokens * rows)
        portable.withUnsafeMutableBufferPointer { out in
            for rowStart in stride(from: 0, to: rows, by: 4) {
                switch type {
                case .q4_0:
                    QuantizedMatmul.tilePortable(
                        Q4_0Format.self, weights.matrix, activations, rowStart: rowStart, token: 0, count: tokens, output: out.baseAddress!)
                case .q4_1:
                    QuantizedMatmul.tilePortable(
                        Q4_1Format.self, weights.matrix, activations, rowStart: rowStart, token: 0, count: tokens, output: out.baseAddress!)
                case .q5_0:
                    QuantizedMatmul.tilePortable(
                        Q5_0Format.self, weights.matrix, activations, rowStart: rowStart, token: 0, count: tokens, output: out.baseAddress!)
                case .q5_1:
                    QuantizedMatmul.tilePortable(
                        Q5_1Format.self, weights.matrix, activations, rowStart: rowStart, token: 0, count: tokens, output: out.baseAddress!)
                default:
                    QuantizedMatmul.tilePortable(
                        Q8_0Format.self, weights.matrix, activations, rowStart: rowStart, token: 0, count: tokens, output: out.baseAddress!)
                }
            }
        }
        #expect(fast.map(\.bitPattern) == portable.map(\.bitPattern))
    }

    /// The vector activation quantizer matches its portable definition bit for bit, ties included.
    @Test func activationQuantizerMatchesPortable() {
        var input = randomActivations(tokens: 1, columns: 256, seed: 11)
        input[5] = 0; input[40] = 127.0 / 254 * 2  // values landing on .5 steps exercise rounding
        input[0] = 2
        for count in [32, 256] {
            var fast = [Int8](repeating: 0, count: count), slow = [Int8](repeating: 0, count: count)
            let (fs, fsum) = input.withUnsafeBufferPointer { x in
                fast.withUnsafeMutableBufferPointer { ActivationQuantizer.quantizeBlock(x.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            let (ss, ssum) = input.withUnsafeBufferPointer { x in
                slow.withUnsafeMutableBufferPointer { ActivationQuantizer.quantizeBlockPortable(x.baseAddress!, count: count, into: $0.baseAddress!) }
            }
            #expect(fast == slow)
            #expect(fs.bitPattern == ss.bitPattern && fsum == ssum)
            #expect(Int(ssum) == slow.reduce(0) { $0 + Int($1) })
        }
        // All-zero block: scale 0, quants 0.
        let zeros = [Float](repeating: 0, count: 32)
        var q = [Int8](repeating: 1, count: 32)
        let (scale, sum) = zeros.withUnsafeBufferPointer { x in
            q.withUnsafeMutableBufferPointer { ActivationQuantizer.quantizeBlock(x.baseAddress!, count: 32, into: $0.baseAddress!) }
        }
        #expect(scale == 0 && sum == 0 && q.allSatisfy { $0 == 0 })
    }

    /// The interleaved layout (several matrices concatenated, rows not a multiple of 8, so the last of
    /// four row groups holds one row) gives the same bits as the file layout, for every token count and
    /// thread count, with the AVX2 tiles and, where the CPU has it, the VNNI tiles.
    @Test(arguments: [GGMLType.q4_1, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K])
    func interleavedMatchesFileLayout(type: GGMLType) throws {
        let columns = type.blockSize == 256 ? 512 : 96
        let parts = [13, 8, 4].enumerated().map { RandomWeights(type: type, rows: $1, columns: columns, seed: 40 + UInt64($0)) }
        guard let fused = WeightMatrix.interleaving(parts.map(\.matrix)) else {
            #if TANDEM_AVX2
            Issue.record("\(type) should interleave in a vector build")
            #endif
            return
        }
        #expect(fused.rows == 25 && fused.columns == columns)
        for tokens in [1, 2, 3, 4, 5, 6, 9, 33] {
            let input = randomActivations(tokens: tokens, columns: columns, seed: 70 + UInt64(tokens))
            let separate = parts.map { runMatmul($0.matrix, input, tokens: tokens, pool: Self.pool1) }
            var expected: [Float] = []
            for t in 0..<tokens {
                for (part, output) in zip(parts, separate) {
                    expected += output[(t * part.matrix.rows)..<((t + 1) * part.matrix.rows)]
                }
            }
            for pool in [Self.pool1, Self.pool2] {
                let got = runMatmul(fused, input, tokens: tokens, pool: pool)
                #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "\(type) tokens \(tokens)")
            }
            #if TANDEM_AVX2
            for vnni in InterleavedMatmul.hasVNNI ? [false, true] : [false] {
                var got = [Float](repeating: .nan, count: tokens * fused.rows)
                input.withUnsafeBufferPointer { x in
                    got.withUnsafeMutableBufferPointer { y in
                        InterleavedMatmul.run(
                            fused, fused.interleaved!, x.baseAddress!, tokens, y.baseAddress!, Self.pool2,
                            MatmulScratch(), vnni: vnni)
                    }
                }
                #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "\(type) tokens \(tokens) vnni \(vnni)")
            }
            #endif
        }
        // Mixed types or column counts do not interleave.
        let other = RandomWeights(type: type == .f16 ? .q8_0 : .f16, rows: 8, columns: columns, seed: 1)
        #expect(WeightMatrix.interleaving([parts[0].matrix, other.matrix]) == nil)
        #expect(WeightMatrix.interleaving([other.matrix]) == nil)
    }

    /// Q6_K, Q4_K, Q4_0 and Q4_1 at many tokens unpack pairs of row groups (16 rows in 512-bit
    /// vectors, or AMX tiles of 16 tokens where the CPU has them, with a last partial tile, or from 12
    /// tokens one partial tile); an odd last group takes the usual tile. Bit-identical to the AVX2 tiles
    /// either way.
    @Test(arguments: [GGMLType.q6_K, .q4_K, .q4_0, .q4_1])
    func unpackedPairsMatchTheAVX2Tiles(type: GGMLType) throws {
        #if TANDEM_AVX2
        guard InterleavedMatmul.hasVNNI else { return }
        let paths = InterleavedMatmul.hasAMX ? [(false, false), (true, false), (true, true)] : [(false, false), (true, false)]
        let many = max(InterleavedMatmul.unpackedQ6KTokens, InterleavedMatmul.unpackedQ4KTokens, InterleavedMatmul.unpackedNibbleTokens)
        let shapes = [(17, 512, many + 7), (24, 512, many + 7), (40, 512, many + 7), (24, 512, 16), (40, 512, 23), (24, 512, 12), (24, 1536, 20)]
        for (rows, columns, tokens) in shapes {
            let weights = RandomWeights(type: type, rows: rows, columns: columns, seed: UInt64(rows))
            let input = randomActivations(tokens: tokens, columns: columns, seed: 5)
            let results = try pathResults(weights, input, tokens: tokens, paths: paths)
            for result in results.dropFirst() {
                #expect(result == results[0], "\(type) rows \(rows) columns \(columns) tokens \(tokens)")
                #expect(!result.contains(Float.nan.bitPattern))
            }
        }
        #endif
    }

    /// The K formats' extreme integers: Q4_K nibbles 0 and 15 (the AMX tiles' `nibble - 8` at -8 and 7)
    /// with the largest scales and minimums, Q6_K quants -32 and 31 with scale -128, against activation
    /// quants of +-127 everywhere: the largest dots either sign, which the AMX tiles' scaled byte planes
    /// must carry exactly.
    @Test(arguments: [GGMLType.q6_K, .q4_K])
    func extremeKQuantsMatchTheAVX2Tiles(type: GGMLType) throws {
        #if TANDEM_AVX2
        guard InterleavedMatmul.hasVNNI else { return }
        let paths = InterleavedMatmul.hasAMX ? [(false, false), (true, false), (true, true)] : [(false, false), (true, false)]
        let rows = 32, columns = 512
        let weights = RandomWeights(type: type, rows: rows, columns: columns, seed: 3)
        for block in 0..<(rows * columns / 256) {
            let o = block * type.bytesPerBlock, low = (block / (columns / 256)) % 3 == 0
            func fill(_ range: Range<Int>, _ value: UInt8) {
                for i in range { weights.bytes.storeBytes(of: value, toByteOffset: o + i, as: UInt8.self) }
            }
            if type == .q4_K {
                fill(4..<16, 0xFF)  // every sub-block's scale and minimum 63
                fill(16..<144, low ? 0x00 : 0xFF)
            } else {
                fill(0..<192, low ? 0x00 : 0xFF)  // q = -32 or 31
                fill(192..<208, 0x80)  // scales -128
            }
        }
        // One AMX token tile (the group dots) and two (the planes).
        for tokens in [16, 20] {
            let input = (0..<(tokens * columns)).map { i in (i / columns) % 2 == 0 ? Float(1) : -1 }
            let results = try pathResults(weights, input, tokens: tokens, paths: paths)
            for result in results.dropFirst() { #expect(result == results[0], "tokens \(tokens)") }
            #expect(results[0].allSatisfy { Float(bitPattern: $0).isFinite && $0 != 0 })
        }
        #endif
    }

    /// `InterleavedMatmul.run` over `weights` interleaved, once per `(vnni, amx)` path: the outputs' bits.
    private func pathResults(_ weights: RandomWeights, _ input: [Float], tokens: Int, paths: [(Bool, Bool)]) throws -> [[UInt32]] {
        let fused = try #require(WeightMatrix.interleaving([weights.matrix]))
        return paths.map { vnni, amx in
            var got = [Float](repeating: .nan, count: tokens * weights.rows)
            input.withUnsafeBufferPointer { x in
                got.withUnsafeMutableBufferPointer { y in
                    InterleavedMatmul.run(
                        fused, fused.interleaved!, x.baseAddress!, tokens, y.baseAddress!, Self.pool2, MatmulScratch(),
                        vnni: vnni, amx: amx)
                }
            }
            return got.map(\.bitPattern)
        }
    }

    /// Output-head shape sanity: many rows, rows not a multiple of 4.
    @Test func oddRowCountsAndThreads() {
        let weights = RandomWeights(type: .q8_0, rows: 1027, columns: 64, seed: 1)
        let input = randomActivations(tokens: 3, columns: 64, seed: 2)
        let a = runMatmul(weights.matrix, input, tokens: 3, pool: Self.pool1)
        let b = runMatmul(weights.matrix, input, tokens: 3, pool: WorkerPool(threads: 3))
        #expect(a.map(\.bitPattern) == b.map(\.bitPattern))
        #expect(!a.contains { $0.isNaN })
    }
}

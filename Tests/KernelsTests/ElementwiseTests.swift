import Foundation
import Synchronization
import Testing

@testable import Kernels

@Suite struct ElementwiseTests {
    @Test func rmsNormMatchesFormula() {
        let rows = 3, width = 21
        var random = SeededRandom(seed: 9)
        let x = (0..<(rows * width)).map { _ in random.float(-3...3) }
        let w = (0..<width).map { _ in random.float(0.5...1.5) }
        var y = [Float](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                y.withUnsafeMutableBufferPointer { yp in
                    rmsNorm(xp.baseAddress!, weight: wp.baseAddress!, eps: 1e-5, rows: rows, width: width, output: yp.baseAddress!)
                }
            }
        }
        for r in 0..<rows {
            let row = x[(r * width)..<((r + 1) * width)].map(Double.init)
            let scale = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(width) + 1e-5).squareRoot()
            for i in 0..<width {
                let expected = row[i] * scale * Double(w[i])
                #expect(abs(Double(y[r * width + i]) - expected) < 1e-5 * max(1, abs(expected)))
            }
        }
    }

    @Test func siluMulAndAdd() {
        // 19 elements: two full vectors and a tail.
        var gate: [Float] = [-3, -0.5, 0, 0.5, 4, -90, 95, 12, -12, 1e-3, 7, -7, 2, -2, 30, -30, 0.25, -0.25, 60]
        let up: [Float] = (0..<gate.count).map { Float($0 % 5) - 1.5 }
        let expected = zip(gate, up).map { g, u in Double(g) / (1 + Foundation.exp(-Double(g))) * Double(u) }
        gate.withUnsafeMutableBufferPointer { g in
            up.withUnsafeBufferPointer { siluMul(gate: g.baseAddress!, up: $0.baseAddress!, count: g.count, output: g.baseAddress!) }
        }
        for i in gate.indices { #expect(abs(Double(gate[i]) - expected[i]) <= 1e-6 * max(1, abs(expected[i])), "element \(i)") }
        var sum = [Float](repeating: 0, count: gate.count)
        gate.withUnsafeBufferPointer { a in
            up.withUnsafeBufferPointer { b in
                sum.withUnsafeMutableBufferPointer {
                    add(a.baseAddress!, b.baseAddress!, count: a.count, output: $0.baseAddress!)
                }
            }
        }
        #expect(sum == zip(gate, up).map { $0 + $1 })
    }

    /// The 8-lane exp stays within 3 ulp of the exact value over the range softmax and SiLU use.
    @Test func vectorExpMatchesLibm() {
        var worst = 0.0
        var x: Float = -87
        while x < 88 {
            let lanes = SIMD8<Float>((0..<8).map { x + Float($0) * 0.0137 })
            let got = SIMDKernels.exp(lanes)
            for i in 0..<8 {
                let exact = Foundation.exp(Double(lanes[i]))
                worst = max(worst, abs(Double(got[i]) - exact) / exact)
            }
            x += 0.31
        }
        #expect(worst < 3 * Double(Float.ulpOfOne), "worst relative error \(worst)")
        #expect(SIMDKernels.exp(SIMD8(repeating: 0)) == SIMD8(repeating: 1))
        #expect(SIMDKernels.exp(SIMD8(repeating: -.infinity))[0] < 1e-37)
    }

    @Test(arguments: [false, true])
    func ropeMatchesDirectFormula(neox: Bool) {
        let heads = 3, headDim = 8, ropeDims = 6, tokens = 4
        let positions: [Int32] = [0, 1, 17, 5000]
        var random = SeededRandom(seed: 3)
        let original = (0..<(tokens * heads * headDim)).map { _ in random.float(-1...1) }
        var x = original
        x.withUnsafeMutableBufferPointer { xp in
            positions.withUnsafeBufferPointer { pp in
                applyRoPE(
                    xp.baseAddress!, heads: heads, headDim: headDim, positions: pp.baseAddress!, tokens: tokens,
                    base: 10000, ropeDims: ropeDims, neox: neox)
            }
        }
        var tabled = original
        let table = RoPETable(base: 10000, ropeDims: ropeDims, maxPositions: 100)
        tabled.withUnsafeMutableBufferPointer { xp in
            positions.withUnsafeBufferPointer { pp in
                applyRoPE(xp.baseAddress!, heads: heads, headDim: headDim, positions: pp.baseAddress!, tokens: tokens, table: table, neox: neox)
            }
        }
        #expect(x.map(\.bitPattern) == tabled.map(\.bitPattern))
        for t in 0..<tokens {
            for h in 0..<heads {
                let o = (t * heads + h) * headDim
                for i in 0..<(ropeDims / 2) {
                    let theta = Double(positions[t]) * Foundation.pow(10000.0, -2 * Double(i) / Double(ropeDims))
                    let (a, b) = neox ? (o + i, o + i + ropeDims / 2) : (o + 2 * i, o + 2 * i + 1)
                    let ea = Double(original[a]) * Foundation.cos(theta) - Double(original[b]) * Foundation.sin(theta)
                    let eb = Double(original[a]) * Foundation.sin(theta) + Double(original[b]) * Foundation.cos(theta)
                    #expect(abs(Double(x[a]) - ea) < 1e-6 && abs(Double(x[b]) - eb) < 1e-6)
                }
                for d in ropeDims..<headDim { #expect(x[o + d] == original[o + d]) }
            }
        }
    }

    /// With frequency divisors (RoPE scaling), pair i turns by p * base^(-2i/d) / divisor[i], from the
    /// table and past its end alike; without them the table is the unscaled one bit for bit.
    @Test func ropeTableDividesEachFrequency() {
        let ropeDims = 8, positions: [Int32] = [0, 3, 40, 9000]
        let divisors: [Double] = [1, 1.5, 8, 32]
        let scaled = RoPETable(base: 10000, ropeDims: ropeDims, maxPositions: 64, frequencyDivisors: divisors)
        let plain = RoPETable(base: 10000, ropeDims: ropeDims, maxPositions: 64)
        for i in 0..<(ropeDims / 2) {
            #expect(plain.inverseFrequencies[i] == Foundation.pow(10000.0, -2 * Double(i) / Double(ropeDims)))
            #expect(abs(scaled.inverseFrequencies[i] - plain.inverseFrequencies[i] / divisors[i]) < 1e-15)
        }
        let original: [Float] = (0..<(positions.count * ropeDims)).map { Float($0 % 7) - 3 }
        var x = original
        x.withUnsafeMutableBufferPointer { xp in
            positions.withUnsafeBufferPointer { pp in
                applyRoPE(
                    xp.baseAddress!, heads: 1, headDim: ropeDims, positions: pp.baseAddress!, tokens: positions.count,
                    table: scaled, neox: false)
            }
        }
        for (t, p) in positions.enumerated() {
            for i in 0..<(ropeDims / 2) {
                let theta = Double(p) * Foundation.pow(10000.0, -2 * Double(i) / Double(ropeDims)) / divisors[i]
                let a = Double(original[t * ropeDims + 2 * i]), b = Double(original[t * ropeDims + 2 * i + 1])
                #expect(abs(Double(x[t * ropeDims + 2 * i]) - (a * Foundation.cos(theta) - b * Foundation.sin(theta))) < 1e-5)
                #expect(abs(Double(x[t * ropeDims + 2 * i + 1]) - (a * Foundation.sin(theta) + b * Foundation.cos(theta))) < 1e-5)
            }
        }
    }

    @Test func workerPoolRunsEveryIndexOnce() {
        for threads in [1, 2, 3] {
            let pool = WorkerPool(threads: threads)
            #expect(pool.threadCount == threads)
            for count in [0, 1, 2, 7, 1000] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
                hits.initialize(repeating: 0, count: max(1, count))
                defer { hits.deallocate() }
                for _ in 0..<50 {
                    pool.parallelFor(count) { range in for i in range { hits[i] += 1 } }
                }
                for i in 0..<count { #expect(hits[i] == 50) }
            }
            // Chunks pulled by whichever thread is free: every index once, each chunk `grain` items
            // (the last may be short).
            for (count, grain) in [(0, 4), (3, 4), (4, 4), (1000, 16), (1001, 16), (5, 1)] {
                let hits = UnsafeMutablePointer<Int>.allocate(capacity: max(1, count))
                hits.initialize(repeating: 0, count: max(1, count))
                defer { hits.deallocate() }
                let chunks = Atomic<Int>(0)
                for _ in 0..<50 {
                    pool.runChunked(count, grain: grain) { nextChunk in
                        while let range = nextChunk() {
                            #expect(range.count == grain || range.upperBound == count)
                            chunks.add(1, ordering: .relaxed)
                            for i in range { hits[i] += 1 }
                        }
                    }
                }
                for i in 0..<count { #expect(hits[i] == 50) }
                // One thread takes the whole range at once.
                let expected = threads == 1 ? min(count, 1) : (count + grain - 1) / grain
                #expect(chunks.load(ordering: .relaxed) == 50 * expected)
            }
            let seen = Atomic<Int>(0)
            pool.run { index, total in
                #expect(total == threads)
                seen.add(1 << index, ordering: .relaxed)
            }
            #expect(seen.load(ordering: .relaxed) == (1 << threads) - 1)
        }
    }
}

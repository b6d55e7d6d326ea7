import Foundation
import GGUF

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Micro-benchmarks of `matmul` on the default model's shapes (SmolLM2-135M: width 576, ffn 1536,
/// kv width 192, Q4_1 layers, Q8_0 49152-row output head), for `tandem bench kernels`. Matrices are
/// measured in the layout the model uses (interleaved where `WeightMatrix.interleaving` applies).
public enum KernelBenchmark {
    /// One measured shape.
    public struct Result: Sendable {
        /// Weight type.
        public var type: GGMLType
        /// Output rows.
        public var rows: Int
        /// Input columns.
        public var columns: Int
        /// Activation rows.
        public var tokens: Int
        /// Mean seconds per call.
        public var seconds: Double
        /// 2 * rows * columns * tokens / seconds, in 1e9/s.
        public var gflops: Double { 2 * Double(rows * columns * tokens) / seconds / 1e9 }
        /// Weight bytes streamed per second, in 1e9/s.
        public var gigabytesPerSecond: Double {
            Double(rows * (columns / type.blockSize) * type.bytesPerBlock) / seconds / 1e9
        }
    }

    /// The default shapes: (type, rows, columns).
    public static let defaultShapes: [(GGMLType, Int, Int)] = [
        (.q4_1, 576, 576), (.q4_1, 192, 576), (.q4_1, 1536, 576), (.q4_1, 576, 1536), (.q8_0, 49152, 576)
    ]

    /// The other formats at the shapes they take in llama.cpp's Q8_0 and Q4_K_M files of the default
    /// model: block-32 formats at the gate/up shape, K formats at the down shape (1536-wide rows).
    public static let formatShapes: [(GGMLType, Int, Int)] = [
        (.q8_0, 1536, 576), (.q4_0, 1536, 576), (.q5_0, 1536, 576),
        (.q4_K, 576, 1536), (.q5_K, 576, 1536), (.q6_K, 576, 1536)
    ]

    /// `TYPE:ROWSxCOLUMNS,...` (e.g. `q4_0:65536x2048,q6_K:128256x2048`, types as ggml names them, any
    /// case) as (type, rows, columns); nil unless every item names a quantized type Tandem multiplies,
    /// with whole blocks per row and at most 16 GiB of weights.
    public static func shapes(parsing text: String) -> [(GGMLType, Int, Int)]? {
        let items = text.split(separator: ",", omittingEmptySubsequences: false)
        guard !items.isEmpty else { return nil }
        var shapes: [(GGMLType, Int, Int)] = []
        for item in items {
            let parts = item.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2,
                let type = GGMLType.allCases.first(where: { "\($0)".lowercased() == parts[0].lowercased() }),
                type.isSupported, type.blockSize > 1
            else { return nil }
            let sizes = parts[1].split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
            guard sizes.count == 2, let rows = sizes[0], let columns = sizes[1], rows > 0, columns > 0,
                columns % type.blockSize == 0
            else { return nil }
            let (blocks, overflow) = rows.multipliedReportingOverflow(by: columns / type.blockSize)
            guard !overflow, blocks <= (16 << 30) / type.bytesPerBlock else { return nil }
            shapes.append((type, rows, columns))
        }
        return shapes
    }

    /// The instructions the quantized tiles run on this CPU (`TANDEM_NO_AMX=1`, `TANDEM_NO_VNNI=1` turn the wider ones off).
    public static var tileInstructions: String {
        #if TANDEM_AVX2
        InterleavedMatmul.hasAMX ? "AMX + AVX-512 VNNI tiles" : InterleavedMatmul.hasVNNI ? "AVX-512 VNNI tiles" : "AVX2 tiles"
        #else
        "portable tiles"
        #endif
    }

    /// Runs every shape for every token count and returns the results; prints a line per result
    /// through `log` as it goes, then the estimated single-token matvec time of the whole model.
    public static func run(
        pool: WorkerPool, shapes: [(GGMLType, Int, Int)] = defaultShapes,
        tokenCounts: [Int] = [1, 8, 32, 64, 512], minimumSeconds: Double = 0.3,
        log: (String) -> Void = { print($0) }
    ) -> [Result] {
        var results: [Result] = []
        let scratch = MatmulScratch()
        log("type   rows x cols    tokens   ms/call    GFLOP/s    GB/s  (threads \(pool.threadCount), \(tileInstructions))")
        for (type, rows, columns) in shapes {
            let bytes = rows * (columns / type.blockSize) * type.bytesPerBlock
            let weights = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
            defer { weights.deallocate() }
            fillRandomBlocks(weights, type: type, count: rows * columns / type.blockSize)
            let fileLayout = WeightMatrix(type: type, rows: rows, columns: columns, data: weights)
            let matrix = WeightMatrix.interleaving([fileLayout]) ?? fileLayout
            for tokens in tokenCounts {
                let input = UnsafeMutablePointer<Float>.allocate(capacity: tokens * columns)
                let output = UnsafeMutablePointer<Float>.allocate(capacity: tokens * rows)
                defer { input.deallocate(); output.deallocate() }
                for i in 0..<(tokens * columns) { input[i] = Float(i % 17) / 8 - 1 }
                matmul(matrix, input: input, tokens: tokens, output: output, pool: pool, scratch: scratch)
                var iterations = 0
                let start = DispatchTime.now().uptimeNanoseconds
                var elapsed = 0.0
                repeat {
                    matmul(matrix, input: input, tokens: tokens, output: output, pool: pool, scratch: scratch)
                    iterations += 1
                    elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                } while elapsed < minimumSeconds
                let result = Result(
                    type: type, rows: rows, columns: columns, tokens: tokens,
                    seconds: elapsed / Double(iterations))
                results.append(result)
                log(
                    String(
                        format: "%-5@ %6d x %-6d %6d %9.3f %10.1f %7.2f", "\(type)", rows, columns, tokens,
                        result.seconds * 1e3, result.gflops, result.gigabytesPerSecond))
            }
        }
        // Whole model, one token: 30 layers of q, o (576x576), k, v (192x576), gate, up (1536x576),
        // down (576x1536), plus the output head.
        func time(_ rows: Int, _ columns: Int, _ type: GGMLType) -> Double? {
            results.first { $0.rows == rows && $0.columns == columns && $0.type == type && $0.tokens == 1 }?.seconds
        }
        if let square = time(576, 576, .q4_1), let kv = time(192, 576, .q4_1), let up = time(1536, 576, .q4_1),
            let down = time(576, 1536, .q4_1), let head = time(49152, 576, .q8_0)
        {
            let total = 30 * (2 * square + 2 * kv + 2 * up + down) + head
            log(String(format: "single-token matvec, whole model: %.2f ms (%.0f tok/s bound)", total * 1e3, 1 / total))
        }
        #if TANDEM_AVX2
        let peak = maddubsPerSecond(minimumSeconds: minimumSeconds)
        log(
            String(
                format: "vpmaddubsw issue rate, one thread: %.2f G/s = %.0f GFLOP/s per thread at 64 flops each",
                peak / 1e9, peak * 64 / 1e9))
        #endif
        return results
    }

    #if TANDEM_AVX2
    nonisolated(unsafe) static var sink: Int64 = 0

    /// The machine's rate of `vpmaddubsw` (the instruction every quantized product is built on) on the
    /// calling thread: eight independent dependency chains, so only issue throughput limits it.
    public static func maddubsPerSecond(minimumSeconds: Double = 0.3) -> Double {
        var c0 = _mm256_set1_epi8(0), c1 = _mm256_set1_epi8(1), c2 = _mm256_set1_epi8(2), c3 = _mm256_set1_epi8(3)
        var c4 = _mm256_set1_epi8(4), c5 = _mm256_set1_epi8(5), c6 = _mm256_set1_epi8(6), c7 = _mm256_set1_epi8(7)
        let weights = _mm256_set1_epi8(3)
        var count = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var elapsed = 0.0
        repeat {
            for _ in 0..<100_000 {
                c0 = _mm256_maddubs_epi16(weights, c0); c1 = _mm256_maddubs_epi16(weights, c1)
                c2 = _mm256_maddubs_epi16(weights, c2); c3 = _mm256_maddubs_epi16(weights, c3)
                c4 = _mm256_maddubs_epi16(weights, c4); c5 = _mm256_maddubs_epi16(weights, c5)
                c6 = _mm256_maddubs_epi16(weights, c6); c7 = _mm256_maddubs_epi16(weights, c7)
            }
            count += 800_000
            elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        } while elapsed < minimumSeconds
        let mixed = _mm256_xor_si256(
            _mm256_xor_si256(_mm256_xor_si256(c0, c1), _mm256_xor_si256(c2, c3)),
            _mm256_xor_si256(_mm256_xor_si256(c4, c5), _mm256_xor_si256(c6, c7)))
        sink = mixed[0]  // keeps the chains from being optimized away
        return Double(count) / elapsed
    }
    #endif

    /// Fills `count` blocks with random quants and small valid scales.
    static func fillRandomBlocks(_ p: UnsafeMutableRawPointer, type: GGMLType, count: Int) {
        var state: UInt64 = 0x1234_5678
        let bytes = count * type.bytesPerBlock
        for i in 0..<bytes {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            p.storeBytes(of: UInt8(truncatingIfNeeded: state >> 33), toByteOffset: i, as: UInt8.self)
        }
        let scale = Float16(0.01).bitPattern
        for b in 0..<count {
            let o = b * type.bytesPerBlock
            switch type {
            case .f32: p.storeBytes(of: Float(0.01), toByteOffset: o, as: Float.self)
            case .f16, .bf16: p.storeBytes(of: scale, toByteOffset: o, as: UInt16.self)
            case .q6_K: p.storeBytes(of: scale, toByteOffset: o + 208, as: UInt16.self)
            case .q4_1, .q5_1, .q4_K, .q5_K:
                p.storeBytes(of: scale, toByteOffset: o, as: UInt16.self)
                p.storeBytes(of: scale, toByteOffset: o + 2, as: UInt16.self)
            default: p.storeBytes(of: scale, toByteOffset: o, as: UInt16.self)
            }
        }
    }
}

import GGUF
import KernelIntrinsics

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Multiplies `tokens` activation rows by a weight matrix:
/// `output[t * w.rows + r] = Σ_c weight[r][c] * input[t * w.columns + c]`.
///
/// Quantized weights are multiplied with the activations quantized to 8-bit blocks (32 values per block
/// for the 32-element formats, 256 for the K formats) using exact integer dot products per block; the
/// per-block results are accumulated in Float in block order. Float weights (F32, F16, BF16) use the
/// float activations directly. The value for (t, r) is bit-identical whatever `tokens`, the pool size or
/// the work split is (batch invariance), and identical between the AVX2 and portable builds.
///
/// - Parameters:
///   - w: the weight matrix.
///   - input: `tokens * w.columns` floats.
///   - tokens: number of activation rows (may be 0).
///   - output: room for `tokens * w.rows` floats.
///   - pool: the worker pool that runs the product.
///   - scratch: reusable memory for the quantized activations.
public func matmul(
    _ w: WeightMatrix, input: UnsafePointer<Float>, tokens: Int, output: UnsafeMutablePointer<Float>,
    pool: WorkerPool, scratch: MatmulScratch
) {
    guard tokens > 0, w.rows > 0 else { return }
    #if TANDEM_AVX2
    if let packed = w.interleaved {
        InterleavedMatmul.run(w, packed, input, tokens, output, pool, scratch)
        return
    }
    #endif
    switch w.type {
    case .q4_0: QuantizedMatmul.run(Q4_0Format.self, w, input, tokens, output, pool, scratch)
    case .q4_1: QuantizedMatmul.run(Q4_1Format.self, w, input, tokens, output, pool, scratch)
    case .q5_0: QuantizedMatmul.run(Q5_0Format.self, w, input, tokens, output, pool, scratch)
    case .q5_1: QuantizedMatmul.run(Q5_1Format.self, w, input, tokens, output, pool, scratch)
    case .q8_0: QuantizedMatmul.run(Q8_0Format.self, w, input, tokens, output, pool, scratch)
    case .q4_K, .q5_K, .q6_K: KQuantMatmul.run(w, input, tokens, output, pool, scratch)
    case .f32, .f16, .bf16: FloatMatmul.run(w, input, tokens, output, pool)
    default: preconditionFailure("matmul does not support \(w.type)")
    }
}

/// Quantizes the activations of a call into `scratch`, in parallel over tokens when there are many.
func quantizeActivations(
    _ input: UnsafePointer<Float>, tokens: Int, columns: Int, blockSize: Int,
    pool: WorkerPool, scratch: MatmulScratch
) -> QuantizedActivations {
    let activations = scratch.activations(tokens: tokens, columns: columns, blockSize: blockSize)
    if tokens < 4 {
        ActivationQuantizer.quantize(input, tokens: 0..<tokens, into: activations)
    } else {
        pool.parallelFor(tokens) { range in
            ActivationQuantizer.quantize(input, tokens: range, into: activations)
        }
    }
    return activations
}

/// Calls `body(group, firstToken, tokenCount)` for every row group of `groups` and every tile of up
/// to `width` tokens, chunk by chunk: each chunk of `groupsPerChunk` groups sweeps all the token tiles while
/// its weights stay in cache.
@inline(__always)
func forEachTile(groups: Range<Int>, groupsPerChunk: Int, tokens: Int, width: Int = 4, _ body: (Int, Int, Int) -> Void) {
    var chunkStart = groups.lowerBound
    while chunkStart < groups.upperBound {
        let chunkEnd = min(chunkStart + groupsPerChunk, groups.upperBound)
        var token = 0
        while token < tokens {
            let count = min(width, tokens - token)
            for group in chunkStart..<chunkEnd { body(group, token, count) }
            token += count
        }
        chunkStart = chunkEnd
    }
}

/// `forEachTile` over weights that start at `weights` and take `bytesPerGroup` bytes per group: when
/// a chunk is swept more than once, its tiles also prefetch the next chunk of the range, a slice each,
/// so that its first sweep finds it in the second-level cache instead of waiting for memory. One sweep
/// (up to `width` tokens) takes the plain loop.
@inline(__always)
func forEachTile(
    groups: Range<Int>, groupsPerChunk: Int, tokens: Int, width: Int = 4, weights: UnsafeRawPointer,
    bytesPerGroup: Int, _ body: (Int, Int, Int) -> Void
) {
    guard tokens > width else {
        forEachTile(groups: groups, groupsPerChunk: groupsPerChunk, tokens: tokens, width: width, body)
        return
    }
    let sweeps = (tokens + width - 1) / width
    var chunkStart = groups.lowerBound
    while chunkStart < groups.upperBound {
        let chunkEnd = min(chunkStart + groupsPerChunk, groups.upperBound)
        let nextEnd = min(chunkEnd + groupsPerChunk, groups.upperBound)
        var ahead = PrefetchSlices(
            weights + chunkEnd * bytesPerGroup, bytes: (nextEnd - chunkEnd) * bytesPerGroup,
            slices: (chunkEnd - chunkStart) * sweeps)
        var token = 0
        while token < tokens {
            let count = min(width, tokens - token)
            for group in chunkStart..<chunkEnd {
                body(group, token, count)
                ahead.next()
            }
            token += count
        }
        chunkStart = chunkEnd
    }
}

/// A range of bytes prefetched into the second-level cache a slice at a time, between the tiles that
/// work on the bytes before it.
struct PrefetchSlices {
    private var line: UnsafeRawPointer?
    private var end: UnsafeRawPointer?
    private var linesPerSlice = 0

    /// `bytes` from `start` in `slices` slices of whole cache lines.
    init(_ start: UnsafeRawPointer, bytes: Int, slices: Int) {
        guard bytes > 0, slices > 0 else { return }
        line = start
        end = start + bytes
        linesPerSlice = (bytes / 64 + slices) / slices
    }

    /// Prefetches the next slice; returns how many cache lines it asked for (none once the range is done).
    @inline(__always) @discardableResult
    mutating func next() -> Int {
        guard var current = line, let end else { return 0 }
        var lines = 0
        while lines < linesPerSlice && current < end {
            tandem_prefetch_l2(current)
            current += 64
            lines += 1
        }
        line = current
        return lines
    }
}

/// The matrix product for the 32-element block formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
///
/// Work unit: 4 rows x up to 4 tokens. Per (row, token) the accumulation is, block by block,
/// `acc = fma(weightScale * activationScale, Float(exact integer block dot), acc)` and, for formats
/// with a minimum, `acc = fma(weightMinimum, activationScale * Σ activationQuants, acc)`.
enum QuantizedMatmul {
    /// Row groups (of 4 rows) processed together for all token tiles, to keep weights in L1.
    static let groupsPerChunk = 8

    static func run<F: Block32Format>(
        _ format: F.Type, _ w: WeightMatrix, _ input: UnsafePointer<Float>, _ tokens: Int,
        _ output: UnsafeMutablePointer<Float>, _ pool: WorkerPool, _ scratch: MatmulScratch
    ) {
        let activations = quantizeActivations(
            input, tokens: tokens, columns: w.columns, blockSize: 32,
            pool: pool, scratch: scratch)
        let rowGroups = (w.rows + 3) / 4
        pool.parallelFor(rowGroups) { groups in
            forEachTile(groups: groups, groupsPerChunk: groupsPerChunk, tokens: tokens) { group, token, count in
                tile(format, w, activations, rowStart: group * 4, token: token, count: count, output: output)
            }
        }
    }

    /// Computes rows `rowStart..<rowStart+4` (clipped to the matrix) for tokens `token..<token+count`.
    @inline(__always)
    static func tile<F: Block32Format>(
        _ format: F.Type, _ w: WeightMatrix, _ a: QuantizedActivations, rowStart: Int,
        token: Int, count: Int, output: UnsafeMutablePointer<Float>
    ) {
        #if TANDEM_AVX2
        switch count {
        case 1: tileAVX2(format, w, a, rowStart: rowStart, token: token, count: 1, output: output)
        case 2: tileAVX2(format, w, a, rowStart: rowStart, token: token, count: 2, output: output)
        case 3: tileAVX2(format, w, a, rowStart: rowStart, token: token, count: 3, output: output)
        default: tileAVX2(format, w, a, rowStart: rowStart, token: token, count: 4, output: output)
        }
        #else
        tilePortable(format, w, a, rowStart: rowStart, token: token, count: count, output: output)
        #endif
    }

    /// Portable reference tile (also the definition of the result bits).
    static func tilePortable<F: Block32Format>(
        _ format: F.Type, _ w: WeightMatrix, _ a: QuantizedActivations,
        rowStart: Int, token: Int, count: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let blocks = w.columns / 32
        withUnsafeTemporaryAllocation(of: Int8.self, capacity: 32) { buffer in
            let q = buffer.baseAddress.unsafelyUnwrapped
            for row in rowStart..<min(rowStart + 4, w.rows) {
                let rowData = w.data + row * w.rowBytes
                for t in token..<(token + count) {
                    var acc: Float = 0
                    for b in 0..<blocks {
                        let block = rowData + b * F.blockBytes
                        F.quants(block, into: q)
                        let aq = a.quants + t * w.columns + b * 32
                        var isum: Int32 = 0
                        for i in 0..<32 { isum &+= Int32(q[i]) * Int32(aq[i]) }
                        let scale = F.scale(block) * a.scales[t * blocks + b]
                        acc = acc.addingProduct(scale, Float(isum))
                        if F.hasMinimum {
                            acc = acc.addingProduct(F.minimum(block), a.sums[t * blocks + b])
                        }
                    }
                    output[t * w.rows + row] = acc
                }
            }
        }
    }

    #if TANDEM_AVX2
    @inline(__always)
    static func tileAVX2<F: Block32Format>(
        _ format: F.Type, _ w: WeightMatrix, _ a: QuantizedActivations,
        rowStart: Int, token: Int, count: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let blocks = w.columns / 32
        let last = w.rows - 1
        let r0 = w.data + min(rowStart, last) * w.rowBytes
        let r1 = w.data + min(rowStart + 1, last) * w.rowBytes
        let r2 = w.data + min(rowStart + 2, last) * w.rowBytes
        let r3 = w.data + min(rowStart + 3, last) * w.rowBytes
        var acc0 = SIMD4<Float>.zero, acc1 = SIMD4<Float>.zero, acc2 = SIMD4<Float>.zero, acc3 = SIMD4<Float>.zero
        let columns = w.columns
        for b in 0..<blocks {
            let offset = b * F.blockBytes
            let b0 = r0 + offset, b1 = r1 + offset, b2 = r2 + offset, b3 = r3 + offset
            let w0 = F.quantVector(b0), w1 = F.quantVector(b1), w2 = F.quantVector(b2), w3 = F.quantVector(b3)
            let dw = SIMD4<Float>(F.scale(b0), F.scale(b1), F.scale(b2), F.scale(b3))
            let mw = F.hasMinimum ? SIMD4<Float>(F.minimum(b0), F.minimum(b1), F.minimum(b2), F.minimum(b3)) : .zero
            let m0 = F.unsignedQuants ? w0 : _mm256_sign_epi8(w0, w0)
            let m1 = F.unsignedQuants ? w1 : _mm256_sign_epi8(w1, w1)
            let m2 = F.unsignedQuants ? w2 : _mm256_sign_epi8(w2, w2)
            let m3 = F.unsignedQuants ? w3 : _mm256_sign_epi8(w3, w3)
            let ones = _mm256_set1_epi16(1)

            @inline(__always)
            func step(_ t: Int, _ acc: SIMD4<Float>) -> SIMD4<Float> {
                let av = SIMDKernels.load256(a.quants + t * columns + b * 32)
                let p0, p1, p2, p3: __m256i
                if F.unsignedQuants {
                    p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(m0, av), ones)
                    p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(m1, av), ones)
                    p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(m2, av), ones)
                    p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(m3, av), ones)
                } else {
                    p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(m0, _mm256_sign_epi8(av, w0)), ones)
                    p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(m1, _mm256_sign_epi8(av, w1)), ones)
                    p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(m2, _mm256_sign_epi8(av, w2)), ones)
                    p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(m3, _mm256_sign_epi8(av, w3)), ones)
                }
                let sums = _mm_cvtepi32_ps(SIMDKernels.horizontalSums(p0, p1, p2, p3))
                let scale = dw * SIMD4<Float>(repeating: a.scales[t * blocks + b])
                var result = _mm_fmadd_ps(scale, sums, acc)
                if F.hasMinimum {
                    result = _mm_fmadd_ps(mw, SIMD4<Float>(repeating: a.sums[t * blocks + b]), result)
                }
                return result
            }
            acc0 = step(token, acc0)
            if count > 1 { acc1 = step(token + 1, acc1) }
            if count > 2 { acc2 = step(token + 2, acc2) }
            if count > 3 { acc3 = step(token + 3, acc3) }
        }
        let valid = min(4, w.rows - rowStart)
        @inline(__always)
        func store(_ t: Int, _ acc: SIMD4<Float>) {
            let out = output + t * w.rows + rowStart
            if valid == 4 {
                UnsafeMutableRawPointer(out).storeBytes(of: acc, as: SIMD4<Float>.self)
            } else {
                for i in 0..<valid { out[i] = acc[i] }
            }
        }
        store(token, acc0)
        if count > 1 { store(token + 1, acc1) }
        if count > 2 { store(token + 2, acc2) }
        if count > 3 { store(token + 3, acc3) }
    }
    #endif
}

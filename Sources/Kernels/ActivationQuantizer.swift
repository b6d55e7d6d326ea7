#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Quantizes float activations to Int8 blocks (the Q8_0 / Q8_K idea, with Float scales).
///
/// Each block of `blockSize` values gets `scale = max|x| / 127` and `quant = round(x * 127 / max|x|)`
/// (round half to even). Every token is quantized on its own, so the result for a token never depends
/// on the other tokens of the batch. The AVX2 and portable paths produce identical bits.
enum ActivationQuantizer {
    /// Quantizes tokens `range` of `input` (row stride `columns`) into `output`.
    static func quantize(_ input: UnsafePointer<Float>, tokens range: Range<Int>, into output: QuantizedActivations) {
        let columns = output.columns
        let blockSize = output.blockSize
        let blocks = columns / blockSize
        for token in range {
            let row = input + token * columns
            let quants = output.quants + token * columns
            for block in 0..<blocks {
                let start = block * blockSize
                let (scale, sum) = quantizeBlock(row + start, count: blockSize, into: quants + start)
                output.scales[token * blocks + block] = scale
                output.sums[token * blocks + block] = scale * Float(sum)
                output.integerSums[token * blocks + block] = sum
            }
            // Sums of 32 quants (the K formats' minimum terms) and -32 x the sums of 16 (Q6_K's VNNI tile).
            if blockSize == 32 { continue }
            let subBlockSums = output.subBlockSums + token * (columns / 32)
            let groupOffsets = output.groupOffsets + token * (columns / 16)
            for subBlock in 0..<(columns / 32) {
                var first: Int16 = 0, second: Int16 = 0
                for i in 0..<16 {
                    first &+= Int16(quants[subBlock * 32 + i])
                    second &+= Int16(quants[subBlock * 32 + 16 + i])
                }
                subBlockSums[subBlock] = first &+ second
                groupOffsets[2 * subBlock] = -32 &* Int32(first)
                groupOffsets[2 * subBlock + 1] = -32 &* Int32(second)
            }
        }
    }

    /// Quantizes `count` (a multiple of 32) values; returns the scale and the exact sum of the quants.
    @inline(__always)
    static func quantizeBlock(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>) -> (Float, Int32) {
        #if TANDEM_AVX2
        let signMask = _mm256_set1_ps(-0.0)
        var maxVector = _mm256_setzero_ps()
        var i = 0
        while i < count {
            maxVector = _mm256_max_ps(maxVector, _mm256_andnot_ps(signMask, _mm256_loadu_ps(x + i)))
            i += 8
        }
        var amax: Float = 0  // (SIMD's generic .max() is not inlined: a call per block)
        for lane in 0..<8 { amax = Swift.max(amax, maxVector[lane]) }
        let scale = amax / 127
        let inverse: Float = amax != 0 ? 127 / amax : 0
        let mul = _mm256_set1_ps(inverse)
        let permutation = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)
        var sumVector = _mm256_setzero_si256()
        let ones = _mm256_set1_epi8(1)
        var j = 0
        while j < count {
            let i0 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), mul))
            let i1 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 8), mul))
            let i2 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 16), mul))
            let i3 = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j + 24), mul))
            let p01 = _mm256_packs_epi32(i0, i1)
            let p23 = _mm256_packs_epi32(i2, i3)
            let packed = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(p01, p23), permutation)
            _mm256_storeu_si256(UnsafeMutableRawPointer(q + j).assumingMemoryBound(to: __m256i.self), packed)
            // Sum of quants: sign-extend via maddubs(1, q) (pairs) then madd with ones (quads).
            let pairs = _mm256_maddubs_epi16(ones, packed)
            sumVector = _mm256_add_epi32(sumVector, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
            j += 32
        }
        let sum = SIMDKernels.horizontalSum(sumVector)
        return (scale, sum)
        #else
        return quantizeBlockPortable(x, count: count, into: q)
        #endif
    }

    /// The portable definition of `quantizeBlock` (the AVX2 path must match it bit for bit).
    static func quantizeBlockPortable(_ x: UnsafePointer<Float>, count: Int, into q: UnsafeMutablePointer<Int8>) -> (Float, Int32) {
        var amax: Float = 0
        for i in 0..<count { amax = max(amax, abs(x[i])) }
        let scale = amax / 127
        let inverse: Float = amax != 0 ? 127 / amax : 0
        var sum: Int32 = 0
        for i in 0..<count {
            let value = (x[i] * inverse).rounded(.toNearestOrEven)
            let quant = Int8(max(-128, min(127, value)))
            q[i] = quant
            sum &+= Int32(quant)
        }
        return (scale, sum)
    }
}

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Small shared SIMD helpers with a fixed, documented reduction order (so every caller that reduces
/// the same lanes gets the same bits).
public enum SIMDKernels {
    /// Sum of 8 float lanes in a fixed order: ((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7)).
    @inline(__always)
    static func horizontalSum(_ v: SIMD8<Float>) -> Float {
        let half = v.lowHalf + v.highHalf  // (l0+l4, l1+l5, l2+l6, l3+l7)
        let quarter = half.lowHalf + half.highHalf  // (h0+h2, h1+h3)
        return quarter[0] + quarter[1]
    }

    /// The sums of four 8-lane vectors (lane i = Σ lanes of the i-th), each reduced in a fixed order:
    /// ((l0+l1)+(l2+l3)) + ((l4+l5)+(l6+l7)).
    @inline(__always)
    static func horizontalSums(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>, _ d: SIMD8<Float>) -> SIMD4<Float> {
        #if TANDEM_AVX2
        let all: SIMD8<Float> = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d))
        return all.lowHalf + all.highHalf
        #else
        func sum(_ v: SIMD8<Float>) -> Float { ((v[0] + v[1]) + (v[2] + v[3])) + ((v[4] + v[5]) + (v[6] + v[7])) }
        return SIMD4(sum(a), sum(b), sum(c), sum(d))
        #endif
    }

    #if TANDEM_AVX2
    /// Exact sum of the 8 Int32 lanes (wrapping).
    @inline(__always)
    static func horizontalSum(_ v: __m256i) -> Int32 {
        let lanes = unsafeBitCast(v, to: SIMD8<Int32>.self)
        return lanes.wrappedSum()
    }

    /// Exact Int32 sums of four 8-lane vectors: result lane i = Σ lanes of `vi`.
    @inline(__always)
    static func horizontalSums(_ v0: __m256i, _ v1: __m256i, _ v2: __m256i, _ v3: __m256i) -> __m128i {
        let s01 = _mm256_hadd_epi32(v0, v1)
        let s23 = _mm256_hadd_epi32(v2, v3)
        let s = _mm256_hadd_epi32(s01, s23)
        return _mm_add_epi32(_mm256_castsi256_si128(s), high128(s))
    }

    /// Products of 32 signed bytes summed in groups of four into 8 Int32 lanes (exact).
    @inline(__always)
    static func dotSigned(_ w: __m256i, _ a: __m256i) -> __m256i {
        let magnitude = _mm256_sign_epi8(w, w)
        let signed = _mm256_sign_epi8(a, w)
        return _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, signed), _mm256_set1_epi16(1))
    }

    /// Like `dotSigned` for weights in 0...127 (no sign fix-up needed).
    @inline(__always)
    static func dotUnsigned(_ w: __m256i, _ a: __m256i) -> __m256i {
        _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1))
    }

    /// Loads 16 bytes and splits them into 32 nibbles: bytes 0-15 = low nibbles, 16-31 = high nibbles.
    @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> __m256i {
        let bytes = _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self))
        let mask = _mm_set1_epi8(0x0F)
        let low = _mm_and_si128(bytes, mask)
        let high = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask)
        return _mm256_set_m128i(high, low)
    }

    /// Expands 32 bits into 32 bytes: byte i = 0xFF if bit i is set, else 0.
    @inline(__always)
    static func bitsToBytes(_ bits: UInt32) -> __m256i {
        let shuffle = _mm256_setr_epi64x(
            0x0000_0000_0000_0000, 0x0101_0101_0101_0101,
            0x0202_0202_0202_0202, 0x0303_0303_0303_0303)
        var v = _mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: bits)), shuffle)
        v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbf_dfef_f7fb_fdfe))
        return _mm256_cmpeq_epi8(v, _mm256_set1_epi64x(-1))
    }

    /// The upper 128 bits of a 256-bit integer vector.
    @inline(__always)
    static func high128(_ v: __m256i) -> __m128i {
        v.highHalf
    }

    @inline(__always)
    static func load256(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    }
    #endif

    /// e^x for 8 lanes (Cephes' single-precision polynomial, within 2 ulp of the exact value for
    /// x in [-87, 88]; inputs below -87 give e^-87, so -infinity gives a tiny positive number).
    @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        #if TANDEM_AVX2
        let clamped = _mm256_min_ps(_mm256_max_ps(x, SIMD8(repeating: -87)), SIMD8(repeating: 88))
        let whole = _mm256_cvtps_epi32(clamped * 1.442_695_04)  // to nearest even
        let n = _mm256_cvtepi32_ps(whole)
        #else
        let clamped = x.clamped(lowerBound: SIMD8(repeating: -87), upperBound: SIMD8(repeating: 88))
        var n = clamped * 1.442_695_04
        for i in 0..<8 { n[i] = n[i].rounded(.toNearestOrEven) }
        #endif
        var r = clamped.addingProduct(n, SIMD8(repeating: -0.693_359_375))
        r = r.addingProduct(n, SIMD8(repeating: 2.121_944_4e-4))
        var p = SIMD8(repeating: 1.398_199_95e-3).addingProduct(SIMD8(repeating: 1.987_569_15e-4), r)
        p = SIMD8(repeating: 8.333_451_9e-3).addingProduct(p, r)
        p = SIMD8(repeating: 4.166_579_59e-2).addingProduct(p, r)
        p = SIMD8(repeating: 1.666_666_55e-1).addingProduct(p, r)
        p = SIMD8(repeating: 5.000_000_12e-1).addingProduct(p, r)
        let y = (r + 1).addingProduct(p, r * r)
        #if TANDEM_AVX2
        let exponent = _mm256_slli_epi32(_mm256_add_epi32(whole, _mm256_set1_epi32(127)), 23)
        #else
        var exponent = SIMD8<Int32>()
        for i in 0..<8 { exponent[i] = (Int32(n[i]) + 127) << 23 }
        #endif
        return y * unsafeBitCast(exponent, to: SIMD8<Float>.self)
    }

    /// Reads an IEEE half at `p` (unaligned) as Float.
    @inline(__always)
    static func half(_ p: UnsafeRawPointer) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(as: UInt16.self)))
    }
}

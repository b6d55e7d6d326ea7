// Helpers that the VNNI pair tiles (VNNITiles.c) and the AMX tiles (AMXTiles.c) share: reading two
// adjacent row groups' per-row values into one 512-bit vector (lanes 0-7 the first group's rows, 8-15
// the second's). x86-64 only; included by those files, not part of the module's interface.
#ifndef TANDEM_PAIR_HELPERS_H
#define TANDEM_PAIR_HELPERS_H
#include <immintrin.h>
#include <stdint.h>

#define VNNI_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni")))

/// Sixteen bytes: 8 at `first` then 8 at `second`.
VNNI_TARGET static inline __attribute__((always_inline)) __m128i two_halves(const uint8_t *first, const uint8_t *second) {
    return _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)first), _mm_loadl_epi64((const __m128i *)second));
}

/// Sixteen f16 values, 8 at `first` then 8 at `second`, as floats.
VNNI_TARGET static inline __attribute__((always_inline)) __m512 halves_ps(const uint8_t *first, const uint8_t *second) {
    return _mm512_cvtph_ps(_mm256_setr_m128i(_mm_loadu_si128((const __m128i *)first), _mm_loadu_si128((const __m128i *)second)));
}

/// Lane r's pair of 16-bit minimums (sub-blocks 2i and 2i + 1 of row r) for the 16 rows of two Q4_K
/// row groups, from each group's 16 minimum bytes at `first` and `second`.
VNNI_TARGET static inline __attribute__((always_inline)) __m512i minimum_pairs(const uint8_t *first, const uint8_t *second) {
    __m128i pairs0 = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)first), _mm_loadl_epi64((const __m128i *)(first + 8)));
    __m128i pairs1 = _mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)second), _mm_loadl_epi64((const __m128i *)(second + 8)));
    return _mm512_cvtepi8_epi16(_mm256_setr_m128i(pairs0, pairs1));
}

/// Two consecutive Int16 activation sub-block sums at `sums`, in every 32-bit lane.
VNNI_TARGET static inline __attribute__((always_inline)) __m512i sum_pair(const int16_t *sums) {
    int32_t two;
    __builtin_memcpy(&two, sums, 4);
    return _mm512_set1_epi32(two);
}

/// A Q4_K pair's float work after a block's integers (`scaled`), for `tokens` tokens: `d x da x scaled -
/// dmin x da x Σ minimum x sub-block sum`, operation for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void q4k_block_floats(
    __m512 *acc, const __m512i *scaled, const uint8_t *first, const uint8_t *second, int b, int blocks,
    const float *scales, const int16_t *subBlockSums, int columns, const int tokens) {
    enum { D = 0, DMIN = 16, MINIMUMS = 96 };
    __m512 d = halves_ps(first + D, second + D), dmin = halves_ps(first + DMIN, second + DMIN);
    __m512i m[4];
    for (int i = 0; i < 4; i++) m[i] = minimum_pairs(first + MINIMUMS + 16 * i, second + MINIMUMS + 16 * i);
    for (int t = 0; t < tokens; t++) {
        __m512 da = _mm512_set1_ps(scales[t * blocks + b]);
        __m512 result = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(scaled[t]), acc[t]);
        const int16_t *sums = subBlockSums + (long)t * (columns / 32) + b * 8;
        __m512i minimumSum = _mm512_madd_epi16(m[0], sum_pair(sums));
        for (int j = 1; j < 4; j++) minimumSum = _mm512_dpwssd_epi32(minimumSum, m[j], sum_pair(sums + 2 * j));
        __m512 negated = _mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(dmin, da));
        acc[t] = _mm512_fmadd_ps(negated, _mm512_cvtepi32_ps(minimumSum), result);
    }
}
#endif

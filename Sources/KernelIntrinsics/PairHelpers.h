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

/// Block `b` of two adjacent Q4_1 or Q4_0 row groups' nibbles (quants from `quantStart` in each block)
/// minus `bias`, as bytes, 16 rows side by side: 512 bytes at `out + 512 * b`, columns `4c ..< 4c + 4`
/// (chunk `c`) at `64 * c`, the first group's 32 bytes then the second's.
VNNI_TARGET static inline __attribute__((always_inline)) void nibble_unpack_block(
    const uint8_t *group, long groupStride, int b, int bytesPerBlock, int quantStart, int bias, uint8_t *out) {
    const __m512i mask = _mm512_set1_epi8(0x0F), biases = _mm512_set1_epi8((char)bias);
    const uint8_t *first = group + (long)b * bytesPerBlock + quantStart, *second = first + groupStride;
    uint8_t *chunks = out + (long)b * 512;
    for (int k = 0; k < 4; k++) {
        // Both groups' 32 bytes of chunk k in one vector: the unpacked chunk's layout.
        __m512i raw = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(first + 32 * k))),
                                         _mm256_loadu_si256((const __m256i *)(second + 32 * k)), 1);
        _mm512_storeu_si512((void *)(chunks + 64 * k), _mm512_sub_epi8(_mm512_and_si512(raw, mask), biases));
        _mm512_storeu_si512((void *)(chunks + 64 * (k + 4)),
                            _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi16(raw, 4), mask), biases));
    }
}

/// Block `b` of two adjacent Q6_K row groups, their stored bytes `u = q + 32` put back together as
/// `q6k_tile` does, minus `bias`, 16 rows side by side: 4,096 bytes at `out + 4096 * b`, chunk (`g`, `k`)
/// at `64 * (4 * g + k)`, the first group's 32 bytes then the second's.
VNNI_TARGET static inline __attribute__((always_inline)) void q6k_unpack_block(
    const uint8_t *group, long groupStride, int b, int bytesPerBlock, int bias, uint8_t *out) {
    enum { NIBBLES = 144, BITS = 1168 };
    const __m256i mask = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30), biases = _mm256_set1_epi8((char)bias);
    for (int half = 0; half < 2; half++) {
        const uint8_t *block = group + half * groupStride + (long)b * bytesPerBlock;
        for (int g = 0; g < 16; g++) {
            __m256i bits = _mm256_loadu_si256((const __m256i *)(block + BITS + 32 * g));
            for (int k = 0; k < 4; k++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(block + NIBBLES + 32 * (4 * (g % 8) + k)));
                __m256i nibble = g < 8 ? _mm256_and_si256(raw, mask) : _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
                __m256i high = k < 2 ? _mm256_slli_epi16(bits, 4 - 2 * k) : k == 2 ? bits : _mm256_srli_epi16(bits, 2);
                _mm256_storeu_si256((__m256i *)(out + (long)b * 4096 + 64 * (4 * g + k) + 32 * half),
                                    _mm256_sub_epi8(_mm256_or_si256(nibble, _mm256_and_si256(high, top)), biases));
            }
        }
    }
}

/// Block `b` of two adjacent Q4_K row groups (`InterleavedWeights.Q4KLayout`), nibbles as bytes, 16 rows
/// side by side: 4,096 bytes at `out + 4096 * b`, columns `4c ..< 4c + 4` of the block (chunk `c`) at
/// `64 * c`, the first group's 32 bytes then the second's.
VNNI_TARGET static inline __attribute__((always_inline)) void q4k_unpack_block(
    const uint8_t *group, long groupStride, int b, int bytesPerBlock, uint8_t *out) {
    enum { QUANTS = 160 };
    const __m256i mask = _mm256_set1_epi8(0x0F);
    for (int half = 0; half < 2; half++) {
        const uint8_t *block = group + half * groupStride + (long)b * bytesPerBlock;
        uint8_t *chunks = out + (long)b * 4096 + 32 * half;
        for (int j = 0; j < 4; j++) {
            for (int k = 0; k < 8; k++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(block + QUANTS + 32 * (8 * j + k)));
                _mm256_storeu_si256((__m256i *)(chunks + 64 * (16 * j + k)), _mm256_and_si256(raw, mask));
                _mm256_storeu_si256((__m256i *)(chunks + 64 * (16 * j + 8 + k)),
                                    _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask));
            }
        }
    }
}
#endif

// Interleaved Q4_1, Q4_0 (nibbles), Q8_0, Q5_0, Q4_K, Q5_K and Q6_K tiles with AVX-512 VNNI (`vpdpbusd` on 256-bit vectors), chosen at run
// time on CPUs that have it. Swift compiles the kernels for one target (x86-64-v3) and has no
// per-function target attribute or run-time dispatch of instruction sets, so these few functions are C.
//
// They compute the same integers as the AVX2 tiles in `InterleavedMatmul` and then the same float
// operations in the same order, so results are bit-identical (tested against the AVX2 path).
#include "KernelIntrinsics.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "PairHelpers.h"
/// Calls CASE(n) with the token count as a constant (1 to 6), so each count gets its own unrolled tile.
#define FOR_TOKENS(CASE)                                                                                                      \
    switch (tokens) {                                                                                                         \
    case 1: CASE(1); break;                                                                                                   \
    case 2: CASE(2); break;                                                                                                   \
    case 3: CASE(3); break;                                                                                                   \
    case 4: CASE(4); break;                                                                                                   \
    case 5: CASE(5); break;                                                                                                   \
    default: CASE(6); break;                                                                                                  \
    }

int tandem_has_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw");
}

/// Four activation bytes broadcast to every 32-bit lane.
VNNI_TARGET static inline __attribute__((always_inline)) __m256i broadcast4(const int8_t *p) {
    int32_t v;
    __builtin_memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/// Writes the `valid` first lanes of `v` (all 8 when the group is full).
VNNI_TARGET static inline __attribute__((always_inline)) void store_rows(float *out, __m256 v, int valid) {
    if (valid == 8) {
        _mm256_storeu_ps(out, v);
    } else {
        float lanes[8];
        _mm256_storeu_ps(lanes, v);
        for (int i = 0; i < valid; i++) out[i] = lanes[i];
    }
}

/// Writes each token's accumulator to its `valid` rows (token `t`'s at `out + t * rows`).
VNNI_TARGET static inline __attribute__((always_inline)) void store_tokens(float *out, const __m256 *acc, int tokens,
                                                                         int rows, int valid) {
    for (int t = 0; t < tokens; t++) store_rows(out + (long)t * rows, acc[t], valid);
}

/// Adds each token's group dot, weighed by the 8 rows' signed group scales at `groupScales`, to `scaled`
/// (one `vpmulld` per token: the exact integers the AVX2 tiles get from `madd`).
VNNI_TARGET static inline __attribute__((always_inline)) void add_weighted(__m256i *scaled, const __m256i *dots,
                                                                         const uint8_t *groupScales, int tokens) {
    __m256i scale = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)groupScales));
    for (int t = 0; t < tokens; t++) scaled[t] = _mm256_add_epi32(scaled[t], _mm256_mullo_epi32(dots[t], scale));
}

/// One byte per column: Q8_0's signed bytes, where `w ^ 0x80` is `w + 128` as an unsigned byte, or
/// Q4_0/Q5_0's stored `q + offset` (0...31, `flip` 0). `vpdpbusd` sums `(w + offset) * a` exactly in
/// 32 bits, and starting the sum at `-offset * Σ a` (the block's activation sum) leaves `Σ w * a`.
VNNI_TARGET static inline __attribute__((always_inline)) void byte_tile(const uint8_t *group, int blocks, int bytesPerBlock,
                                         const int8_t *quants, int columns, const float *scales,
                                         const int32_t *integerSums, uint8_t flipBits, int32_t offset,
                                         const int tokens, float *out, int rows, int valid) {
    const __m256i flip = _mm256_set1_epi8((char)flipBits);
    __m256 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (long)b * bytesPerBlock;
        __m256i even[6], odd[6];
        for (int t = 0; t < tokens; t++) {
            // `- offset * Σ a` is the even sum's starting value.
            even[t] = _mm256_set1_epi32(-offset * integerSums[t * blocks + b]);
            odd[t] = _mm256_setzero_si256();
        }
        for (int k = 0; k < 8; k += 2) {
            __m256i w0 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(block + 16 + 32 * k)), flip);
            __m256i w1 = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(block + 48 + 32 * k)), flip);
            for (int t = 0; t < tokens; t++) {
                const int8_t *x = quants + (long)t * columns + b * 32 + 4 * k;
                even[t] = _mm256_dpbusd_epi32(even[t], w0, broadcast4(x));
                odd[t] = _mm256_dpbusd_epi32(odd[t], w1, broadcast4(x + 4));
            }
        }
        __m256 weightScales = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)block));
        for (int t = 0; t < tokens; t++) {
            __m256i dots = _mm256_add_epi32(even[t], odd[t]);
            __m256 scale = _mm256_mul_ps(weightScales, _mm256_set1_ps(scales[t * blocks + b]));
            acc[t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(dots), acc[t]);
        }
    }
    store_tokens(out, acc, tokens, rows, valid);
}

#define BYTE_CASE(T) byte_tile(group, blocks, bytesPerBlock, quants, columns, scales, integerSums, \
                               offset == 0 ? 0x80 : 0, offset == 0 ? 128 : offset, T, out, rows, valid)

VNNI_TARGET void tandem_byte_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants,
                                       int columns, const float *scales, const int32_t *integerSums, int32_t offset,
                                       int tokens, float *out, int rows, int valid) {
    FOR_TOKENS(BYTE_CASE);
}

/// Q4_1 or Q4_0 nibbles over `groups` (1 or 2) adjacent row groups for 1-4 tokens, or one group for 5
/// or 6 tokens: nibbles (0...15) go to `vpdpbusd`
/// as they are; low and high nibbles accumulate apart (shorter dependency chains) and are added per
/// block. Q4_1 (`offset` 0) adds its minimum term; Q4_0 (nibble `q + 8`, `offset` 8) starts the low
/// sum at `-8 * Σ a`, so the block's integer dot is the AVX2 tile's.
VNNI_TARGET static inline __attribute__((always_inline)) void nibble_tile(const uint8_t *group, long groupStride, const int groups, int blocks,
                                         int bytesPerBlock, const int8_t *quants, int columns,
                                         const float *scales, const float *sums, const int32_t *integerSums,
                                         const int32_t offset, const int tokens, float *out,
                                         int rows, int valid0, int valid1) {
    const __m256i mask = _mm256_set1_epi8(0x0F);
    const int quantStart = offset == 0 ? 32 : 16;
    __m256 acc[2][6];
    for (int g = 0; g < 2; g++)
        for (int t = 0; t < 6; t++) acc[g][t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (long)b * bytesPerBlock;
        // One sweep (decode) reads the weights once, from memory: each block's lines 4 KiB ahead into the
        // second-level cache. A streamed Q4_0 262144 x 2048 at 1 token read at 16-17 GB/s with the
        // hardware prefetchers alone and 22-30 with this on a Xeon (Emerald Rapids), 1B decode 22-23 ->
        // 28-30 tok/s (alternated); 1 KiB ahead or into the first level gained less.
        if (tokens <= 4)
            for (int g = 0; g < groups; g++)
                for (int l = 0; l < bytesPerBlock; l += 64) tandem_prefetch_l2(block + g * groupStride + 4096 + l);
        __m256i low[2][6], high[2][6];
        for (int g = 0; g < groups; g++)
            for (int t = 0; t < tokens; t++) {
                // Q4_0's `- 8 * Σ a` is the low sum's starting value (Q4_1: zero).
                low[g][t] = _mm256_set1_epi32(-offset * integerSums[t * blocks + b]);
                high[g][t] = _mm256_setzero_si256();
            }
        for (int k = 0; k < 4; k++) {
            __m256i lows[2], highs[2];
            for (int g = 0; g < groups; g++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(block + g * groupStride + quantStart + 32 * k));
                lows[g] = _mm256_and_si256(raw, mask);
                highs[g] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
            }
            for (int t = 0; t < tokens; t++) {
                const int8_t *x = quants + (long)t * columns + b * 32 + 4 * k;
                __m256i xLow = broadcast4(x), xHigh = broadcast4(x + 16);
                for (int g = 0; g < groups; g++) {
                    low[g][t] = _mm256_dpbusd_epi32(low[g][t], lows[g], xLow);
                    high[g][t] = _mm256_dpbusd_epi32(high[g][t], highs[g], xHigh);
                }
            }
        }
        for (int g = 0; g < groups; g++) {
            const uint8_t *groupBlock = block + g * groupStride;
            __m256 weightScales = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)groupBlock));
            if (offset == 0) {
                __m256 minimums = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(groupBlock + 16)));
                for (int t = 0; t < tokens; t++) {
                    int index = t * blocks + b;
                    __m256 dots = _mm256_cvtepi32_ps(_mm256_add_epi32(low[g][t], high[g][t]));
                    __m256 scale = _mm256_mul_ps(weightScales, _mm256_set1_ps(scales[index]));
                    acc[g][t] = _mm256_fmadd_ps(minimums, _mm256_set1_ps(sums[index]),
                                                _mm256_fmadd_ps(scale, dots, acc[g][t]));
                }
            } else {
                for (int t = 0; t < tokens; t++) {
                    int index = t * blocks + b;
                    __m256i exact = _mm256_add_epi32(low[g][t], high[g][t]);
                    __m256 scale = _mm256_mul_ps(weightScales, _mm256_set1_ps(scales[index]));
                    acc[g][t] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(exact), acc[g][t]);
                }
            }
        }
    }
    for (int t = 0; t < tokens; t++) {
        store_rows(out + (long)t * rows, acc[0][t], valid0);
        if (groups == 2) store_rows(out + (long)t * rows + 8, acc[1][t], valid1);
    }
}

#define NIBBLE_CASE(G, T, O) nibble_tile(group, groupStride, G, blocks, bytesPerBlock, quants, columns, scales, sums, \
                                         integerSums, O, T, out, rows, valid0, valid1)
#define NIBBLE_TOKENS(G, O)                    \
    switch (tokens) {                          \
    case 1: NIBBLE_CASE(G, 1, O); break;       \
    case 2: NIBBLE_CASE(G, 2, O); break;       \
    case 3: NIBBLE_CASE(G, 3, O); break;       \
    case 4: NIBBLE_CASE(G, 4, O); break;       \
    case 5: NIBBLE_CASE(1, 5, O); break;       \
    default: NIBBLE_CASE(1, 6, O); break;      \
    }

VNNI_TARGET void tandem_nibble_tile_vnni(const void *group, long groupStride, int groups, int blocks, int bytesPerBlock,
                           const int8_t *quants, int columns, const float *scales, const float *sums,
                           const int32_t *integerSums, int32_t offset, int tokens,
                           float *out, int rows, int valid0, int valid1) {
    if (offset == 0) {
        if (groups == 2) { NIBBLE_TOKENS(2, 0) } else { NIBBLE_TOKENS(1, 0) }
    } else {
        if (groups == 2) { NIBBLE_TOKENS(2, 8) } else { NIBBLE_TOKENS(1, 8) }
    }
}

/// The end of one K-format block for every token: d x da x (the scaled integer dots) minus
/// dmin x da x (the 8 sub-block minimums x the activation's sub-block sums), added to `acc`.
VNNI_TARGET static inline __attribute__((always_inline)) void k_block_finish(const uint8_t *minimums, __m256 d, __m256 dmin,
                                                                           const __m256i *scaled, const float *scales,
                                                                           int blocks, int b, const int16_t *subBlockSums,
                                                                           int columns, int tokens, __m256 *acc) {
    __m256i m[4];
    for (int i = 0; i < 4; i++) {
        const uint8_t *first = minimums + 16 * i;
        m[i] = _mm256_cvtepi8_epi16(_mm_unpacklo_epi8(_mm_loadl_epi64((const __m128i *)first),
                                                      _mm_loadl_epi64((const __m128i *)(first + 8))));
    }
    for (int t = 0; t < tokens; t++) {
        __m256 da = _mm256_set1_ps(scales[t * blocks + b]);
        __m256 result = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(scaled[t]), acc[t]);
        // Sub-block sums 2j and 2j+1 in the two 16-bit halves of every lane.
        const int16_t *sums = subBlockSums + (long)t * (columns / 32) + b * 8;
        __m256i pair[4];
        for (int j = 0; j < 4; j++) {
            int32_t two;
            __builtin_memcpy(&two, sums + 2 * j, 4);
            pair[j] = _mm256_set1_epi32(two);
        }
        __m256i minimumSum = _mm256_madd_epi16(m[0], pair[0]);
        for (int j = 1; j < 4; j++) minimumSum = _mm256_dpwssd_epi32(minimumSum, m[j], pair[j]);
        __m256 negated = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(dmin, da));
        acc[t] = _mm256_fmadd_ps(negated, _mm256_cvtepi32_ps(minimumSum), result);
    }
}

/// Q4_K / Q5_K (quants 0...31, unpacked to bytes; see `InterleavedWeights`): per 16-column group,
/// `vpdpbusd` gives each row's exact dot in 32 bits and one `vpmulld` weighs it by the row's group
/// scale — the integers `InterleavedMatmul.tileK` gets from 16-bit sums and `madd`. The minimum term
/// and the float work are `tileK`'s, operation for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void k_tile(const uint8_t *group, int blocks, int bytesPerBlock,
                                         const int8_t *quants, int columns, const float *scales,
                                         const int16_t *subBlockSums, const int tokens, float *out, int rows,
                                         int valid) {
    enum { D = 0, DMIN = 32, SCALES = 64, MINIMUMS = 192, QUANTS = 256 };
    __m256 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (long)b * bytesPerBlock;
        __m256i scaled[6];
        for (int t = 0; t < tokens; t++) scaled[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            __m256i dots[6];
            for (int t = 0; t < tokens; t++) dots[t] = _mm256_setzero_si256();
            for (int k = 0; k < 4; k++) {
                __m256i weights = _mm256_loadu_si256((const __m256i *)(block + QUANTS + 32 * (4 * g + k)));
                for (int t = 0; t < tokens; t++) {
                    dots[t] = _mm256_dpbusd_epi32(dots[t], weights,
                                                  broadcast4(quants + (long)t * columns + b * 256 + 16 * g + 4 * k));
                }
            }
            add_weighted(scaled, dots, block + SCALES + 8 * g, tokens);
        }
        __m256 d = _mm256_loadu_ps((const float *)(block + D));
        __m256 dmin = _mm256_loadu_ps((const float *)(block + DMIN));
        k_block_finish(block + MINIMUMS, d, dmin, scaled, scales, blocks, b, subBlockSums, columns, tokens, acc);
    }
    store_tokens(out, acc, tokens, rows, valid);
}

#define K_CASE(T) k_tile(group, blocks, bytesPerBlock, quants, columns, scales, subBlockSums, T, out, rows, valid)

VNNI_TARGET void tandem_k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                                    const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                                    int valid) {
    FOR_TOKENS(K_CASE);
}

/// Q4_K in its nibble layout (`InterleavedWeights.Q4KLayout`): per 64-column chunk, `vpdpbusd` sums the
/// low nibbles (sub-block 2j) and the high nibbles (2j + 1) apart in 32 bits and one `vpmulld` each
/// weighs them by the rows' sub-block scales: the integers `InterleavedMatmul.tileQ4K` computes, and
/// then its float work, operation for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void q4k_tile(const uint8_t *group, int blocks, int bytesPerBlock,
                                         const int8_t *quants, int columns, const float *scales,
                                         const int16_t *subBlockSums, const int tokens, float *out, int rows,
                                         int valid) {
    enum { D = 0, DMIN = 16, SCALES = 32, MINIMUMS = 96, QUANTS = 160 };
    const __m256i mask = _mm256_set1_epi8(0x0F);
    __m256 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (long)b * bytesPerBlock;
        __m256i scaled[6];
        for (int t = 0; t < tokens; t++) scaled[t] = _mm256_setzero_si256();
        for (int j = 0; j < 4; j++) {
            // A quarter block of the weights 2 KiB ahead (streamed at 4 tokens: 17 GB/s without, 27 with).
            for (int l = 0; l < 320; l += 64) tandem_prefetch_l1(block + 2048 + 296 * j + l);
            __m256i low[6], high[6];
            for (int t = 0; t < tokens; t++) { low[t] = _mm256_setzero_si256(); high[t] = _mm256_setzero_si256(); }
            for (int k = 0; k < 8; k++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(block + QUANTS + 32 * (8 * j + k)));
                __m256i lo = _mm256_and_si256(raw, mask);
                __m256i hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
                for (int t = 0; t < tokens; t++) {
                    const int8_t *x = quants + (long)t * columns + b * 256 + 64 * j + 4 * k;
                    low[t] = _mm256_dpbusd_epi32(low[t], lo, broadcast4(x));
                    high[t] = _mm256_dpbusd_epi32(high[t], hi, broadcast4(x + 32));
                }
            }
            __m256i scaleLow = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + SCALES + 16 * j)));
            __m256i scaleHigh = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + SCALES + 16 * j + 8)));
            for (int t = 0; t < tokens; t++)
                scaled[t] = _mm256_add_epi32(scaled[t], _mm256_add_epi32(_mm256_mullo_epi32(low[t], scaleLow),
                                                                         _mm256_mullo_epi32(high[t], scaleHigh)));
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + D)));
        __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + DMIN)));
        k_block_finish(block + MINIMUMS, d, dmin, scaled, scales, blocks, b, subBlockSums, columns, tokens, acc);
    }
    store_tokens(out, acc, tokens, rows, valid);
}

#define Q4K_CASE(T) q4k_tile(group, blocks, bytesPerBlock, quants, columns, scales, subBlockSums, T, out, rows, valid)

VNNI_TARGET void tandem_q4k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                                      const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                                      int valid) {
    FOR_TOKENS(Q4K_CASE);
}

/// Q6_K in its 6-bit layout (`InterleavedWeights.Q6KLayout`: 8-row f16 scales, the rows' 16 group scales,
/// a nibble plane and a 2-bit plane): the stored `u = q + 32` (0...63) is put back together as
/// `tileQ6K` does and goes to `vpdpbusd` as it is; each group's dot starts at `-32 * Σ a` of its 16
/// columns (`groupOffsets`), so it ends as the exact `Σ q * a`, and one `vpmulld` weighs it by the rows'
/// group scale: the integers of `tileQ6K`'s sign fix-up and `madd`, then its float work, operation for
/// operation.
VNNI_TARGET static inline __attribute__((always_inline)) void q6k_tile(const uint8_t *group, int blocks, int bytesPerBlock,
                                         const int8_t *quants, int columns, const float *scales,
                                         const int32_t *groupOffsets, const int tokens, float *out, int rows,
                                         int valid) {
    enum { D = 0, SCALES = 16, NIBBLES = 144, BITS = 1168 };
    const __m256i mask = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30);
    __m256 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *block = group + (long)b * bytesPerBlock;
        __m256i scaled[6];
        for (int t = 0; t < tokens; t++) scaled[t] = _mm256_setzero_si256();
        for (int g = 0; g < 16; g++) {
            // Two lines of the weights 4 KiB ahead per group (the hardware prefetchers alone left a
            // streamed head at 23-26 GB/s for 1-2 tokens and 15 for 4; with this, 32-36 and 33).
            tandem_prefetch_l1(block + 4096 + 128 * g);
            tandem_prefetch_l1(block + 4096 + 128 * g + 64);
            __m256i bits = _mm256_loadu_si256((const __m256i *)(block + BITS + 32 * g));
            __m256i dots[6];
            for (int t = 0; t < tokens; t++)
                dots[t] = _mm256_set1_epi32(groupOffsets[(long)t * (columns / 16) + b * 16 + g]);
            for (int k = 0; k < 4; k++) {
                __m256i raw = _mm256_loadu_si256((const __m256i *)(block + NIBBLES + 32 * (4 * (g % 8) + k)));
                __m256i nibble = g < 8 ? _mm256_and_si256(raw, mask) : _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask);
                // Bits 2k, 2k + 1 of each byte to bits 4, 5 (a 16-bit shift by at most 4 keeps each byte's
                // bits 4, 5 from its own byte).
                __m256i high = k < 2 ? _mm256_slli_epi16(bits, 4 - 2 * k) : k == 2 ? bits : _mm256_srli_epi16(bits, 2);
                __m256i stored = _mm256_or_si256(nibble, _mm256_and_si256(high, top));
                for (int t = 0; t < tokens; t++) {
                    dots[t] = _mm256_dpbusd_epi32(dots[t], stored,
                                                  broadcast4(quants + (long)t * columns + b * 256 + 16 * g + 4 * k));
                }
            }
            add_weighted(scaled, dots, block + SCALES + 8 * g, tokens);
        }
        __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(block + D)));
        for (int t = 0; t < tokens; t++) {
            __m256 da = _mm256_set1_ps(scales[t * blocks + b]);
            acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(scaled[t]), acc[t]);
        }
    }
    store_tokens(out, acc, tokens, rows, valid);
}

#define Q6K_CASE(T) q6k_tile(group, blocks, bytesPerBlock, quants, columns, scales, groupOffsets, T, out, rows, valid)

VNNI_TARGET void tandem_q6k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                                      const float *scales, const int32_t *groupOffsets, int tokens, float *out, int rows,
                                      int valid) {
    FOR_TOKENS(Q6K_CASE);
}

/// Unpacks every block of two adjacent Q6_K row groups (`q6k_unpack_block`), so that many tokens
/// sweep the pair without redoing the nibble and 2-bit work for every 4 of them, and one broadcast
/// activation feeds 16 rows.
VNNI_TARGET void tandem_q6k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock,
                                             int bias, uint8_t *out) {
    for (int b = 0; b < blocks; b++) q6k_unpack_block(group, groupStride, b, bytesPerBlock, bias, out);
}

/// `q6k_tile` over a pair of row groups unpacked by `tandem_q6k_unpack_pair_vnni`, in 512-bit vectors
/// (lanes 0-7 the first group's rows, 8-15 the second's; the f16 scales and group scales still come
/// from the packed groups): lane for lane the same integers and float work, operation for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void q6k_pair_tile(const uint8_t *group, long groupStride,
                                         const uint8_t *unpacked, int blocks, int bytesPerBlock, const int8_t *quants,
                                         int columns, const float *scales, const int32_t *groupOffsets,
                                         const int tokens, float *out, int rows, int valid0, int valid1) {
    enum { D = 0, SCALES = 16 };
    __m512 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
        const uint8_t *stored = unpacked + (long)b * 4096;
        __m512i scaled[6];
        for (int t = 0; t < tokens; t++) scaled[t] = _mm512_setzero_si512();
        for (int g = 0; g < 16; g++) {
            __m512i dots[6];
            for (int t = 0; t < tokens; t++)
                dots[t] = _mm512_set1_epi32(groupOffsets[(long)t * (columns / 16) + b * 16 + g]);
            for (int k = 0; k < 4; k++) {
                __m512i weights = _mm512_loadu_si512((const void *)(stored + 64 * (4 * g + k)));
                for (int t = 0; t < tokens; t++) {
                    int32_t x;
                    __builtin_memcpy(&x, quants + (long)t * columns + b * 256 + 16 * g + 4 * k, 4);
                    dots[t] = _mm512_dpbusd_epi32(dots[t], weights, _mm512_set1_epi32(x));
                }
            }
            __m128i groupScales = _mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)(first + SCALES + 8 * g)),
                                                     _mm_loadl_epi64((const __m128i *)(second + SCALES + 8 * g)));
            __m512i scale = _mm512_cvtepi8_epi32(groupScales);
            for (int t = 0; t < tokens; t++) scaled[t] = _mm512_add_epi32(scaled[t], _mm512_mullo_epi32(dots[t], scale));
        }
        __m256i halves = _mm256_setr_m128i(_mm_loadu_si128((const __m128i *)(first + D)),
                                           _mm_loadu_si128((const __m128i *)(second + D)));
        __m512 d = _mm512_cvtph_ps(halves);
        for (int t = 0; t < tokens; t++) {
            __m512 da = _mm512_set1_ps(scales[t * blocks + b]);
            acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(scaled[t]), acc[t]);
        }
    }
    for (int t = 0; t < tokens; t++) {
        store_rows(out + (long)t * rows, _mm512_castps512_ps256(acc[t]), valid0);
        store_rows(out + (long)t * rows + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1)), valid1);
    }
}

#define Q6K_PAIR_CASE(T) q6k_pair_tile(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, \
                                       groupOffsets, T, out, rows, valid0, valid1)

VNNI_TARGET void tandem_q6k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                                           int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                           const int32_t *groupOffsets, int tokens, float *out, int rows, int valid0,
                                           int valid1) {
    FOR_TOKENS(Q6K_PAIR_CASE);
}

/// Unpacks every block of two adjacent Q4_1 or Q4_0 row groups (`nibble_unpack_block`).
VNNI_TARGET void tandem_nibble_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock,
                                                int quantStart, int bias, uint8_t *out) {
    for (int b = 0; b < blocks; b++) nibble_unpack_block(group, groupStride, b, bytesPerBlock, quantStart, bias, out);
}

/// `nibble_tile` over a pair of row groups unpacked by `tandem_nibble_unpack_pair_vnni`, in 512-bit
/// vectors (lanes 0-7 the first group's rows, 8-15 the second's; scales and minimums still come from
/// the packed groups). Each block's dot is one exact 32-bit sum (the low and high halves' sums added,
/// as `nibble_tile` adds them), then the same float work, operation for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void nibble_pair_tile(const uint8_t *group, long groupStride,
                                         const uint8_t *unpacked, int blocks, int bytesPerBlock, const int8_t *quants,
                                         int columns, const float *scales, const float *sums,
                                         const int32_t *integerSums, const int32_t offset, const int tokens, float *out,
                                         int rows, int valid0, int valid1) {
    __m512 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
        const uint8_t *chunks = unpacked + (long)b * 512;
        // Even and odd 4-column chunks in two sums per token, added at the end: chains of 4 `vpdpbusd`
        // instead of 8, which clang otherwise schedules token by token (Q4_0 8192 x 2048 at 128 tokens
        // 6.9-7.2 ms against 7.7; `bench kernels`, alternated).
        __m512i dots[6], odd[6];
        for (int t = 0; t < tokens; t++) {
            dots[t] = _mm512_set1_epi32(-offset * integerSums[t * blocks + b]);
            odd[t] = _mm512_setzero_si512();
        }
        for (int c = 0; c < 8; c += 2) {
            __m512i even = _mm512_loadu_si512((const void *)(chunks + 64 * c));
            __m512i next = _mm512_loadu_si512((const void *)(chunks + 64 * (c + 1)));
            for (int t = 0; t < tokens; t++) {
                const int8_t *x = quants + (long)t * columns + b * 32 + 4 * c;
                int32_t first4, next4;
                __builtin_memcpy(&first4, x, 4);
                __builtin_memcpy(&next4, x + 4, 4);
                dots[t] = _mm512_dpbusd_epi32(dots[t], even, _mm512_set1_epi32(first4));
                odd[t] = _mm512_dpbusd_epi32(odd[t], next, _mm512_set1_epi32(next4));
            }
        }
        for (int t = 0; t < tokens; t++) dots[t] = _mm512_add_epi32(dots[t], odd[t]);
        __m512 weightScales = _mm512_cvtph_ps(_mm256_setr_m128i(_mm_loadu_si128((const __m128i *)first),
                                                                _mm_loadu_si128((const __m128i *)second)));
        if (offset == 0) {
            __m512 minimums = _mm512_cvtph_ps(_mm256_setr_m128i(_mm_loadu_si128((const __m128i *)(first + 16)),
                                                                _mm_loadu_si128((const __m128i *)(second + 16))));
            for (int t = 0; t < tokens; t++) {
                int index = t * blocks + b;
                __m512 scale = _mm512_mul_ps(weightScales, _mm512_set1_ps(scales[index]));
                acc[t] = _mm512_fmadd_ps(minimums, _mm512_set1_ps(sums[index]),
                                         _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(dots[t]), acc[t]));
            }
        } else {
            for (int t = 0; t < tokens; t++) {
                __m512 scale = _mm512_mul_ps(weightScales, _mm512_set1_ps(scales[t * blocks + b]));
                acc[t] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(dots[t]), acc[t]);
            }
        }
    }
    for (int t = 0; t < tokens; t++) {
        store_rows(out + (long)t * rows, _mm512_castps512_ps256(acc[t]), valid0);
        store_rows(out + (long)t * rows + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1)), valid1);
    }
}

#define NIBBLE_PAIR_CASE(T, O) nibble_pair_tile(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, \
                                                scales, sums, integerSums, O, T, out, rows, valid0, valid1)
#define NIBBLE_PAIR_TOKENS(O)                    \
    switch (tokens) {                            \
    case 1: NIBBLE_PAIR_CASE(1, O); break;       \
    case 2: NIBBLE_PAIR_CASE(2, O); break;       \
    case 3: NIBBLE_PAIR_CASE(3, O); break;       \
    case 4: NIBBLE_PAIR_CASE(4, O); break;       \
    case 5: NIBBLE_PAIR_CASE(5, O); break;       \
    default: NIBBLE_PAIR_CASE(6, O); break;      \
    }

VNNI_TARGET void tandem_nibble_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                                              int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                              const float *sums, const int32_t *integerSums, int32_t offset, int tokens,
                                              float *out, int rows, int valid0, int valid1) {
    if (offset == 0) { NIBBLE_PAIR_TOKENS(0) } else { NIBBLE_PAIR_TOKENS(8) }
}

/// Unpacks every block of two adjacent Q4_K row groups (`q4k_unpack_block`).
VNNI_TARGET void tandem_q4k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock,
                                             uint8_t *out) {
    for (int b = 0; b < blocks; b++) q4k_unpack_block(group, groupStride, b, bytesPerBlock, out);
}

/// `q4k_tile` over a pair of row groups unpacked by `tandem_q4k_unpack_pair_vnni`, in 512-bit vectors
/// (lanes 0-7 the first group's rows, 8-15 the second's; scales, minimums and f16 factors still come from
/// the packed groups): lane for lane the same integers, then `k_block_finish`'s float work, operation
/// for operation.
VNNI_TARGET static inline __attribute__((always_inline)) void q4k_pair_tile(const uint8_t *group, long groupStride,
                                         const uint8_t *unpacked, int blocks, int bytesPerBlock, const int8_t *quants,
                                         int columns, const float *scales, const int16_t *subBlockSums,
                                         const int tokens, float *out, int rows, int valid0, int valid1) {
    enum { SCALES = 32 };
    __m512 acc[6];
    for (int t = 0; t < 6; t++) acc[t] = _mm512_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
        const uint8_t *chunks = unpacked + (long)b * 4096;
        __m512i scaled[6];
        for (int t = 0; t < tokens; t++) scaled[t] = _mm512_setzero_si512();
        for (int j = 0; j < 4; j++) {
            __m512i low[6], high[6];
            for (int t = 0; t < tokens; t++) { low[t] = _mm512_setzero_si512(); high[t] = _mm512_setzero_si512(); }
            for (int k = 0; k < 8; k++) {
                __m512i lo = _mm512_loadu_si512((const void *)(chunks + 64 * (16 * j + k)));
                __m512i hi = _mm512_loadu_si512((const void *)(chunks + 64 * (16 * j + 8 + k)));
                for (int t = 0; t < tokens; t++) {
                    const int8_t *x = quants + (long)t * columns + b * 256 + 64 * j + 4 * k;
                    int32_t xLow, xHigh;
                    __builtin_memcpy(&xLow, x, 4);
                    __builtin_memcpy(&xHigh, x + 32, 4);
                    low[t] = _mm512_dpbusd_epi32(low[t], lo, _mm512_set1_epi32(xLow));
                    high[t] = _mm512_dpbusd_epi32(high[t], hi, _mm512_set1_epi32(xHigh));
                }
            }
            __m512i scaleLow = _mm512_cvtepi8_epi32(two_halves(first + SCALES + 16 * j, second + SCALES + 16 * j));
            __m512i scaleHigh = _mm512_cvtepi8_epi32(two_halves(first + SCALES + 16 * j + 8, second + SCALES + 16 * j + 8));
            for (int t = 0; t < tokens; t++)
                scaled[t] = _mm512_add_epi32(scaled[t], _mm512_add_epi32(_mm512_mullo_epi32(low[t], scaleLow),
                                                                         _mm512_mullo_epi32(high[t], scaleHigh)));
        }
        q4k_block_floats(acc, scaled, first, second, b, blocks, scales, subBlockSums, columns, tokens);
    }
    for (int t = 0; t < tokens; t++) {
        store_rows(out + (long)t * rows, _mm512_castps512_ps256(acc[t]), valid0);
        store_rows(out + (long)t * rows + 8, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc[t]), 1)), valid1);
    }
}

#define Q4K_PAIR_CASE(T) q4k_pair_tile(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, \
                                       subBlockSums, T, out, rows, valid0, valid1)

VNNI_TARGET void tandem_q4k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                                           int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                           const int16_t *subBlockSums, int tokens, float *out, int rows, int valid0,
                                           int valid1) {
    FOR_TOKENS(Q4K_PAIR_CASE);
}

#else
int tandem_has_vnni(void) { return 0; }
void tandem_q6k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, int bias,
                                 uint8_t *out) {}
void tandem_nibble_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, int quantStart,
                                    int bias, uint8_t *out) {}
void tandem_q4k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, uint8_t *out) {}
void tandem_q4k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                               int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                               const int16_t *subBlockSums, int tokens, float *out, int rows, int valid0,
                               int valid1) {}
void tandem_nibble_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                                  int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                  const float *sums, const int32_t *integerSums, int32_t offset, int tokens, float *out,
                                  int rows, int valid0, int valid1) {}
void tandem_q6k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                               int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                               const int32_t *groupOffsets, int tokens, float *out, int rows, int valid0,
                               int valid1) {}
void tandem_q6k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                          const float *scales, const int32_t *groupOffsets, int tokens, float *out, int rows,
                          int valid) {}
void tandem_q4k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                          const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                          int valid) {}
void tandem_byte_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                           const float *scales, const int32_t *integerSums, int32_t offset, int tokens, float *out,
                           int rows, int valid) {}
void tandem_k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                        const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                        int valid) {}
void tandem_nibble_tile_vnni(const void *group, long groupStride, int groups, int blocks, int bytesPerBlock,
                             const int8_t *quants, int columns, const float *scales, const float *sums,
                             const int32_t *integerSums, int32_t offset, int tokens, float *out, int rows, int valid0,
                             int valid1) {}
#endif

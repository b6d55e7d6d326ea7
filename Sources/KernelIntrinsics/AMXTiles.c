// Interleaved Q4_0, Q4_1, Q4_K and Q6_K products of many tokens with AMX (Intel's tile matrix multiply:
// `tdpbssd` / `tdpbsud` multiply a tile of 16 rows x up to 64 bytes by a tile of up to 16 columns in one
// instruction), over the pairs of row groups that `InterleavedMatmul.unpackedPairs` unpacks, chosen at
// run time on CPUs and kernels that have it. Swift cannot emit the tile instructions, so this is C.
//
// Q4_0 and Q4_1: a tile product gives one block's exact integer dots for 16 tokens x 16 rows, the same
// integers as the VNNI and AVX2 tiles. The tile is stored, and AVX-512 then does the same float
// operations on it in the same order as the VNNI pair tiles, so results are bit-identical. The float work
// is what bounds these kernels: a 16 x 16 tile of dots takes one tile product but 16 vector multiplies,
// conversions and FMAs. Q4_K and Q6_K: for one token tile the same per group (`group_pair_amx`); for
// more, the products run over byte planes of each quant times its sub-block's or group's scale, and
// give the VNNI pair tiles' per-block integer sums directly (`plane_pair_amx`).
#include "KernelIntrinsics.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include "PairHelpers.h"
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define AMX_TARGET \
    __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,avx512vbmi,amx-tile,amx-int8")))

/// Linux's request for permission to use a dynamically enabled state component (arch_prctl).
enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int tandem_enable_amx(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    // AMX-TILE (bit 24) and AMX-INT8 (bit 25); AVX-512 VBMI (ECX bit 1), which every AMX CPU has, for
    // the Q6_K unpacking's byte permutes.
    if ((edx & (3u << 24)) != (3u << 24) || !(ecx & 2u)) return 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & (1u << 27))) return 0;  // OSXSAVE
    unsigned low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    if ((low & (3u << 17)) != (3u << 17)) return 0;  // the OS saves tile configuration and data
#if defined(__linux__)
    // Tile data is off for a process until it asks (Linux 5.16 on); refused on older kernels.
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    return tandem_has_vnni();
#else
    return 0;  // Only Linux's way of asking for tile data is implemented.
#endif
}

/// The 64-byte operand of `ldtilecfg` (palette 1).
typedef struct {
    uint8_t palette;
    uint8_t startRow;
    uint8_t reserved[14];
    uint16_t bytesPerRow[16];
    uint8_t rows[16];
} TileConfig;

/// The activation width of the tile configuration this thread has loaded; 0: none.
static _Thread_local int loadedActivationBytes = 0;

/// Tiles 0-2: three units' dots (16 tokens x 16 rows of Int32); tiles 3 and 5: two units' activations
/// (16 tokens x `activationBytes`); tiles 4 and 6: two units' weights (`activationBytes / 4` rows of 4
/// columns x 16 rows). A unit is a Q4_0 or Q4_1 block (32 bytes), a Q4_K sub-block (32), a Q6_K group
/// (16), or for the K formats' planes a quarter block (64), with tile 7 as a fourth sum. `ldtilecfg` costs as much as a few units' products, so a thread loads
/// it once per shape and keeps its tiles (the kernel switches them with the thread, as it does the vector
/// registers).
AMX_TARGET static void load_config(int activationBytes) {
    if (loadedActivationBytes == activationBytes) return;
    TileConfig config = {0};
    config.palette = 1;
    for (int i = 0; i < 3; i++) config.rows[i] = 16, config.bytesPerRow[i] = 64;
    for (int i = 3; i < 7; i += 2) {
        config.rows[i] = 16, config.bytesPerRow[i] = (uint16_t)activationBytes;
        config.rows[i + 1] = (uint8_t)(activationBytes / 4), config.bytesPerRow[i + 1] = 64;
    }
    config.rows[7] = 16, config.bytesPerRow[7] = 64;
    _tile_loadconfig(&config);
    loadedActivationBytes = activationBytes;
}

/// Writes the first `count` (at most 16) tokens' accumulators: token `t`'s `valid0` first rows to
/// `out + t * rows` and its `valid1` second rows 8 floats on, one masked store each (lanes outside the
/// rows are neither written nor read). The loop runs at constant indices, so that the kernels can keep the
/// accumulators in registers.
AMX_TARGET static inline __attribute__((always_inline)) void store_tile(const __m512 *acc, int count, float *out,
                                                                        int rows, int valid0, int valid1) {
    const __mmask16 lanes = (__mmask16)(((1u << valid0) - 1) | (((1u << valid1) - 1) << 8));
#pragma clang loop unroll(full)
    for (int t = 0; t < 16; t++)
        if (t < count) _mm512_mask_storeu_ps(out + (long)t * rows, lanes, acc[t]);
}

/// Unpacks block `b` into `unpacked` (Q4_0's `q` signed, for `tdpbssd`).
#define NIBBLE_UNPACK(b)                                                                                \
    nibble_unpack_block(group, groupStride, b, bytesPerBlock, withMinimum ? 32 : 16, withMinimum ? 0 : 8, unpacked)

/// Starts block `b`'s dots for 16 tokens in tile `C` (activations in `A`, weights in `B`): signed
/// weights (Q4_0's `q`) with `tdpbssd`, unsigned (Q4_1's nibbles) with `tdpbsud`.
#define NIBBLE_BLOCK_DOTS(C, A, B, b)                                                                   \
    do {                                                                                                \
        _tile_zero(C);                                                                                  \
        _tile_loadd(A, quants + (long)(b) * 32, columns);                                               \
        _tile_loadd(B, unpacked + (long)(b) * 512, 64);                                                 \
        if (withMinimum) _tile_dpbsud(C, A, B); else _tile_dpbssd(C, A, B);                            \
    } while (0)

/// The kernels unpack the pair's weights themselves, during their first token tile, `UNPACK_AHEAD` units
/// ahead of the float work: reading the packed weights then overlaps the tiles and float work of the units
/// before, and the unpacked bytes are in the first-level cache, not in the store buffer, when a tile
/// loads them. The tile products run three units ahead of the float work, and each unit's tile is stored
/// one unit before its float work (`tilestored` waits for the product, whose latency is several times
/// the float work of a unit): unit `i`'s dots are in tile `i % 3` until stored to `dots[i & 1]`, from
/// activations in tile 3 or 5 and weights in tile 4 or 6 (`i & 1`). `DOTS(C, A, B, i)` starts unit `i`'s
/// product; `UNPACK(i)` unpacks what unit `i` needs if it is the first of its block.
enum { UNPACK_AHEAD = 6 };

/// Starts unit `i`'s product in its tiles.
#define START_DOTS(DOTS, i)                                                                             \
    do {                                                                                                \
        switch ((i) % 6) {                                                                              \
        case 0: DOTS(0, 3, 4, i); break;                                                                \
        case 1: DOTS(1, 5, 6, i); break;                                                                \
        case 2: DOTS(2, 3, 4, i); break;                                                                \
        case 3: DOTS(0, 5, 6, i); break;                                                                \
        case 4: DOTS(1, 3, 4, i); break;                                                                \
        default: DOTS(2, 5, 6, i); break;                                                               \
        }                                                                                               \
    } while (0)

/// Stores unit `i`'s dots to `dots[i & 1]`.
#define STORE_DOTS(i)                                                                                   \
    do {                                                                                                \
        switch ((i) % 3) {                                                                              \
        case 0: _tile_stored(0, dots[(i) & 1], 64); break;                                              \
        case 1: _tile_stored(1, dots[(i) & 1], 64); break;                                              \
        default: _tile_stored(2, dots[(i) & 1], 64); break;                                             \
        }                                                                                               \
    } while (0)

/// Before the loop over units of token tile `tile`: unpacks the first units (first tile only), starts
/// units 0-2's products and stores unit 0's dots.
#define FIRST_DOTS(DOTS, UNPACK, total)                                                                 \
    do {                                                                                                \
        if (tile == 0)                                                                                  \
            for (int first = 0; first < UNPACK_AHEAD && first < (total); first++) UNPACK(first);        \
        for (int first = 0; first < 3 && first < (total); first++) START_DOTS(DOTS, first);             \
        STORE_DOTS(0);                                                                                  \
    } while (0)

/// Before unit `i`'s float work: stores unit `i + 1`'s dots, unpacks unit `i + UNPACK_AHEAD` (first tile
/// only) and starts unit `i + 3`'s product in the tile that unit `i` used.
#define NEXT_DOTS(DOTS, UNPACK, i, total)                                                               \
    do {                                                                                                \
        if ((i) + 1 < (total)) STORE_DOTS((i) + 1);                                                     \
        if (tile == 0 && (i) + UNPACK_AHEAD < (total)) UNPACK((i) + UNPACK_AHEAD);                      \
        if ((i) + 3 < (total)) START_DOTS(DOTS, (i) + 3);                                               \
    } while (0)

/// Block `b`'s float work for 16 tokens, as `nibble_pair_tile` does it per token.
AMX_TARGET static inline __attribute__((always_inline)) void nibble_block_floats(
    __m512 *acc, const int32_t *dots, const uint8_t *first, const uint8_t *second, int b, int blocks,
    int bytesPerBlock, const float *scales, const float *sums, const int withMinimum) {
    const uint8_t *one = first + (long)b * bytesPerBlock, *two = second + (long)b * bytesPerBlock;
    __m512 weightScales = _mm512_cvtph_ps(_mm256_setr_m128i(_mm_loadu_si128((const __m128i *)one),
                                                            _mm_loadu_si128((const __m128i *)two)));
    if (withMinimum) {
        __m512 minimums = _mm512_cvtph_ps(_mm256_setr_m128i(_mm_loadu_si128((const __m128i *)(one + 16)),
                                                            _mm_loadu_si128((const __m128i *)(two + 16))));
#pragma clang loop unroll(full)
        for (int t = 0; t < 16; t++) {
            __m512 scale = _mm512_mul_ps(weightScales, _mm512_set1_ps(scales[t * blocks + b]));
            __m512 product = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_load_si512(dots + 16 * t)), acc[t]);
            acc[t] = _mm512_fmadd_ps(minimums, _mm512_set1_ps(sums[t * blocks + b]), product);
        }
    } else {
#pragma clang loop unroll(full)
        for (int t = 0; t < 16; t++) {
            __m512 scale = _mm512_mul_ps(weightScales, _mm512_set1_ps(scales[t * blocks + b]));
            acc[t] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(_mm512_load_si512(dots + 16 * t)), acc[t]);
        }
    }
}

AMX_TARGET static inline __attribute__((always_inline)) void nibble_pair_amx(
    const uint8_t *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
    const int8_t *quants, int columns, const float *scales, const float *sums, const int withMinimum, int tokens,
    const uint8_t *ahead, long aheadBytes, float *out, int rows, int valid0, int valid1) {
    _Alignas(64) int32_t dots[2][256];
    const uint8_t *second = group + groupStride;
    const int tiles = (tokens + 15) / 16;
    // The next pair's weights, a slice per block of every token tile, into the second-level cache.
    const long lines = (aheadBytes + 63) / 64, perBlock = (lines + (long)tiles * blocks - 1) / ((long)tiles * blocks);
    long line = 0;
    load_config(32);
    for (int tile = 0; tile < tiles; tile++) {
        __m512 acc[16];
        for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
        FIRST_DOTS(NIBBLE_BLOCK_DOTS, NIBBLE_UNPACK, blocks);
        for (int b = 0; b < blocks; b++) {
            NEXT_DOTS(NIBBLE_BLOCK_DOTS, NIBBLE_UNPACK, b, blocks);
            for (long end = line + perBlock; line < end && line < lines; line++) tandem_prefetch_l2(ahead + 64 * line);
            nibble_block_floats(acc, dots[b & 1], group, second, b, blocks, bytesPerBlock, scales, sums, withMinimum);
        }
        store_tile(acc, tokens - 16 * tile, out, rows, valid0, valid1);
        quants += 16L * columns, scales += 16L * blocks, sums += 16L * blocks, out += 16L * rows;
    }
}

AMX_TARGET void tandem_nibble_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                                       int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                       const float *sums, int32_t offset, int tokens, const void *ahead,
                                       long aheadBytes, float *out, int rows, int valid0, int valid1) {
    if (offset == 0) {
        nibble_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, sums, 1,
                        tokens, ahead, aheadBytes, out, rows, valid0, valid1);
    } else {
        nibble_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, sums, 0,
                        tokens, ahead, aheadBytes, out, rows, valid0, valid1);
    }
}

/// Unpacks block `i / groups` into `unpacked` if group `i` is its first (Q6_K's `q` signed, for
/// `tdpbssd`).
#define K_UNPACK(i)                                                                                     \
    do {                                                                                                \
        if ((i) % groups == 0) {                                                                        \
            if (q4k) q4k_unpack_block(group, groupStride, (i) / groups, bytesPerBlock, unpacked);       \
            else q6k_unpack_block(group, groupStride, (i) / groups, bytesPerBlock, 32, unpacked);       \
        }                                                                                               \
    } while (0)

/// Starts group `i` (block `i / groups`, group `i % groups`)'s dots for 16 tokens in tile `C`
/// (activations in `A`, weights in `B`): Q6_K's signed `q` with `tdpbssd`, Q4_K's unsigned nibbles with
/// `tdpbsud`.
#define K_GROUP_DOTS(C, A, B, i)                                                                        \
    do {                                                                                                \
        _tile_zero(C);                                                                                  \
        _tile_loadd(A, quants + (long)((i) / groups) * 256 + groupBytes * ((i) % groups), columns);     \
        _tile_loadd(B, unpacked + (long)(i) * 16 * groupBytes, 64);                                     \
        if (q4k) _tile_dpbsud(C, A, B); else _tile_dpbssd(C, A, B);                                    \
    } while (0)

/// The Q6_K (`q4k` 0: 16 groups of 16 columns per block) or Q4_K (`q4k` 1: 8 sub-blocks of 32) pair
/// tile over the group dots: each group's dots times the rows' group scales summed in Int32 per block,
/// then the block's float work, as `q6k_pair_tile` and `q4k_pair_tile` do. For one token tile
/// (`plane_pair_amx` takes more): there each block is used once, and unpacking it to planes (twice the
/// bytes, and multiplies) cost more than it saved; 16-sequence decode steps of the 1B Q4_K_M shape ran
/// at 70-82 tok/s with the planes against 81-101 with these, alternated.
AMX_TARGET static inline __attribute__((always_inline)) void group_pair_amx(
    const uint8_t *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
    const int8_t *quants, int columns, const float *scales, const int16_t *subBlockSums, const int q4k, int tokens,
    const uint8_t *ahead, long aheadBytes, float *out, int rows, int valid0, int valid1) {
    const int groupBytes = q4k ? 32 : 16, groups = 256 / groupBytes, scaleOffset = q4k ? 32 : 16;
    _Alignas(64) int32_t dots[2][256];
    const int tiles = (tokens + 15) / 16, total = groups * blocks;
    // The next pair's weights, a slice per block of every token tile, into the second-level cache.
    const long lines = (aheadBytes + 63) / 64, perBlock = (lines + (long)tiles * blocks - 1) / ((long)tiles * blocks);
    long line = 0;
    load_config(groupBytes);
    for (int tile = 0; tile < tiles; tile++) {
        __m512 acc[16];
        for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
        FIRST_DOTS(K_GROUP_DOTS, K_UNPACK, total);
        for (int b = 0; b < blocks; b++) {
            const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
            __m512i scaled[16];
            for (int t = 0; t < 16; t++) scaled[t] = _mm512_setzero_si512();
            for (int g = 0; g < groups; g++) {
                const int i = groups * b + g;
                NEXT_DOTS(K_GROUP_DOTS, K_UNPACK, i, total);
                __m512i scale = _mm512_cvtepi8_epi32(two_halves(first + scaleOffset + 8 * g, second + scaleOffset + 8 * g));
                const int32_t *groupDots = dots[i & 1];
#pragma clang loop unroll(full)
                for (int t = 0; t < 16; t++)
                    scaled[t] = _mm512_add_epi32(scaled[t], _mm512_mullo_epi32(_mm512_load_si512(groupDots + 16 * t), scale));
            }
            for (long end = line + perBlock; line < end && line < lines; line++) tandem_prefetch_l2(ahead + 64 * line);
            if (q4k) {
                q4k_block_floats(acc, scaled, first, second, b, blocks, scales, subBlockSums, columns, 16);
            } else {
                __m512 d = halves_ps(first, second);
#pragma clang loop unroll(full)
                for (int t = 0; t < 16; t++) {
                    __m512 da = _mm512_set1_ps(scales[t * blocks + b]);
                    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(scaled[t]), acc[t]);
                }
            }
        }
        store_tile(acc, tokens - 16 * tile, out, rows, valid0, valid1);
        quants += 16L * columns, scales += 16L * blocks, out += 16L * rows;
        if (q4k) subBlockSums += 16L * (columns / 32);
    }
}

/// The K formats' tiles multiply byte planes of `w = scale x q`, the sub-block's or group's scale times
/// each quant, so that one product covers 64 columns whatever the scales: `Σ a x (256 x high + low)` over
/// a block is `Σ scale x Σ a x q`, the integer that the VNNI pair tiles sum. Their work goes in chunks of
/// up to `PLANE_CHUNK_TILES` token tiles, block by block: each block is unpacked once per chunk, into a
/// ring of `PLANE_RING` blocks' planes (8,192 bytes each) that stays in the first-level cache, and its
/// products run for every token tile of the chunk while it is there.
enum { PLANE_CHUNK_TILES = 4, PLANE_RING = 3 };

/// `q6k_scaled_unpack_block`'s permutes: word `4r + j` of the first (second) group's half takes row `r`'s
/// scale, word `r` (`8 + r`) of the scales; the low and the high bytes of 64 words.
static const int16_t firstRowIndices[32] __attribute__((aligned(64))) = {
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7};
static const int16_t secondRowIndices[32] __attribute__((aligned(64))) = {
    8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15};
static const uint8_t lowByteIndices[64] __attribute__((aligned(64))) = {
    0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34, 36, 38, 40, 42,
    44, 46, 48, 50, 52, 54, 56, 58, 60, 62, 64, 66, 68, 70, 72, 74, 76, 78, 80, 82, 84, 86,
    88, 90, 92, 94, 96, 98, 100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126};
static const uint8_t highByteIndices[64] __attribute__((aligned(64))) = {
    1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 39, 41, 43,
    45, 47, 49, 51, 53, 55, 57, 59, 61, 63, 65, 67, 69, 71, 73, 75, 77, 79, 81, 83, 85, 87,
    89, 91, 93, 95, 97, 99, 101, 103, 105, 107, 109, 111, 113, 115, 117, 119, 121, 123, 125, 127};

/// `q4k_scaled_unpack_block`'s permutes: byte `b` of a 64-byte chunk (row `b / 4`) takes scale `b / 4`,
/// in the even bytes (`EVEN_BYTES`) or the odd ones.
static const uint8_t chunkRowIndices[64] __attribute__((aligned(64))) = {
    0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7,
    8, 8, 8, 8, 9, 9, 9, 9, 10, 10, 10, 10, 11, 11, 11, 11, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15};
#define EVEN_BYTES 0x5555555555555555ULL

/// Block `b` of two adjacent Q4_K row groups (`InterleavedWeights.Q4KLayout`) as two byte planes of
/// `w = scale x nibble` (within 63 x 15, both bytes unsigned): the low bytes at `out + 8192 * (b %
/// PLANE_RING)`, the high bytes 4,096 bytes on, each in `q4k_unpack_block`'s layout (chunk `c`, columns
/// `4c ..< 4c + 4` of the 16 rows, at `64 * c`). `vpmaddubsw` of the nibbles by the scales in the even
/// (odd) bytes gives the even (odd) bytes' `w` as words.
AMX_TARGET static inline __attribute__((always_inline)) void q4k_scaled_unpack_block(
    const uint8_t *group, long groupStride, int b, int bytesPerBlock, uint8_t *out) {
    enum { SCALES = 32, QUANTS = 160 };
    const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
    const __m512i mask = _mm512_set1_epi8(0x0F), lowByte = _mm512_set1_epi16(0x00FF);
    const __m512i rowIndices = _mm512_load_si512(chunkRowIndices);
    uint8_t *lowPlane = out + 8192L * (b % PLANE_RING), *highPlane = lowPlane + 4096;
    for (int j = 0; j < 4; j++) {
        // Sub-blocks 2j (low nibbles) and 2j + 1 (high nibbles): each row's scale, in the even or odd bytes.
        __m512i evenScales[2], oddScales[2];
        for (int h = 0; h < 2; h++) {
            __m512i rowScales = _mm512_castsi128_si512(two_halves(first + SCALES + 16 * j + 8 * h, second + SCALES + 16 * j + 8 * h));
            evenScales[h] = _mm512_maskz_permutexvar_epi8(EVEN_BYTES, rowIndices, rowScales);
            oddScales[h] = _mm512_maskz_permutexvar_epi8(~EVEN_BYTES, rowIndices, rowScales);
        }
        for (int k = 0; k < 8; k++) {
            const long at = QUANTS + 32 * (8 * j + k);
            __m512i raw = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(first + at))),
                                             _mm256_loadu_si256((const __m256i *)(second + at)), 1);
            for (int h = 0; h < 2; h++) {
                __m512i nibbles = h == 0 ? _mm512_and_si512(raw, mask) : _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
                __m512i even = _mm512_maddubs_epi16(nibbles, evenScales[h]), odd = _mm512_maddubs_epi16(nibbles, oddScales[h]);
                // low: even's low byte | odd's low byte << 8; high: even's high byte | odd's high byte << 8.
                __m512i low = _mm512_ternarylogic_epi32(even, _mm512_slli_epi16(odd, 8), lowByte, 0xEC);
                __m512i high = _mm512_ternarylogic_epi32(_mm512_srli_epi16(even, 8), odd, lowByte, 0xF4);
                const long chunk = 16 * j + 8 * h + k;
                _mm512_storeu_si512((void *)(lowPlane + 64 * chunk), low);
                _mm512_storeu_si512((void *)(highPlane + 64 * chunk), high);
            }
        }
    }
}

/// Block `b` of two adjacent Q6_K row groups as two byte planes of `w = scale x q` (the 16-column group's
/// scale times the quant: an Int16 within +-4,096): the low bytes (unsigned) at `out + 8192 * (b % PLANE_RING)`, the high
/// bytes (signed) 4,096 bytes on, each with chunk (`g`, `k`), columns `16g + 4k ..< 16g + 4k + 4` of the
/// 16 rows, at `64 * (4 * g + k)` as `q6k_unpack_block` lays them out. Then `Σ a x (256 x high + low)` over
/// the block is `Σ scale x Σ a x q`, the integer `q6k_pair_tile` sums: two tile products of 64 columns
/// each give it for a quarter block, where the group dots took a product of 16 columns, a tile store and
/// 16 `vpmulld` for every group.
AMX_TARGET static inline __attribute__((always_inline)) void q6k_scaled_unpack_block(
    const uint8_t *group, long groupStride, int b, int bytesPerBlock, uint8_t *out) {
    enum { SCALES = 16, NIBBLES = 144, BITS = 1168 };
    const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
    const __m512i mask = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30), offset = _mm512_set1_epi8(32);
    const __m512i firstRows = _mm512_load_si512(firstRowIndices), secondRows = _mm512_load_si512(secondRowIndices);
    const __m512i lowBytes = _mm512_load_si512(lowByteIndices), highBytes = _mm512_load_si512(highByteIndices);
    uint8_t *lowPlane = out + 8192L * (b % PLANE_RING), *highPlane = lowPlane + 4096;
    for (int g = 0; g < 16; g++) {
        __m512i bits = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(first + BITS + 32 * g))),
                                          _mm256_loadu_si256((const __m256i *)(second + BITS + 32 * g)), 1);
        __m512i rowScales = _mm512_castsi256_si512(_mm256_cvtepi8_epi16(two_halves(first + SCALES + 8 * g, second + SCALES + 8 * g)));
        __m512i scales0 = _mm512_permutexvar_epi16(firstRows, rowScales), scales1 = _mm512_permutexvar_epi16(secondRows, rowScales);
        for (int k = 0; k < 4; k++) {
            const long at = NIBBLES + 32 * (4 * (g % 8) + k);
            __m512i raw = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(first + at))),
                                             _mm256_loadu_si256((const __m256i *)(second + at)), 1);
            __m512i nibble = g < 8 ? _mm512_and_si512(raw, mask) : _mm512_and_si512(_mm512_srli_epi16(raw, 4), mask);
            __m512i high = k < 2 ? _mm512_slli_epi16(bits, 4 - 2 * k) : k == 2 ? bits : _mm512_srli_epi16(bits, 2);
            __m512i q = _mm512_sub_epi8(_mm512_or_si512(nibble, _mm512_and_si512(high, top)), offset);
            __m512i w0 = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm512_castsi512_si256(q)), scales0);
            __m512i w1 = _mm512_mullo_epi16(_mm512_cvtepi8_epi16(_mm512_extracti64x4_epi64(q, 1)), scales1);
            _mm512_storeu_si512((void *)(lowPlane + 64 * (4 * g + k)), _mm512_permutex2var_epi8(w0, lowBytes, w1));
            _mm512_storeu_si512((void *)(highPlane + 64 * (4 * g + k)), _mm512_permutex2var_epi8(w0, highBytes, w1));
        }
    }
}

/// Starts the products of block `b` for token tile `tile` of the chunk (a unit): the low plane's
/// `Σ a x low` in tile `LOW`, the high plane's `Σ a x high` in tile `HIGH` (Q6_K's high bytes signed,
/// Q4_K's unsigned), over four quarters of 64 columns (activations in tiles 3 and 5 by turns, the planes'
/// quarters in tiles 4 and 6).
#define PLANE_UNIT_PRODUCTS(LOW, HIGH, b, tile)                                                         \
    do {                                                                                                \
        const int8_t *blockQuants = quants + 16L * columns * (tile) + 256L * (b);                       \
        const uint8_t *low = unpacked + 8192L * ((b) % PLANE_RING), *high = low + 4096;                 \
        _tile_zero(LOW);                                                                                \
        _tile_zero(HIGH);                                                                               \
        for (int quarter = 0; quarter < 4; quarter += 2) {                                              \
            _tile_loadd(3, blockQuants + 64 * quarter, columns);                                        \
            _tile_loadd(4, low + 1024 * quarter, 64);                                                   \
            _tile_dpbsud(LOW, 3, 4);                                                                    \
            _tile_loadd(6, high + 1024 * quarter, 64);                                                  \
            if (q4k) _tile_dpbsud(HIGH, 3, 6); else _tile_dpbssd(HIGH, 3, 6);                          \
            _tile_loadd(5, blockQuants + 64 * (quarter + 1), columns);                                  \
            _tile_loadd(4, low + 1024 * (quarter + 1), 64);                                             \
            _tile_dpbsud(LOW, 5, 4);                                                                    \
            _tile_loadd(6, high + 1024 * (quarter + 1), 64);                                            \
            if (q4k) _tile_dpbsud(HIGH, 5, 6); else _tile_dpbssd(HIGH, 5, 6);                          \
        }                                                                                               \
    } while (0)

/// A unit's products in tiles 0 and 1 (even units `u`) or 2 and 7 (odd), so that a unit's products run
/// while the one before is stored and its float work done.
#define PLANE_START_UNIT(u, b, tile)                                                                    \
    do {                                                                                                \
        if ((u) & 1) PLANE_UNIT_PRODUCTS(2, 7, b, tile); else PLANE_UNIT_PRODUCTS(0, 1, b, tile);      \
    } while (0)

/// Unpacks block `b`'s planes.
#define PLANE_UNPACK(b)                                                                                 \
    do {                                                                                                \
        if (q4k) q4k_scaled_unpack_block(group, groupStride, b, bytesPerBlock, unpacked);               \
        else q6k_scaled_unpack_block(group, groupStride, b, bytesPerBlock, unpacked);                   \
    } while (0)

/// The Q6_K (`q4k` 0) or Q4_K (`q4k` 1) pair tile over the scaled planes: per block and token tile, two
/// tile products per quarter, two tile stores, and for each token `(high << 8) + low` (the Int32 sum of
/// `q6k_pair_tile` and `q4k_pair_tile`) then their float work, operation for operation. Each chunk
/// unpacks a block two blocks ahead of its products.
AMX_TARGET static inline __attribute__((always_inline)) void plane_pair_amx(
    const uint8_t *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock, const int8_t *quants,
    int columns, const float *scales, const int16_t *subBlockSums, const int q4k, int tokens, const uint8_t *ahead,
    long aheadBytes, float *out, int rows, int valid0, int valid1) {
    _Alignas(64) int32_t lowSums[256], highSums[256];
    const int tiles = (tokens + 15) / 16;
    // The next pair's weights, a slice per block of every token tile, into the second-level cache.
    const long lines = (aheadBytes + 63) / 64, perUnit = (lines + (long)tiles * blocks - 1) / ((long)tiles * blocks);
    long line = 0;
    load_config(64);
    for (int chunk = 0; chunk < tiles; chunk += PLANE_CHUNK_TILES) {
        const int chunkTiles = tiles - chunk < PLANE_CHUNK_TILES ? tiles - chunk : PLANE_CHUNK_TILES;
        const int units = blocks * chunkTiles;
        __m512 acc[16 * PLANE_CHUNK_TILES];
        for (int t = 0; t < 16 * chunkTiles; t++) acc[t] = _mm512_setzero_ps();
        for (int b = 0; b < 2 && b < blocks; b++) PLANE_UNPACK(b);
        PLANE_START_UNIT(0, 0, 0);
        // Unit u is block b's token tile `tile`: the next one is (nextBlock, nextTile).
        for (int u = 0, b = 0, tile = 0; u < units; u++) {
            const int nextTile = tile + 1 < chunkTiles ? tile + 1 : 0, nextBlock = nextTile == 0 ? b + 1 : b;
            if (tile == 0 && b + 2 < blocks) PLANE_UNPACK(b + 2);
            if (u + 1 < units) PLANE_START_UNIT(u + 1, nextBlock, nextTile);
            if (u & 1) {
                _tile_stored(2, lowSums, 64);
                _tile_stored(7, highSums, 64);
            } else {
                _tile_stored(0, lowSums, 64);
                _tile_stored(1, highSums, 64);
            }
            for (long end = line + perUnit; line < end && line < lines; line++) tandem_prefetch_l2(ahead + 64 * line);
            const uint8_t *first = group + (long)b * bytesPerBlock, *second = first + groupStride;
            __m512 *tileAcc = acc + 16 * tile;
            if (q4k) {
                __m512i scaled[16];
#pragma clang loop unroll(full)
                for (int t = 0; t < 16; t++)
                    scaled[t] = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(highSums + 16 * t), 8),
                                                 _mm512_load_si512(lowSums + 16 * t));
                q4k_block_floats(tileAcc, scaled, first, second, b, blocks, scales + 16L * blocks * tile,
                                 subBlockSums + 16L * (columns / 32) * tile, columns, 16);
            } else {
                __m512 d = halves_ps(first, second);
                const float *tileScales = scales + 16L * blocks * tile + b;
#pragma clang loop unroll(full)
                for (int t = 0; t < 16; t++) {
                    __m512i scaled = _mm512_add_epi32(_mm512_slli_epi32(_mm512_load_si512(highSums + 16 * t), 8),
                                                      _mm512_load_si512(lowSums + 16 * t));
                    __m512 da = _mm512_set1_ps(tileScales[t * blocks]);
                    tileAcc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, da), _mm512_cvtepi32_ps(scaled), tileAcc[t]);
                }
            }
            b = nextBlock, tile = nextTile;
        }
        for (int tile = 0; tile < chunkTiles; tile++)
            store_tile(acc + 16 * tile, tokens - 16 * (chunk + tile), out + 16L * rows * tile, rows, valid0, valid1);
        quants += 16L * PLANE_CHUNK_TILES * columns, scales += 16L * PLANE_CHUNK_TILES * blocks;
        out += 16L * PLANE_CHUNK_TILES * rows;
        if (q4k) subBlockSums += 16L * PLANE_CHUNK_TILES * (columns / 32);
    }
}

AMX_TARGET void tandem_q6k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                                    int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                    int tokens, const void *ahead, long aheadBytes, float *out, int rows, int valid0,
                                    int valid1) {
    if (tokens <= 16)
        group_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, 0, 0, tokens, ahead,
                       aheadBytes, out, rows, valid0, valid1);
    else plane_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, 0, 0, tokens, ahead,
                   aheadBytes, out, rows, valid0, valid1);
}

AMX_TARGET void tandem_q4k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                                    int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                    const int16_t *subBlockSums, int tokens, const void *ahead, long aheadBytes,
                                    float *out, int rows, int valid0, int valid1) {
    if (tokens <= 16)
        group_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, subBlockSums, 1,
                       tokens, ahead, aheadBytes, out, rows, valid0, valid1);
    else plane_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, subBlockSums, 1,
                   tokens, ahead, aheadBytes, out, rows, valid0, valid1);
}

#else
int tandem_enable_amx(void) { return 0; }
void tandem_nibble_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                            int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                            const float *sums, int32_t offset, int tokens, const void *ahead, long aheadBytes,
                            float *out, int rows, int valid0, int valid1) {}
void tandem_q6k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
                         const int8_t *quants, int columns, const float *scales, int tokens, const void *ahead,
                         long aheadBytes, float *out, int rows, int valid0, int valid1) {}
void tandem_q4k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
                         const int8_t *quants, int columns, const float *scales, const int16_t *subBlockSums,
                         int tokens, const void *ahead, long aheadBytes, float *out, int rows, int valid0,
                         int valid1) {}
#endif

// Interleaved Q4_0, Q4_1, Q4_K and Q6_K products of many tokens with AMX (Intel's tile matrix multiply:
// `tdpbssd` / `tdpbsud` multiply a tile of 16 rows x up to 64 bytes by a tile of up to 16 columns in one
// instruction), over the pairs of row groups that `InterleavedMatmul.unpackedPairs` unpacks, chosen at
// run time on CPUs and kernels that have it. Swift cannot emit the tile instructions, so this is C.
//
// A tile product gives one block's (K formats: one 16- or 32-column group's) exact integer dots for 16
// tokens x 16 rows: the same integers as the VNNI and AVX2 tiles. The tile is stored, and AVX-512 then
// does the same integer and float operations on it in the same order as the VNNI pair tiles, so results
// are bit-identical. The float work is what bounds these kernels: a 16 x 16 tile of dots takes one tile
// product but 16 vector multiplies, conversions and FMAs.
#include "KernelIntrinsics.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include "PairHelpers.h"
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#define AMX_TARGET __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512vnni,amx-tile,amx-int8")))

/// Linux's request for permission to use a dynamically enabled state component (arch_prctl).
enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

int tandem_enable_amx(void) {
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) return 0;
    // AMX-TILE (bit 24) and AMX-INT8 (bit 25).
    if ((edx & (3u << 24)) != (3u << 24)) return 0;
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
/// columns x 16 rows). A unit is a Q4_0 or Q4_1 block (32 bytes), a Q4_K sub-block (32) or a Q6_K group
/// (16). `ldtilecfg` costs as much as a few units' products, so a thread loads it once per shape and keeps
/// its tiles (the kernel switches them with the thread, as it does the vector registers).
AMX_TARGET static void load_config(int activationBytes) {
    if (loadedActivationBytes == activationBytes) return;
    TileConfig config = {0};
    config.palette = 1;
    for (int i = 0; i < 3; i++) config.rows[i] = 16, config.bytesPerRow[i] = 64;
    for (int i = 3; i < 7; i += 2) {
        config.rows[i] = 16, config.bytesPerRow[i] = (uint16_t)activationBytes;
        config.rows[i + 1] = (uint8_t)(activationBytes / 4), config.bytesPerRow[i + 1] = 64;
    }
    _tile_loadconfig(&config);
    loadedActivationBytes = activationBytes;
}

/// Writes the first `count` (at most 16) tokens' accumulators: token `t`'s `valid0` first rows to
/// `out + t * rows` and its `valid1` second rows 8 floats on. The accumulators go to a local array first, each at a constant index, so that the kernels can keep
/// them in registers (a variable index into `acc` would keep them in memory across all the float work).
AMX_TARGET static inline __attribute__((always_inline)) void store_tile(const __m512 *acc, int count, float *out,
                                                                        int rows, int valid0, int valid1) {
    _Alignas(64) float lanes[16][16];
#pragma clang loop unroll(full)
    for (int t = 0; t < 16; t++) _mm512_store_ps(lanes[t], acc[t]);
    for (int t = 0; t < count && t < 16; t++) {
        float *row = out + (long)t * rows;
        for (int i = 0; i < valid0; i++) row[i] = lanes[t][i];
        for (int i = 0; i < valid1; i++) row[8 + i] = lanes[t][8 + i];
    }
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
/// tile: each group's dots times the rows' group scales summed in Int32 per block, then the block's
/// float work, as `q6k_pair_tile` and `q4k_pair_tile` do.
AMX_TARGET static inline __attribute__((always_inline)) void k_pair_amx(
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

AMX_TARGET void tandem_q6k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                                    int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                    int tokens, const void *ahead, long aheadBytes, float *out, int rows, int valid0,
                                    int valid1) {
    k_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales, 0, 0, tokens, ahead,
               aheadBytes, out, rows, valid0, valid1);
}

AMX_TARGET void tandem_q4k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks,
                                    int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                    const int16_t *subBlockSums, int tokens, const void *ahead, long aheadBytes,
                                    float *out, int rows, int valid0, int valid1) {
    k_pair_amx(group, groupStride, unpacked, blocks, bytesPerBlock, quants, columns, scales,
               subBlockSums, 1, tokens, ahead, aheadBytes, out, rows, valid0, valid1);
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

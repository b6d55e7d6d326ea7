#ifndef TANDEM_KERNEL_INTRINSICS_H
#define TANDEM_KERNEL_INTRINSICS_H

#include <stdint.h>

// What Swift cannot emit: the prefetch instruction (clang's `_mm_prefetch` is a macro over a builtin,
// which the Swift importer does not bring in; static inline, so calls compile to the bare instruction),
// and kernels for an instruction set chosen at run time (VNNITiles.c).

/// Asks the CPU to start loading the cache line that holds `address` into the second-level cache
/// (`prefetcht1`). Only a hint: it never faults and changes no results. The attention kernel measured
/// it against `prefetcht0` (into the first level, whose few miss buffers the prefetches then fill):
/// 0.53 vs 0.80 ms per layer of 64-sequence decode attention.
static inline __attribute__((always_inline)) void tandem_prefetch_l2(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

/// Asks the CPU to start loading the cache line that holds `address` into the first-level cache
/// (`prefetcht0`): the weight streams of the Q6_K and Q4_K tiles, which the hardware prefetchers alone
/// leave well below the memory's read rate.
static inline __attribute__((always_inline)) void tandem_prefetch_l1(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// 1 when the CPU runs AVX-512 VNNI on 256-bit vectors (then the `_vnni` tiles below may be called).
int tandem_has_vnni(void);

/// The interleaved one-byte-per-column tile with `vpdpbusd`: Q8_0's signed bytes (`offset` 0, as
/// `InterleavedMatmul.tileSignedBytes`) or Q4_0/Q5_0's unsigned `q + offset` (`tileUnsignedBytes`). The
/// group of 8 rows whose first block is at `group`, for `tokens` (1...4) tokens whose activation quants
/// start at `quants` (row stride `columns`), scales at `scales` and block sums at `integerSums`
/// (`[t * blocks + b]`). Token `t`'s `valid` rows go to `out + t * rows`.
void tandem_byte_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                           const float *scales, const int32_t *integerSums, int32_t offset, int tokens, float *out,
                           int rows, int valid);

/// The interleaved Q4_K / Q5_K tile (`InterleavedMatmul.tileK`, unsigned quants) with `vpdpbusd`;
/// activation sub-block sums at `subBlockSums` (`[t * columns / 32 + j]`); otherwise as above.
void tandem_k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                        const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                        int valid);

/// The interleaved Q4_K tile in its nibble layout (`InterleavedMatmul.tileQ4K`) with `vpdpbusd`; arguments
/// as `tandem_k_tile_vnni`.
void tandem_q4k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                          const float *scales, const int16_t *subBlockSums, int tokens, float *out, int rows,
                          int valid);

/// The interleaved Q6_K tile in its 6-bit layout (`InterleavedMatmul.tileQ6K`) with `vpdpbusd` on the
/// stored `q + 32`; `-32 * Σ a` of each 16 activation quants at `groupOffsets` (`[t * columns / 16 + g]`)
/// starts each group's dot. Otherwise as `tandem_k_tile_vnni`.
void tandem_q6k_tile_vnni(const void *group, int blocks, int bytesPerBlock, const int8_t *quants, int columns,
                          const float *scales, const int32_t *groupOffsets, int tokens, float *out, int rows,
                          int valid);

/// Writes two adjacent Q6_K row groups' stored bytes (`q + 32`) minus `bias` (0, or 32 for the AMX tile's
/// signed `q`), 16 rows side by side (4,096 bytes per
/// block), to `out`, for `tandem_q6k_pair_tile_vnni`.
void tandem_q6k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, int bias,
                                 uint8_t *out);

/// `tandem_q6k_tile_vnni` over the two row groups at `group` (the second `groupStride` bytes on), whose
/// stored bytes `tandem_q6k_unpack_pair_vnni` wrote to `unpacked`, in 512-bit vectors; bit-identical to
/// it, for 1-6 tokens. The second group's rows go 8 floats after the first's (`valid0`, `valid1` rows).
void tandem_q6k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                               int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                               const int32_t *groupOffsets, int tokens, float *out, int rows, int valid0,
                               int valid1);

/// Unpacks two adjacent Q4_K row groups' nibbles to bytes, 16 rows side by side (4,096 bytes per
/// block), in `out`, for `tandem_q4k_pair_tile_vnni`.
void tandem_q4k_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, uint8_t *out);

/// `tandem_q4k_tile_vnni` over the two row groups at `group` (the second `groupStride` bytes on), whose
/// nibbles `tandem_q4k_unpack_pair_vnni` wrote to `unpacked`, in 512-bit vectors; bit-identical to it,
/// for 1-6 tokens. The second group's rows go 8 floats after the first's (`valid0`, `valid1` rows).
void tandem_q4k_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                               int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                               const int16_t *subBlockSums, int tokens, float *out, int rows, int valid0,
                               int valid1);

/// Unpacks two adjacent Q4_1 or Q4_0 row groups' nibbles (quants from `quantStart` in each block) minus
/// `bias` to bytes, 16 rows side by side (512 bytes per block), in `out`: for `tandem_nibble_pair_tile_vnni`
/// (`bias` 0) and `tandem_nibble_pair_amx` (Q4_0's signed `q`: `bias` 8).
void tandem_nibble_unpack_pair_vnni(const void *group, long groupStride, int blocks, int bytesPerBlock, int quantStart,
                                    int bias, uint8_t *out);

/// `tandem_nibble_tile_vnni` over the two row groups at `group` (the second `groupStride` bytes on),
/// whose nibbles `tandem_nibble_unpack_pair_vnni` wrote to `unpacked`, in 512-bit vectors; bit-identical
/// to it, for 1-6 tokens.
void tandem_nibble_pair_tile_vnni(const void *group, long groupStride, const uint8_t *unpacked, int blocks,
                                  int bytesPerBlock, const int8_t *quants, int columns, const float *scales,
                                  const float *sums, const int32_t *integerSums, int32_t offset, int tokens, float *out,
                                  int rows, int valid0, int valid1);

/// The interleaved Q4_1 or Q4_0 nibble tile (`InterleavedMatmul.tileQ4_1`) with `vpdpbusd`, over `groups`
/// (1 or 2) row groups `groupStride` bytes apart, for 1-4 tokens (5 or 6 with one group). `offset` 0: Q4_1, activation sums (scaled) at `sums`;
/// `offset` 8: Q4_0 (nibble `q + 8`), integer block sums at `integerSums`. The second group's rows go 8
/// floats after the first's (`valid0`, `valid1` rows of each).
void tandem_nibble_tile_vnni(const void *group, long groupStride, int groups, int blocks, int bytesPerBlock,
                             const int8_t *quants, int columns, const float *scales, const float *sums,
                             const int32_t *integerSums, int32_t offset, int tokens, float *out, int rows, int valid0,
                             int valid1);
/// 1 when the CPU has AMX-INT8, AVX-512 VNNI and VBMI and the kernel lets this process use tile data (asked
/// for here, once per process); then the `_amx` tiles below may be called.
int tandem_enable_amx(void);
/// `tandem_nibble_pair_tile_vnni` with AMX, bit-identical to it, for any number of tokens: 16 tokens x
/// 16 rows per tile product. The kernel unpacks the pair itself, block by block as its tiles go, into
/// `unpacked` (512 bytes per block), as `tandem_nibble_unpack_pair_vnni` would with `bias` 8 for Q4_0 and 0
/// for Q4_1; the activation rows are read in whole tiles of 16 tokens, so the activations must have room
/// for `tokens` rounded up to 16 (only `tokens` outputs are written). `aheadBytes` from `ahead` (the next
/// pair) are prefetched into the second-level cache on the way.
void tandem_nibble_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
                            const int8_t *quants, int columns, const float *scales, const float *sums, int32_t offset,
                            int tokens, const void *ahead, long aheadBytes, float *out, int rows, int valid0,
                            int valid1);
/// `tandem_q6k_pair_tile_vnni` with AMX, bit-identical to it, for any number of tokens. Up to 16 tokens
/// (one tile) it multiplies each 16-column group (16 tokens x 16 rows per tile product) and unpacks
/// into `unpacked` (4,096 bytes per block) as `tandem_q6k_unpack_pair_vnni` would with `bias` 32; from
/// 17 it multiplies 64 columns at a time over the low and high bytes of each quant times its group scale
/// (8,192 bytes for each of the first three blocks, a ring). Otherwise as `tandem_nibble_pair_amx`.
void tandem_q6k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
                         const int8_t *quants, int columns, const float *scales, int tokens, const void *ahead,
                         long aheadBytes, float *out, int rows, int valid0, int valid1);
/// `tandem_q4k_pair_tile_vnni` with AMX, bit-identical to it, for any number of tokens, as
/// `tandem_q6k_pair_amx` (32-column sub-blocks up to 16 tokens, unpacked as `tandem_q4k_unpack_pair_vnni`
/// would; from 17 the planes of each nibble times its sub-block scale); activation sub-block sums at
/// `subBlockSums` (`[t * columns / 32 + j]`).
void tandem_q4k_pair_amx(const void *group, long groupStride, uint8_t *unpacked, int blocks, int bytesPerBlock,
                         const int8_t *quants, int columns, const float *scales, const int16_t *subBlockSums,
                         int tokens, const void *ahead, long aheadBytes, float *out, int rows, int valid0,
                         int valid1);
#endif

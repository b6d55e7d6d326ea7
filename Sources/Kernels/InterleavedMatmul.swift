#if TANDEM_AVX2
import _Builtin_intrinsics.intel
import KernelIntrinsics
#if canImport(Glibc)
import Glibc
#endif

/// The matrix product over `InterleavedWeights` (Q4_1 and Q4_0 nibbles; Q5_0 as unsigned and Q8_0 and
/// the K formats as signed bytes).
///
/// Work unit: one group of 8 rows (two groups for Q4_1 and Q4_0 above 4 tokens) x up to 4 tokens (the VNNI
/// tiles: up to 6, so that 5-6 tokens are one sweep). For chunk `k` of a
/// block, one load gives 4 quant bytes of each of the 8 rows; the token's 4 matching activation bytes
/// are broadcast to all lanes, and `maddubs` + `madd` leave each row's partial dot product in that
/// row's lane. After the block, lane `r`
/// holds row `r`'s exact integer block dot, and the accumulation per (row, token) is the same as
/// `QuantizedMatmul`'s definition: `acc = fma(weightScale * activationScale, Float(dot), acc)`, then for
/// Q4_1 `acc = fma(weightMinimum, activationSum, acc)`, block by block. The results are therefore
/// bit-identical to the file-layout kernels, whatever the batch size or thread count.
enum InterleavedMatmul {
    /// Bytes of packed weights a thread keeps hot (in its second-level cache) while it sweeps all token
    /// tiles over them. 256 KiB against the 24 KiB (first level) it was: streamed matrices at 8-64 tokens
    /// +4-28% (Q6_K and Q8_0 heads the most; `bench kernels --shapes`, alternated), fewer restarts of
    /// the hardware prefetchers' streams at each chunk's end.
    static let chunkBytes = 256 * 1024

    static func run(
        _ w: WeightMatrix, _ packed: InterleavedWeights, _ input: UnsafePointer<Float>, _ tokens: Int,
        _ output: UnsafeMutablePointer<Float>, _ pool: WorkerPool, _ scratch: MatmulScratch,
        vnni: Bool = hasVNNI, amx: Bool = hasAMX
    ) {
        let activations = quantizeActivations(
            input, tokens: tokens, columns: w.columns,
            blockSize: packed.isKFormat ? 256 : 32, pool: pool, scratch: scratch)
        let groupBytes = packed.blocksPerRow * packed.bytesPerGroupBlock
        let groupsPerChunk = max(1, chunkBytes / groupBytes)
        let rows = w.rows
        if unpacksPairs(packed, tokens: tokens, vnni: vnni, amx: amx) {
            unpackedPairs(packed, activations, tokens: tokens, rows: rows, output: output, pool: pool, amx: amx)
            return
        }
        if vnni && (5...6).contains(tokens) {
            // One sweep of 5 or 6 tokens (the C tiles take up to 6) instead of 4 + 1 or 4 + 2, so a
            // streamed matrix is read once: Q4_0 65536 x 2048 at 5 tokens 402-432 GFLOP/s against 302.
            // At 8 tokens one sweep measured 5% slower than two, so larger counts keep 4-token tiles.
            pool.parallelFor(packed.groups) { groups in
                forEachTile(groups: groups, groupsPerChunk: groupsPerChunk, tokens: tokens, width: tokens) {
                    group, token, count in
                    vnniTile(packed, activations, group: group, token: token, count: count, rows: rows, output: output)
                }
            }
            return
        }
        if tokens > 4 && packed.isNibbles {
            // Two row groups per tile: each activation broadcast feeds both (measured +20-40% on Q4_1 in
            // cache; nothing on Q8_0, whose sign fix-up and `madd` per chunk dominate). Not for one
            // sweep of up to 4 tokens: a matrix streamed from memory as two row groups at once read at
            // 27 GB/s against 43-70 GB/s as one (Q4_0 65536 x 2048, 2 and 3 tokens, both tiles).
            let pairs = (packed.groups + 1) / 2
            pool.parallelFor(pairs) { range in
                forEachTile(
                    groups: range, groupsPerChunk: max(1, groupsPerChunk / 2), tokens: tokens,
                    weights: packed.data, bytesPerGroup: 2 * groupBytes
                ) { pair, token, count in
                    let group = 2 * pair
                    if group + 1 < packed.groups {
                        pairTile(
                            packed, activations, group: group, token: token, count: count, rows: rows, output: output,
                            vnni: vnni)
                    } else {
                        tile(
                            packed, activations, group: group, token: token, count: count, rows: rows, output: output,
                            vnni: vnni)
                    }
                }
            }
            return
        }
        pool.parallelFor(packed.groups) { groups in
            forEachTile(
                groups: groups, groupsPerChunk: groupsPerChunk, tokens: tokens,
                weights: packed.data, bytesPerGroup: groupBytes
            ) { group, token, count in
                tile(
                    packed, activations, group: group, token: token, count: count, rows: rows, output: output,
                    vnni: vnni)
            }
        }
    }

    @inline(__always)
    static func tile(
        _ p: InterleavedWeights, _ a: QuantizedActivations, group: Int, token: Int, count: Int,
        rows: Int, output: UnsafeMutablePointer<Float>, vnni: Bool
    ) {
        switch count {
        case 1: tile(p, a, TileOf1.self, group: group, token: token, rows: rows, output: output, vnni: vnni)
        case 2: tile(p, a, TileOf2.self, group: group, token: token, rows: rows, output: output, vnni: vnni)
        case 3: tile(p, a, TileOf3.self, group: group, token: token, rows: rows, output: output, vnni: vnni)
        default: tile(p, a, TileOf4.self, group: group, token: token, rows: rows, output: output, vnni: vnni)
        }
    }

    /// The tile of the layout's kind, specialized for `Tokens.count` tokens.
    @inline(__always)
    static func tile<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _ tokens: Tokens.Type,
        group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>,
        vnni: Bool
    ) {
        if vnni {
            vnniTile(p, a, group: group, token: token, count: Tokens.count, rows: rows, output: output)
        } else if p.type == .q4_K {
            tileQ4K(p, a, tokens, group: group, token: token, rows: rows, output: output)
        } else if p.type == .q6_K {
            tileQ6K(p, a, tokens, group: group, token: token, rows: rows, output: output)
        } else if p.isKFormat {
            tileK(p, a, tokens, group: group, token: token, rows: rows, output: output)
        } else if p.type == .q4_1 {
            tileQ4_1(p, a, tokens, OneGroup.self, WithMinimum.self, group: group, token: token, rows: rows, output: output)
        } else if p.isNibbles {
            tileQ4_1(p, a, tokens, OneGroup.self, WithOffset.self, group: group, token: token, rows: rows, output: output)
        } else if p.quantOffset != 0 {
            tileUnsignedBytes(p, a, tokens, group: group, token: token, rows: rows, output: output)
        } else {
            tileSignedBytes(p, a, tokens, group: group, token: token, rows: rows, output: output)
        }
    }

    /// The C tile (`vpdpbusd`) of the layout's kind for `count` tokens (1 to 6), one row group.
    @inline(__always)
    static func vnniTile(
        _ p: InterleavedWeights, _ a: QuantizedActivations, group: Int, token: Int, count: Int, rows: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let data = p.groupData(group), blocks = Int32(p.blocksPerRow), bytes = Int32(p.bytesPerGroupBlock)
        let quants = a.quants + token * a.columns, columns = Int32(a.columns)
        let scales = a.scales + token * p.blocksPerRow
        let out = firstOutput(group: group, token: token, rows: rows, output: output)
        let valid = Int32(validRows(group: group, rows: rows))
        switch p.type {
        case .q4_K:
            tandem_q4k_tile_vnni(
                data, blocks, bytes, quants, columns, scales, a.subBlockSums + token * (a.columns / 32), Int32(count),
                out, Int32(rows), valid)
        case .q6_K:
            tandem_q6k_tile_vnni(
                data, blocks, bytes, quants, columns, scales, a.groupOffsets + token * (a.columns / 16), Int32(count),
                out, Int32(rows), valid)
        case .q5_K:
            tandem_k_tile_vnni(
                data, blocks, bytes, quants, columns, scales, a.subBlockSums + token * (a.columns / 32), Int32(count),
                out, Int32(rows), valid)
        case .q4_1, .q4_0:
            q4_1VNNI(p, a, groups: 1, group: group, token: token, count: count, rows: rows, output: output)
        default:
            tandem_byte_tile_vnni(
                data, blocks, bytes, quants, columns, scales, a.integerSums + token * p.blocksPerRow, p.quantOffset,
                Int32(count), out, Int32(rows), valid)
        }
    }

    /// Tokens from which a Q6_K (`unpackedQ6KTokens`), Q4_K (`unpackedQ4KTokens`) or Q4_0 / Q4_1
    /// (`unpackedNibbleTokens`) product unpacks each pair of row groups to bytes once and sweeps every
    /// token over them, 16 rows and 6 tokens at a time in 512-bit vectors, instead of unpacking them
    /// again for every 4 tokens.
    /// `bench kernels`, alternated, AMD EPYC (Zen 4), 2 threads, new / old, best of 3:
    /// - Q6_K head 49152 x 2048: 1.02x at 32 tokens, 1.21x at 64, 1.44x at 256 (0.61x at 8: below 32
    ///   tokens the unpacking costs more than it saves); 2048 x 8192: 1.15x, 1.35x, 1.41x. Since each
    ///   pair's sweeps prefetch the next pair, a streamed 128256 x 2048 head gains 1.07-1.36x at 24
    ///   tokens and loses at 12-16, hence 24.
    /// - Q4_0 8192 x 2048 and 2048 x 8192: 0.96-0.97x at 32, 1.02x at 64, 1.05x at 128, 1.08-1.10x at
    ///   256 (the two-group AVX2-width tile already shares each broadcast between 16 rows); Q4_1
    ///   1536 x 576: 0.99x, 1.05x, 1.09x, 1.13x.
    /// - Q4_K 8192 x 2048 and 2048 x 2048: 0.89x at 16, 0.98-0.99x at 32, 1.01-1.02x at 64, 1.04-1.06x at
    ///   128, 1.07-1.11x at 256.
    /// The Q6_K tile gains the most because its 6-bit unpacking was the heaviest; the others are close
    /// to this CPU's `vpdpbusd` rate either way.
    static let unpackedQ6KTokens = 24
    static let unpackedNibbleTokens = 64
    static let unpackedQ4KTokens = 128

    /// Tokens from which a Q4_0 / Q4_1 (`amxNibbleTokens`), Q6_K (`amxQ6KTokens`) or Q4_K (`amxQ4KTokens`)
    /// product takes the AMX tiles over unpacked pairs, where the CPU has them. Fewer than 16 tokens
    /// cost as much as 16 (one tile, padded), and from these counts on that is less than the VNNI
    /// tiles take: `bench kernels`, 2 threads, alternated twice, VNNI at 8 / 10 / 12 / 14 tokens against
    /// AMX at 16 (ms): Q4_0 8192 x 2048 0.76-1.25 / 1.00-1.37 / 1.18-1.38 / 1.47-1.84 against 0.78-0.82;
    /// Q4_K 8192 x 2048 0.82-1.16 / 0.91-0.98 / 1.04-1.21 / 1.25 against 1.06-1.21; Q6_K 2048 x 8192
    /// 1.06-1.16 / 1.35-1.38 / 1.48-1.75 / 1.77-1.86 against 1.36-1.92 (docs/performance.md, fifteenth session).
    static let amxNibbleTokens = 10
    static let amxQ6KTokens = 12
    static let amxQ4KTokens = 12

    /// Pairs of row groups a thread of `unpackedPairs` takes at a time: the threads pull them as they go,
    /// so that one slowed down by other work on its core (a shared host, an efficiency core) does not
    /// hold the product up while the other waits.
    static let pairsPerChunk = 16

    /// Whether `unpackedPairs` runs the AMX tiles for this layout.
    static func amxTiles(_ p: InterleavedWeights, amx: Bool) -> Bool {
        amx && (p.isNibbles || p.type == .q6_K || p.type == .q4_K)
    }

    /// Whether `run` takes `unpackedPairs` for this layout and token count.
    static func unpacksPairs(_ p: InterleavedWeights, tokens: Int, vnni: Bool, amx: Bool) -> Bool {
        guard vnni else { return false }
        switch p.type {
        case .q6_K: return tokens >= (amx ? amxQ6KTokens : unpackedQ6KTokens)
        case .q4_K: return tokens >= (amx ? amxQ4KTokens : unpackedQ4KTokens)
        default: return p.isNibbles && tokens >= (amx ? amxNibbleTokens : unpackedNibbleTokens)
        }
    }

    /// The product for many tokens over pairs of row groups: each pair unpacked once to bytes (to a
    /// buffer that stays in the thread's second-level cache), then swept by the pair tile for 6 tokens
    /// at a time; a last odd group takes the usual tile. The pair tiles do the same integers and float
    /// work as the one-group tiles, lane for lane, so the results are bit-identical.
    static func unpackedPairs(
        _ p: InterleavedWeights, _ a: QuantizedActivations, tokens: Int, rows: Int, output: UnsafeMutablePointer<Float>,
        pool: WorkerPool, amx: Bool
    ) {
        let blocks = Int32(p.blocksPerRow), bytes = Int32(p.bytesPerGroupBlock), columns = Int32(a.columns)
        let groupStride = p.blocksPerRow * p.bytesPerGroupBlock
        let amxPair = amxTiles(p, amx: amx)
        // The AMX K-format tiles of many token tiles unpack two byte planes per block, into a ring of
        // three blocks; those of one token tile the quants of every block.
        let unpackedBytes = p.isNibbles ? p.blocksPerRow * 512 : max(p.blocksPerRow * 4096, amxPair ? 8192 * min(p.blocksPerRow, 3) : 0)
        let offset = p.type == .q4_0 ? Int32(8) : 0
        pool.runChunked((p.groups + 1) / 2, grain: pairsPerChunk) { nextChunk in
            let unpacked = UnsafeMutablePointer<UInt8>.allocate(capacity: unpackedBytes)
            defer { unpacked.deallocate() }
            while let pairs = nextChunk() {
                for pair in pairs {
                    let group = 2 * pair
                    guard group + 1 < p.groups else {
                        forEachTile(groups: group..<(group + 1), groupsPerChunk: 1, tokens: tokens, width: 6) { group, token, count in
                            vnniTile(p, a, group: group, token: token, count: count, rows: rows, output: output)
                        }
                        continue
                    }
                    let data = p.groupData(group)
                    let valid0 = Int32(validRows(group: group, rows: rows)), valid1 = Int32(validRows(group: group + 1, rows: rows))
                    // The sweeps below prefetch the chunk's next pair, a slice each.
                    let nextGroups = pair + 1 < pairs.upperBound ? min(group + 4, p.groups) - (group + 2) : 0
                    // The AMX tiles unpack the pair themselves, as they go (Q4_0's quants signed, for
                    // `tdpbssd`: no `- offset * Σ a` then).
                    if amxPair {
                        let out = firstOutput(group: group, token: 0, rows: rows, output: output)
                        let ahead = p.groupData(group + 2), aheadBytes = nextGroups * groupStride
                        switch p.type {
                        case .q6_K:
                            tandem_q6k_pair_amx(
                                data, groupStride, unpacked, blocks, bytes, a.quants, columns, a.scales, Int32(tokens), ahead,
                                aheadBytes, out, Int32(rows), valid0, valid1)
                        case .q4_K:
                            tandem_q4k_pair_amx(
                                data, groupStride, unpacked, blocks, bytes, a.quants, columns, a.scales, a.subBlockSums,
                                Int32(tokens), ahead, aheadBytes, out, Int32(rows), valid0, valid1)
                        default:
                            tandem_nibble_pair_amx(
                                data, groupStride, unpacked, blocks, bytes, a.quants, columns, a.scales, a.sums, offset,
                                Int32(tokens), ahead, aheadBytes, out, Int32(rows), valid0, valid1)
                        }
                        continue
                    }
                    switch p.type {
                    case .q6_K: tandem_q6k_unpack_pair_vnni(data, groupStride, blocks, bytes, 0, unpacked)
                    case .q4_K: tandem_q4k_unpack_pair_vnni(data, groupStride, blocks, bytes, unpacked)
                    default: tandem_nibble_unpack_pair_vnni(data, groupStride, blocks, bytes, p.type == .q4_1 ? 32 : 16, 0, unpacked)
                    }
                    var ahead = PrefetchSlices(p.groupData(group + 2), bytes: nextGroups * groupStride, slices: (tokens + 5) / 6)
                    var token = 0
                    while token < tokens {
                        ahead.next()
                        let count = Int32(min(6, tokens - token))
                        let quants = a.quants + token * a.columns, scales = a.scales + token * p.blocksPerRow
                        let out = firstOutput(group: group, token: token, rows: rows, output: output)
                        switch p.type {
                        case .q6_K:
                            tandem_q6k_pair_tile_vnni(
                                data, groupStride, unpacked, blocks, bytes, quants, columns, scales,
                                a.groupOffsets + token * (a.columns / 16), count, out, Int32(rows), valid0, valid1)
                        case .q4_K:
                            tandem_q4k_pair_tile_vnni(
                                data, groupStride, unpacked, blocks, bytes, quants, columns, scales,
                                a.subBlockSums + token * (a.columns / 32), count, out, Int32(rows), valid0, valid1)
                        default:
                            tandem_nibble_pair_tile_vnni(
                                data, groupStride, unpacked, blocks, bytes, quants, columns, scales, a.sums + token * p.blocksPerRow,
                                a.integerSums + token * p.blocksPerRow, offset, count, out, Int32(rows), valid0, valid1)
                        }
                        token += Int(count)
                    }
                }
            }
        }
    }

    /// Whether this CPU has AVX-512 VNNI, so that the Q4_1, Q8_0, Q4_0, Q5_0 and K-format tiles run as C
    /// with `vpdpbusd`. Bit-identical to the AVX2 tiles;
    /// `TANDEM_NO_VNNI=1` keeps the AVX2 tiles, for comparison.
    static let hasVNNI = tandem_has_vnni() != 0 && getenv("TANDEM_NO_VNNI") == nil

    /// Whether this CPU has AMX-INT8 (and AVX-512 VNNI) and the kernel lets the process use it, so that
    /// Q4_0, Q4_1, Q4_K and Q6_K products of many tokens run on tiles of 16 tokens x 16 rows. Bit-identical to
    /// the VNNI and AVX2 tiles; `TANDEM_NO_AMX=1` keeps the VNNI tiles, for comparison.
    static let hasAMX = hasVNNI && getenv("TANDEM_NO_AMX") == nil && tandem_enable_amx() != 0

    /// The Q4_1 or Q4_0 tile over `groups` (1 or 2) row groups from `group`, with `vpdpbusd`.
    @inline(__always)
    static func q4_1VNNI(
        _ p: InterleavedWeights, _ a: QuantizedActivations, groups: Int, group: Int, token: Int,
        count: Int, rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        tandem_nibble_tile_vnni(
            p.groupData(group), p.blocksPerRow * p.bytesPerGroupBlock, Int32(groups),
            Int32(p.blocksPerRow), Int32(p.bytesPerGroupBlock), a.quants + token * a.columns,
            Int32(a.columns), a.scales + token * p.blocksPerRow, a.sums + token * p.blocksPerRow,
            a.integerSums + token * p.blocksPerRow, p.type == .q4_0 ? 8 : 0,
            Int32(count), firstOutput(group: group, token: token, rows: rows, output: output),
            Int32(rows), Int32(validRows(group: group, rows: rows)),
            Int32(validRows(group: group + 1, rows: rows)))
    }

    /// Where the first token's output for `group`'s first row goes.
    @inline(__always)
    static func firstOutput(group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>) -> UnsafeMutablePointer<Float> {
        output + token * rows + group * InterleavedWeights.groupRows
    }

    /// How many of `group`'s rows exist (the last group may be padded).
    @inline(__always)
    static func validRows(group: Int, rows: Int) -> Int {
        min(InterleavedWeights.groupRows, rows - group * InterleavedWeights.groupRows)
    }

    /// Q4_1 groups `group` and `group + 1` for up to 4 tokens.
    @inline(__always)
    static func pairTile(
        _ p: InterleavedWeights, _ a: QuantizedActivations, group: Int, token: Int, count: Int,
        rows: Int, output: UnsafeMutablePointer<Float>, vnni: Bool
    ) {
        if vnni {
            q4_1VNNI(p, a, groups: 2, group: group, token: token, count: count, rows: rows, output: output)
            return
        }
        if p.type == .q4_1 {
            pairTile(p, a, WithMinimum.self, group: group, token: token, count: count, rows: rows, output: output)
        } else {
            pairTile(p, a, WithOffset.self, group: group, token: token, count: count, rows: rows, output: output)
        }
    }

    @inline(__always)
    static func pairTile<Form: NibbleForm>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _ form: Form.Type, group: Int, token: Int, count: Int,
        rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        switch count {
        case 1: tileQ4_1(p, a, TileOf1.self, TwoGroups.self, form, group: group, token: token, rows: rows, output: output)
        case 2: tileQ4_1(p, a, TileOf2.self, TwoGroups.self, form, group: group, token: token, rows: rows, output: output)
        case 3: tileQ4_1(p, a, TileOf3.self, TwoGroups.self, form, group: group, token: token, rows: rows, output: output)
        default: tileQ4_1(p, a, TileOf4.self, TwoGroups.self, form, group: group, token: token, rows: rows, output: output)
        }
    }

    /// Four activation bytes at `p` broadcast to all eight 32-bit lanes.
    @inline(__always)
    static func broadcast4(_ p: UnsafePointer<Int8>) -> __m256i {
        _mm256_set1_epi32(UnsafeRawPointer(p).loadUnaligned(as: Int32.self))
    }

    /// Q4_1 or Q4_0 nibbles over one or two adjacent row groups (`Groups`): nibbles are 0...15 and
    /// activation quants -127...127, so the 16 products that reach one Int16 lane over a block stay
    /// below 32767 and the block is summed in Int16 before one `madd`. With two groups each activation
    /// broadcast feeds four `maddubs` instead of two; the arithmetic per row is the same either way.
    /// Q4_1 then adds its minimum term; Q4_0 (nibble `q + 8`) subtracts `8 * Σ a` from the integer dot,
    /// as `tileUnsignedBytes` does.
    @inline(__always)
    static func tileQ4_1<Tokens: TileTokens, Groups: TileGroups, Form: NibbleForm>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _: Tokens.Type, _: Groups.Type, _: Form.Type,
        group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        let two = Groups.count == 2
        let quantStart = Form.hasMinimum ? 32 : 16
        let blocks = p.blocksPerRow, columns = a.columns
        let mask = _mm256_set1_epi8(0x0F), ones = _mm256_set1_epi16(1)
        let q0 = a.quants + token * columns
        let next = blocks * p.bytesPerGroupBlock
        var block = UnsafeRawPointer(p.groupData(group))
        var accA = TileLanes<Tokens, __m256>(_mm256_setzero_ps()), accB = accA
        for b in 0..<blocks {
            var sumsA = TileLanes<Tokens, __m256i>(_mm256_setzero_si256()), sumsB = sumsA
            for k in 0..<4 {
                let rawA = _mm256_loadu_si256((block + quantStart + 32 * k).assumingMemoryBound(to: __m256i.self))
                let rawB =
                    two ? _mm256_loadu_si256((block + next + quantStart + 32 * k).assumingMemoryBound(to: __m256i.self)) : rawA
                let lowA = _mm256_and_si256(rawA, mask), highA = _mm256_and_si256(_mm256_srli_epi16(rawA, 4), mask)
                let lowB = _mm256_and_si256(rawB, mask), highB = _mm256_and_si256(_mm256_srli_epi16(rawB, 4), mask)
                sumsA.update { t, s in
                    let x = q0 + t * columns + b * 32 + 4 * k
                    let xLow = broadcast4(x), xHigh = broadcast4(x + 16)
                    if two {
                        sumsB[t] = _mm256_add_epi16(
                            sumsB[t],
                            _mm256_add_epi16(
                                _mm256_maddubs_epi16(lowB, xLow),
                                _mm256_maddubs_epi16(highB, xHigh)))
                    }
                    return _mm256_add_epi16(
                        s,
                        _mm256_add_epi16(
                            _mm256_maddubs_epi16(lowA, xLow),
                            _mm256_maddubs_epi16(highA, xHigh)))
                }
            }
            @inline(__always)
            func accumulate(
                _ groupBlock: UnsafeRawPointer, _ sums: TileLanes<Tokens, __m256i>,
                _ acc: inout TileLanes<Tokens, __m256>
            ) {
                let scales = _mm256_cvtph_ps(_mm_loadu_si128(groupBlock.assumingMemoryBound(to: __m128i.self)))
                if Form.hasMinimum {
                    let minimums = _mm256_cvtph_ps(_mm_loadu_si128((groupBlock + 16).assumingMemoryBound(to: __m128i.self)))
                    acc.update { t, acc in
                        let index = (token + t) * blocks + b
                        let dots = _mm256_cvtepi32_ps(_mm256_madd_epi16(sums[t], ones))
                        let scale = _mm256_mul_ps(scales, _mm256_set1_ps(a.scales[index]))
                        return _mm256_fmadd_ps(minimums, _mm256_set1_ps(a.sums[index]), _mm256_fmadd_ps(scale, dots, acc))
                    }
                } else {
                    acc.update { t, acc in
                        let index = (token + t) * blocks + b
                        let exact = _mm256_sub_epi32(_mm256_madd_epi16(sums[t], ones), _mm256_set1_epi32(8 &* a.integerSums[index]))
                        let scale = _mm256_mul_ps(scales, _mm256_set1_ps(a.scales[index]))
                        return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(exact), acc)
                    }
                }
            }
            accumulate(block, sumsA, &accA)
            if two { accumulate(block + next, sumsB, &accB) }
            block += p.bytesPerGroupBlock
        }
        store(accA, group: group, token: token, rows: rows, output: output)
        if two { store(accB, group: group + 1, token: token, rows: rows, output: output) }
    }

    /// Q4_0 / Q5_0 as unsigned bytes `u = q + offset` (0...31): `Σ q·a = Σ u·a − offset · Σ a` exactly,
    /// and 4 chunks of `maddubs` (8 products of at most 31 * 127 per Int16 lane) fit in 16 bits, so a
    /// block takes two `madd`s instead of eight and no sign fix-up.
    @inline(__always)
    static func tileUnsignedBytes<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations,
        _: Tokens.Type, group: Int, token: Int, rows: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let blocks = p.blocksPerRow, columns = a.columns
        let ones = _mm256_set1_epi16(1)
        let offset = p.quantOffset
        let q0 = a.quants + token * columns
        sweep(p, Tokens.self, group: group, token: token, rows: rows, output: output) { block, b, acc in
            var dots = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
            for half in 0..<2 {
                var sums = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
                for k in (4 * half)..<(4 * half + 4) {
                    let weights = _mm256_loadu_si256((block + 16 + 32 * k).assumingMemoryBound(to: __m256i.self))
                    @inline(__always)
                    func dot(_ t: Int, _ s: __m256i) -> __m256i {
                        _mm256_add_epi16(s, _mm256_maddubs_epi16(weights, broadcast4(q0 + t * columns + b * 32 + 4 * k)))
                    }
                    sums.update(dot)
                }
                dots.update { t, d in _mm256_add_epi32(d, _mm256_madd_epi16(sums[t], ones)) }
            }
            let scales = _mm256_cvtph_ps(_mm_loadu_si128(block.assumingMemoryBound(to: __m128i.self)))
            @inline(__always)
            func accumulate(_ t: Int, _ acc: __m256) -> __m256 {
                let index = (token + t) * blocks + b
                let exact = _mm256_sub_epi32(dots[t], _mm256_set1_epi32(offset &* a.integerSums[index]))
                let scale = _mm256_mul_ps(scales, _mm256_set1_ps(a.scales[index]))
                return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(exact), acc)
            }
            acc.update(accumulate)
        }
    }

    /// Signed bytes (Q8_0): `maddubs` gets |w| and the activation with w's sign; each product pair
    /// can reach 2 * 128 * 127, so every chunk goes through `madd` to Int32 at once.
    @inline(__always)
    static func tileSignedBytes<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations,
        _: Tokens.Type, group: Int, token: Int, rows: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let blocks = p.blocksPerRow, columns = a.columns
        let ones = _mm256_set1_epi16(1)
        let q0 = a.quants + token * columns
        sweep(p, Tokens.self, group: group, token: token, rows: rows, output: output) { block, b, acc in
            var sums = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
            for k in 0..<8 {
                let weights = _mm256_loadu_si256((block + 16 + 32 * k).assumingMemoryBound(to: __m256i.self))
                let magnitude = _mm256_sign_epi8(weights, weights)
                @inline(__always)
                func dot(_ t: Int, _ s: __m256i) -> __m256i {
                    let x = broadcast4(q0 + t * columns + b * 32 + 4 * k)
                    let products = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(x, weights))
                    return _mm256_add_epi32(s, _mm256_madd_epi16(products, ones))
                }
                sums.update(dot)
            }
            let scales = _mm256_cvtph_ps(_mm_loadu_si128(block.assumingMemoryBound(to: __m128i.self)))
            acc.update { t, acc in
                let scale = _mm256_mul_ps(scales, _mm256_set1_ps(a.scales[(token + t) * blocks + b]))
                return _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(sums[t]), acc)
            }
        }
    }

    /// Eight rows' Int8 values at `first` and at `second`, as Int16 pairs: lane `r` holds row `r`'s two.
    @inline(__always)
    static func int16Pairs(_ first: UnsafeRawPointer, _ second: UnsafeRawPointer) -> __m256i {
        _mm256_cvtepi8_epi16(
            _mm_unpacklo_epi8(
                _mm_loadl_epi64(first.assumingMemoryBound(to: __m128i.self)),
                _mm_loadl_epi64(second.assumingMemoryBound(to: __m128i.self))))
    }

    /// A K block's eight rows' sub-block minimums (8 x 8 bytes at `minimums`), paired for `madd`.
    @inline(__always)
    static func minimumPairs(_ minimums: UnsafeRawPointer) -> (__m256i, __m256i, __m256i, __m256i) {
        (
            int16Pairs(minimums, minimums + 8), int16Pairs(minimums + 16, minimums + 24), int16Pairs(minimums + 32, minimums + 40),
            int16Pairs(minimums + 48, minimums + 56)
        )
    }

    /// `result - dmin x da x Σ minimum x sub-block sum`: the minimum term of the K formats, with the
    /// token's sub-block sums 2j and 2j+1 in the two Int16 halves of every lane.
    @inline(__always)
    static func subtractMinimums(
        _ m: (__m256i, __m256i, __m256i, __m256i), from result: __m256, dmin: __m256, da: __m256, sums: UnsafePointer<Int16>
    ) -> __m256 {
        let raw = UnsafeRawPointer(sums)
        @inline(__always)
        func sumPair(_ j: Int) -> __m256i { _mm256_set1_epi32(raw.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
        let minimumSum = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_madd_epi16(m.0, sumPair(0)), _mm256_madd_epi16(m.1, sumPair(1))),
            _mm256_add_epi32(_mm256_madd_epi16(m.2, sumPair(2)), _mm256_madd_epi16(m.3, sumPair(3))))
        let negated = _mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(dmin, da))
        return _mm256_fmadd_ps(negated, _mm256_cvtepi32_ps(minimumSum), result)
    }

    /// K formats: the exact dot of each row over a group of 16 columns is summed in Int16 (Q4_K and Q5_K
    /// quants are 0...31, so `maddubs` takes them as they are; Q6_K's -32...31 go through the sign fix-up;
    /// either way 4 chunks stay below 32767), then one `madd` with the row's group scale in both halves of
    /// its lane weighs it and widens it. The minimum term pairs two sub-blocks per `madd`. The integers
    /// are those of `KQuantMatmul`'s definition, and so is the float arithmetic after them.
    @inline(__always)
    static func tileK<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _: Tokens.Type,
        group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        typealias K = InterleavedWeights.KLayout
        let blocks = p.blocksPerRow, columns = a.columns
        let signed = p.type == .q6_K
        let hasMinimum = p.type != .q6_K
        let q0 = a.quants + token * columns
        sweep(p, Tokens.self, group: group, token: token, rows: rows, output: output) { block, b, acc in
            var scaled = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
            for g in 0..<16 {
                var sums = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
                for k in 0..<4 {
                    let weights = _mm256_loadu_si256((block + K.quants + 32 * (4 * g + k)).assumingMemoryBound(to: __m256i.self))
                    let magnitude = signed ? _mm256_sign_epi8(weights, weights) : weights
                    @inline(__always)
                    func dot(_ t: Int, _ s: __m256i) -> __m256i {
                        let x = broadcast4(q0 + t * columns + b * 256 + 16 * g + 4 * k)
                        return _mm256_add_epi16(s, _mm256_maddubs_epi16(magnitude, signed ? _mm256_sign_epi8(x, weights) : x))
                    }
                    sums.update(dot)
                }
                let scale = int16Pairs(block + K.scales + 8 * g, block + K.scales + 8 * g)
                scaled.update { t, sum in _mm256_add_epi32(sum, _mm256_madd_epi16(sums[t], scale)) }
            }
            let d = _mm256_loadu_ps((block + K.d).assumingMemoryBound(to: Float.self))
            let dmin = _mm256_loadu_ps((block + K.dmin).assumingMemoryBound(to: Float.self))
            let zero = _mm256_setzero_si256()
            let m = hasMinimum ? minimumPairs(block + K.minimums) : (zero, zero, zero, zero)
            @inline(__always)
            func accumulate(_ t: Int, _ acc: __m256) -> __m256 {
                let da = _mm256_set1_ps(a.scales[(token + t) * blocks + b])
                let result = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(scaled[t]), acc)
                guard hasMinimum else { return result }
                return subtractMinimums(m, from: result, dmin: dmin, da: da, sums: a.subBlockSums + (token + t) * (columns / 32) + b * 8)
            }
            acc.update(accumulate)
        }
    }

    /// Q4_K in its nibble layout (`InterleavedWeights.Q4KLayout`): per 64-column chunk, the low nibbles
    /// (sub-block `2j`) and high nibbles (`2j + 1`) are summed in Int16 apart (8 chunks x 2 products of at
    /// most 15 * 127 per lane), and one `madd` each with the rows' sub-block scales (in both halves of
    /// each lane) weighs and widens them. The weighted sum is the integer `tileK` computes over 16-column
    /// groups (a Q4_K sub-block's two groups share its scale), and the float work after it is the same.
    @inline(__always)
    static func tileQ4K<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _: Tokens.Type,
        group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        typealias L = InterleavedWeights.Q4KLayout
        let blocks = p.blocksPerRow, columns = a.columns
        let q0 = a.quants + token * columns
        let mask = _mm256_set1_epi8(0x0F)
        sweep(p, Tokens.self, group: group, token: token, rows: rows, output: output) { block, b, acc in
            var scaled = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
            for j in 0..<4 {
                // As the VNNI tile: a quarter block of the weights 2 KiB ahead.
                for line in stride(from: 0, to: 320, by: 64) { tandem_prefetch_l1(block + (2048 + 296 * j + line)) }
                var low = TileLanes<Tokens, __m256i>(_mm256_setzero_si256()), high = low
                for k in 0..<8 {
                    let raw = _mm256_loadu_si256((block + L.quants + 32 * (8 * j + k)).assumingMemoryBound(to: __m256i.self))
                    let lo = _mm256_and_si256(raw, mask), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask)
                    low.update { t, s in
                        _mm256_add_epi16(s, _mm256_maddubs_epi16(lo, broadcast4(q0 + t * columns + b * 256 + 64 * j + 4 * k)))
                    }
                    high.update { t, s in
                        _mm256_add_epi16(s, _mm256_maddubs_epi16(hi, broadcast4(q0 + t * columns + b * 256 + 64 * j + 32 + 4 * k)))
                    }
                }
                let scaleLow = int16Pairs(block + L.scales + 16 * j, block + L.scales + 16 * j)
                let scaleHigh = int16Pairs(block + L.scales + 16 * j + 8, block + L.scales + 16 * j + 8)
                scaled.update { t, sum in
                    _mm256_add_epi32(sum, _mm256_add_epi32(_mm256_madd_epi16(low[t], scaleLow), _mm256_madd_epi16(high[t], scaleHigh)))
                }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128((block + L.d).assumingMemoryBound(to: __m128i.self)))
            let dmin = _mm256_cvtph_ps(_mm_loadu_si128((block + L.dmin).assumingMemoryBound(to: __m128i.self)))
            let m = minimumPairs(block + L.minimums)
            @inline(__always)
            func accumulate(_ t: Int, _ acc: __m256) -> __m256 {
                let da = _mm256_set1_ps(a.scales[(token + t) * blocks + b])
                let result = _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(scaled[t]), acc)
                return subtractMinimums(m, from: result, dmin: dmin, da: da, sums: a.subBlockSums + (token + t) * (columns / 32) + b * 8)
            }
            acc.update(accumulate)
        }
    }

    /// Q6_K in its 6-bit layout (`InterleavedWeights.Q6KLayout`): per 16-column group, each chunk's
    /// stored values `u = q + 32` are put back together from a nibble and two bits, `q = u - 32` goes
    /// through the sign fix-up, and the group is summed in Int16 and weighed by one `madd` with the
    /// rows' group scales: the bytes, integers and float work of `tileK` for Q6_K, from 210 bytes per
    /// row and block instead of 288.
    @inline(__always)
    static func tileQ6K<Tokens: TileTokens>(
        _ p: InterleavedWeights, _ a: QuantizedActivations, _: Tokens.Type,
        group: Int, token: Int, rows: Int, output: UnsafeMutablePointer<Float>
    ) {
        typealias L = InterleavedWeights.Q6KLayout
        let blocks = p.blocksPerRow, columns = a.columns
        let q0 = a.quants + token * columns
        let mask = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), bias = _mm256_set1_epi8(32)
        sweep(p, Tokens.self, group: group, token: token, rows: rows, output: output) { block, b, acc in
            var scaled = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
            for g in 0..<16 {
                // As the VNNI tile: two lines of the weights 4 KiB ahead per group.
                tandem_prefetch_l1(block + (4096 + 128 * g))
                tandem_prefetch_l1(block + (4096 + 128 * g + 64))
                var bits = _mm256_loadu_si256((block + L.bits + 32 * g).assumingMemoryBound(to: __m256i.self))
                var sums = TileLanes<Tokens, __m256i>(_mm256_setzero_si256())
                for k in 0..<4 {
                    let raw = _mm256_loadu_si256((block + L.nibbles + 32 * (4 * (g % 8) + k)).assumingMemoryBound(to: __m256i.self))
                    let nibble = g < 8 ? _mm256_and_si256(raw, mask) : _mm256_and_si256(_mm256_srli_epi16(raw, 4), mask)
                    let stored = _mm256_or_si256(nibble, _mm256_slli_epi16(_mm256_and_si256(bits, three), 4))
                    bits = _mm256_srli_epi16(bits, 2)
                    let weights = _mm256_sub_epi8(stored, bias)
                    let magnitude = _mm256_sign_epi8(weights, weights)
                    @inline(__always)
                    func dot(_ t: Int, _ s: __m256i) -> __m256i {
                        let x = broadcast4(q0 + t * columns + b * 256 + 16 * g + 4 * k)
                        return _mm256_add_epi16(s, _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(x, weights)))
                    }
                    sums.update(dot)
                }
                let scale = _mm256_cvtepi8_epi16(
                    _mm_unpacklo_epi8(
                        _mm_loadl_epi64((block + L.scales + 8 * g).assumingMemoryBound(to: __m128i.self)),
                        _mm_loadl_epi64((block + L.scales + 8 * g).assumingMemoryBound(to: __m128i.self))))
                scaled.update { t, sum in _mm256_add_epi32(sum, _mm256_madd_epi16(sums[t], scale)) }
            }
            let d = _mm256_cvtph_ps(_mm_loadu_si128((block + L.d).assumingMemoryBound(to: __m128i.self)))
            acc.update { t, acc in
                let da = _mm256_set1_ps(a.scales[(token + t) * blocks + b])
                return _mm256_fmadd_ps(_mm256_mul_ps(d, da), _mm256_cvtepi32_ps(scaled[t]), acc)
            }
        }
    }

    /// Runs `body(block, b, &acc)` for each block `b` of the group (`block` points at its packed bytes),
    /// with one float accumulator per token, then stores the accumulators.
    @inline(__always)
    static func sweep<Tokens: TileTokens>(
        _ p: InterleavedWeights, _: Tokens.Type, group: Int, token: Int, rows: Int,
        output: UnsafeMutablePointer<Float>,
        _ body: (UnsafeRawPointer, Int, inout TileLanes<Tokens, __m256>) -> Void
    ) {
        var block = UnsafeRawPointer(p.groupData(group))
        var acc = TileLanes<Tokens, __m256>(_mm256_setzero_ps())
        for b in 0..<p.blocksPerRow {
            body(block, b, &acc)
            block += p.bytesPerGroupBlock
        }
        store(acc, group: group, token: token, rows: rows, output: output)
    }

    /// Writes the tile's rows (those that exist) for each of its tokens.
    @inline(__always)
    static func store<Tokens: TileTokens>(
        _ acc: TileLanes<Tokens, __m256>, group: Int, token: Int, rows: Int,
        output: UnsafeMutablePointer<Float>
    ) {
        let valid = validRows(group: group, rows: rows)
        let first = firstOutput(group: group, token: token, rows: rows, output: output)
        for t in 0..<Tokens.count {
            let out = first + t * rows
            if valid == InterleavedWeights.groupRows {
                _mm256_storeu_ps(out, acc[t])
            } else {
                let lanes = acc[t]
                for i in 0..<valid { out[i] = lanes[i] }
            }
        }
    }
}

/// The token count of a tile as a type, so that each count gets its own specialized, branch-free loop.
protocol TileTokens { static var count: Int { get } }

/// The number of 8-row groups a tile covers, as a type (see `TileTokens`).
protocol TileGroups { static var count: Int { get } }
enum OneGroup: TileGroups { static var count: Int { 1 } }

/// How a nibble tile turns a block's integer dot into the product: Q4_1's minimum term, or Q4_0's
/// offset (the stored nibble is `q + 8`).
protocol NibbleForm { static var hasMinimum: Bool { get } }
enum WithMinimum: NibbleForm { static var hasMinimum: Bool { true } }
enum WithOffset: NibbleForm { static var hasMinimum: Bool { false } }
enum TwoGroups: TileGroups { static var count: Int { 2 } }

/// One value per token of a tile (up to four, kept in registers); lanes past `Tokens.count` are unused.
struct TileLanes<Tokens: TileTokens, Value> {
    private var v0, v1, v2, v3: Value

    @inline(__always) init(_ value: Value) { (v0, v1, v2, v3) = (value, value, value, value) }

    @inline(__always) subscript(_ t: Int) -> Value {
        get {
            switch t {
            case 0: return v0
            case 1: return v1
            case 2: return v2
            default: return v3
            }
        }
        set {
            switch t {
            case 0: v0 = newValue
            case 1: v1 = newValue
            case 2: v2 = newValue
            default: v3 = newValue
            }
        }
    }

    /// Replaces each used lane `t` by `body(t, lane)`.
    @inline(__always) mutating func update(_ body: (Int, Value) -> Value) {
        v0 = body(0, v0)
        if Tokens.count > 1 { v1 = body(1, v1) }
        if Tokens.count > 2 { v2 = body(2, v2) }
        if Tokens.count > 3 { v3 = body(3, v3) }
    }
}
enum TileOf1: TileTokens { static var count: Int { 1 } }
enum TileOf2: TileTokens { static var count: Int { 2 } }
enum TileOf3: TileTokens { static var count: Int { 3 } }
enum TileOf4: TileTokens { static var count: Int { 4 } }
#endif

import GGUF

/// Quantized weights repacked for the vector kernels: rows in groups of eight, and within a group and
/// block the eight rows' quant bytes interleaved four at a time, so that one 256-bit load holds the same
/// columns of eight rows and the block dot products of all eight rows come out in the eight lanes of one
/// register, with no horizontal sums (see `InterleavedMatmul`).
///
/// 32-element formats, for each group `g` and block `b` (at `(g * blocksPerRow + b) * bytesPerGroupBlock`):
/// - the eight rows' f16 scales (16 bytes), then for Q4_1 their f16 minimums (16 bytes);
/// - the quant bytes in chunks of 32: chunk `k` holds bytes `4k..<4k+4` of each row's block quants,
///   row after row. Q4_1 and Q4_0 have 4 chunks (their 16 bytes of nibbles per row as in the file:
///   byte `j` holds columns `j` and `j + 16`; Q4_0's nibble is `q + 8`), so they take the file's bytes
///   per row (18 for Q4_0) and a decode step streams no more than the file; Q8_0 has 8 chunks of one
///   signed byte per column; Q5_0 has 8 chunks of one unsigned byte per column, its stored values
///   0...31 (the weight is `q - quantOffset`).
///
/// Q4_K keeps the file's nibbles (`Q4KLayout`). Q5_K and Q6_K (blocks of 256), per group and block: the eight rows' `d` and `dmin` as
/// Float (32 + 32 bytes), their 16 group scales as `[group][row]` bytes (128), their 8 group minimums
/// likewise (64), then 64 chunks of byte quants as above (2048): the unpacked form of
/// `KQuantMatmul.unpack` (Q4_K 0...15, Q5_K 0...31, Q6_K -32...31).
///
/// Scales are the file's own values and quants the same integers, only moved: the matrix product over
/// this layout is bit-identical to the one over the file layout. Rows past the end (padding of the
/// last group) are zero.
///
/// `@unchecked Sendable`: the packed bytes are written once, in `init`, and only read afterwards.
public final class InterleavedWeights: @unchecked Sendable {
    /// The file's type: Q4_1, Q4_0 (kept as nibbles), Q8_0, Q5_0 (as bytes), or a K format.
    let type: GGMLType
    /// Number of row groups (rows rounded up to a multiple of 8, divided by 8).
    let groups: Int
    /// Blocks (of `type.blockSize` columns) per row.
    let blocksPerRow: Int
    /// Bytes of one block of one group.
    let bytesPerGroupBlock: Int
    /// The packed bytes (owned through `storage`).
    let data: UnsafeMutableRawPointer
    private let storage: HugePageBuffer
    /// Total packed bytes.
    let byteCount: Int

    /// Rows per group.
    static let groupRows = 8

    /// Layout offsets of a K-format group block (Q5_K, Q6_K: quants unpacked to bytes).
    enum KLayout {
        static let d = 0, dmin = 32, scales = 64, minimums = 192, quants = 256, bytes = 2304
    }

    /// Layout offsets of a Q4_K group block: the eight rows' f16 `d` and `dmin` as in the file, their 8
    /// sub-block scales and minimums as `[sub-block][row]` bytes, then the file's nibbles in 32 chunks
    /// (chunk `c` holds bytes `4c..<4c+4` of each row's 128; byte `32j + l` holds columns `64j + l`
    /// and `64j + 32 + l`): 148 bytes per row and block, the file's 144 and 4 of unpacked scales.
    enum Q4KLayout {
        static let d = 0, dmin = 16, scales = 32, minimums = 96, quants = 160, bytes = 1184
    }

    /// Layout offsets of a Q6_K group block (6 bits a weight, the file's 210 bytes per row and block): the
    /// eight rows' f16 `d`, their 16 group scales as `[group][row]` bytes, then the stored values
    /// `u = q + 32` (0...63) in two planes. Nibble chunk `4g + k` (g < 8, k < 4) holds, per row, 4 bytes:
    /// byte `b` has the low 4 bits of column `16g + 4k + b` in its low nibble and of column
    /// `128 + 16g + 4k + b` in its high nibble. Bit chunk `G` (G < 16) holds, per row, 4 bytes: byte `b`
    /// has in bits `2k, 2k + 1` the top 2 bits of column `16G + 4k + b`.
    enum Q6KLayout {
        static let d = 0, scales = 16, nibbles = 144, bits = 1168, bytes = 1680
    }

    /// Whether `type` can be interleaved (and the vector kernels are compiled in).
    static func supports(_ type: GGMLType) -> Bool {
        #if TANDEM_AVX2
        switch type {
        case .q4_1, .q8_0, .q4_0, .q5_0, .q4_K, .q5_K, .q6_K: return true
        default: return false
        }
        #else
        return false
        #endif
    }

    /// The first block of row group `group`.
    func groupData(_ group: Int) -> UnsafeMutableRawPointer { data + group * blocksPerRow * bytesPerGroupBlock }

    /// For Q4_0 and Q5_0, the offset of the stored unsigned quants (8, 16): weight = scale * (q - offset).
    var quantOffset: Int32 {
        switch type {
        case .q4_0: return 8
        case .q5_0: return 16
        default: return 0
        }
    }

    /// Whether the quants are kept as the file's nibbles (Q4_1, Q4_0): 4 chunks of 32 bytes per block.
    var isNibbles: Bool { type == .q4_1 || type == .q4_0 }

    /// Where a group block's quant chunks start (after the scales, and Q4_1's minimums).
    var quantStart: Int { type == .q4_1 ? 32 : 16 }

    /// Whether this is a K format (blocks of 256 with group scales).
    var isKFormat: Bool { type.blockSize == 256 }

    /// Packs the rows of `parts` (all of one supported type and one column count), one after the other,
    /// row groups split over `pool`'s threads when there is one (each group is written by one thread
    /// from its own rows, so the bytes do not depend on the split).
    ///
    /// `release`, when given, is called with source rows already packed (a few MiB at a time, from
    /// every thread), so that a loader can drop those pages of a memory-mapped file at once: then only
    /// a few MiB of a matrix are resident twice, not the whole matrix.
    init(
        concatenating parts: [WeightMatrix], pool: WorkerPool? = nil,
        release: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) {
        let first = parts[0]
        type = first.type
        blocksPerRow = first.columns / type.blockSize
        let rows = parts.reduce(0) { $0 + $1.rows }
        groups = (rows + Self.groupRows - 1) / Self.groupRows
        switch type {
        case .q4_1: bytesPerGroupBlock = 32 + 8 * 16
        case .q4_0: bytesPerGroupBlock = 16 + 8 * 16
        case .q4_K: bytesPerGroupBlock = Q4KLayout.bytes
        case .q6_K: bytesPerGroupBlock = Q6KLayout.bytes
        case .q5_K: bytesPerGroupBlock = KLayout.bytes
        default: bytesPerGroupBlock = 16 + 8 * 32
        }
        byteCount = max(groups * blocksPerRow * bytesPerGroupBlock, 64)
        storage = HugePageBuffer(byteCount: byteCount)
        data = storage.base
        // Where each part's rows start in the concatenation.
        var starts: [Int] = []
        var total = 0
        for part in parts {
            starts.append(total)
            total += part.rows
        }
        let packGroups = { [self] (range: Range<Int>) in
            starts.withUnsafeBufferPointer { starts in
                let all = (range.lowerBound * Self.groupRows)..<min(range.upperBound * Self.groupRows, rows)
                guard let release else {
                    pack(parts, starts: starts, rows: all)
                    return
                }
                // Rows in slices of about 4 MiB of source, each released once packed.
                let rowBytes = max(parts[0].rowBytes, 1)
                let step = max(Self.groupRows, (4 << 20) / rowBytes / Self.groupRows * Self.groupRows)
                var first = all.lowerBound
                while first < all.upperBound {
                    let slice = first..<min(first + step, all.upperBound)
                    pack(parts, starts: starts, rows: slice)
                    for (index, part) in parts.enumerated() {
                        let lower = max(slice.lowerBound - starts[index], 0)
                        let upper = min(slice.upperBound - starts[index], part.rows)
                        if upper > lower {
                            release(UnsafeRawBufferPointer(start: part.data + lower * part.rowBytes, count: (upper - lower) * part.rowBytes))
                        }
                    }
                    first = slice.upperBound
                }
            }
        }
        // One job per ~4 MiB of packed bytes keeps both threads busy on the large matrices and leaves
        // the small ones (a pool hand-off costs more than they do) on the calling thread.
        if let pool, pool.threadCount > 1, byteCount >= 4 << 20 {
            pool.parallelFor(groups, packGroups)
        } else {
            packGroups(0..<groups)
        }
    }

    /// Packs rows `range` of the concatenation of `parts` (`starts[i]`: the first row of part `i`).
    private func pack(_ parts: [WeightMatrix], starts: UnsafeBufferPointer<Int>, rows range: Range<Int>) {
        guard !range.isEmpty else { return }
        let quants = UnsafeMutablePointer<Int8>.allocate(capacity: 256)
        let scales = UnsafeMutablePointer<Int32>.allocate(capacity: 16 + 8)
        defer { quants.deallocate(); scales.deallocate() }
        var index = 0
        while index + 1 < parts.count && starts[index + 1] <= range.lowerBound { index += 1 }
        for row in range {
            while index + 1 < parts.count && starts[index + 1] <= row { index += 1 }
            let part = parts[index]
            let local = row - starts[index]
            let group = row / Self.groupRows, lane = row % Self.groupRows
            for b in 0..<blocksPerRow {
                let source = part.data + local * part.rowBytes + b * type.bytesPerBlock
                let target = data + (group * blocksPerRow + b) * bytesPerGroupBlock
                var quantStart = 16, quantBytes = 32
                switch type {
                case .q4_1:
                    (target + 2 * lane).copyMemory(from: source, byteCount: 2)
                    (target + 16 + 2 * lane).copyMemory(from: source + 2, byteCount: 2)
                    UnsafeMutableRawPointer(quants).copyMemory(from: source + 4, byteCount: 16)
                    quantStart = 32
                    quantBytes = 16
                case .q4_K:
                    typealias L = Q4KLayout
                    (target + L.d + 2 * lane).copyMemory(from: source, byteCount: 2)
                    (target + L.dmin + 2 * lane).copyMemory(from: source + 2, byteCount: 2)
                    let packed = (source + 4).assumingMemoryBound(to: UInt8.self)
                    for j in 0..<8 {
                        let (scale, minimum) = KQuantMatmul.scaleMin(j, packed)
                        target.storeBytes(of: UInt8(truncatingIfNeeded: scale), toByteOffset: L.scales + 8 * j + lane, as: UInt8.self)
                        target.storeBytes(of: UInt8(truncatingIfNeeded: minimum), toByteOffset: L.minimums + 8 * j + lane, as: UInt8.self)
                    }
                    UnsafeMutableRawPointer(quants).copyMemory(from: source + 16, byteCount: 128)
                    quantStart = L.quants
                    quantBytes = 128
                case .q6_K:
                    typealias L = Q6KLayout
                    scales.update(repeating: 0, count: 16 + 8)
                    _ = KQuantMatmul.unpack(type, source, q: quants, scales: scales, minimums: scales + 16)
                    (target + L.d + 2 * lane).copyMemory(from: source + 208, byteCount: 2)
                    for g in 0..<16 {
                        target.storeBytes(of: Int8(truncatingIfNeeded: scales[g]), toByteOffset: L.scales + 8 * g + lane, as: Int8.self)
                    }
                    @inline(__always) func stored(_ column: Int) -> UInt8 { UInt8(bitPattern: quants[column] &+ 32) }
                    for g in 0..<8 {
                        for k in 0..<4 {
                            for b in 0..<4 {
                                let column = 16 * g + 4 * k + b
                                let byte = (stored(column) & 0x0F) | ((stored(128 + column) & 0x0F) << 4)
                                target.storeBytes(of: byte, toByteOffset: L.nibbles + 32 * (4 * g + k) + 4 * lane + b, as: UInt8.self)
                            }
                        }
                    }
                    for group in 0..<16 {
                        for b in 0..<4 {
                            var byte: UInt8 = 0
                            for k in 0..<4 { byte |= (stored(16 * group + 4 * k + b) >> 4) << UInt8(2 * k) }
                            target.storeBytes(of: byte, toByteOffset: L.bits + 32 * group + 4 * lane + b, as: UInt8.self)
                        }
                    }
                    quantBytes = 0
                case .q5_K:
                    scales.update(repeating: 0, count: 16 + 8)
                    let (d, dmin) = KQuantMatmul.unpack(type, source, q: quants, scales: scales, minimums: scales + 16)
                    target.storeBytes(of: d, toByteOffset: KLayout.d + 4 * lane, as: Float.self)
                    target.storeBytes(of: dmin, toByteOffset: KLayout.dmin + 4 * lane, as: Float.self)
                    for g in 0..<16 {
                        target.storeBytes(of: Int8(truncatingIfNeeded: scales[g]), toByteOffset: KLayout.scales + 8 * g + lane, as: Int8.self)
                    }
                    for j in 0..<8 {
                        target.storeBytes(
                            of: Int8(truncatingIfNeeded: scales[16 + j]), toByteOffset: KLayout.minimums + 8 * j + lane, as: Int8.self)
                    }
                    quantStart = KLayout.quants
                    quantBytes = 256
                case .q4_0:
                    (target + 2 * lane).copyMemory(from: source, byteCount: 2)
                    UnsafeMutableRawPointer(quants).copyMemory(from: source + 2, byteCount: 16)
                    quantBytes = 16
                case .q5_0:
                    (target + 2 * lane).copyMemory(from: source, byteCount: 2)
                    Q5_0Format.quants(source, into: quants)
                    for i in 0..<32 { quants[i] &+= Int8(quantOffset) }
                default:
                    (target + 2 * lane).copyMemory(from: source, byteCount: 2)
                    Q8_0Format.quants(source, into: quants)
                }
                for chunk in 0..<(quantBytes / 4) {
                    (target + quantStart + 32 * chunk + 4 * lane).copyMemory(from: quants + 4 * chunk, byteCount: 4)
                }
            }
        }
    }
}

extension WeightMatrix {
    /// The rows of `parts` (one type, one column count) as one matrix in the interleaved layout of
    /// `InterleavedWeights`, or nil when that layout does not apply (type, shapes, or a build without
    /// the vector kernels). The result owns its memory; `parts`' storage is no longer read.
    /// With a `pool`, large matrices are packed on all its threads.
    /// `release` is called with source rows as soon as they are packed (see `InterleavedWeights`); only
    /// for memory the caller may drop, such as a memory-mapped file's pages.
    public static func interleaving(
        _ parts: [WeightMatrix], pool: WorkerPool? = nil,
        release: (@Sendable (UnsafeRawBufferPointer) -> Void)? = nil
    ) -> WeightMatrix? {
        guard let first = parts.first, InterleavedWeights.supports(first.type),
            parts.allSatisfy({ $0.type == first.type && $0.columns == first.columns })
        else { return nil }
        let packed = InterleavedWeights(concatenating: parts, pool: pool, release: release)
        return WeightMatrix(
            type: first.type, rows: parts.reduce(0) { $0 + $1.rows }, columns: first.columns,
            interleaved: packed)
    }
}

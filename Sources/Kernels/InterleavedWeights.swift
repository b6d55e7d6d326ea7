import GGUF

/// Quantized weights repacked for the vector kernels: rows in groups of eight, and within a group and
/// block the eight rows' quant bytes interleaved four at a time, so that one 256-bit load holds the same
/// columns of eight rows and the block dot products of all eight rows come out in the eight lanes of one
/// register, with no horizontal sums (see `InterleavedMatmul`).
///
/// Layout, for each group `g` and block `b` (at `(g * blocksPerRow + b) * bytesPerGroupBlock`):
/// - the eight rows' f16 scales (16 bytes), then for Q4_1 their f16 minimums (16 bytes);
/// - the quant bytes in chunks of 32: chunk `k` holds bytes `4k..<4k+4` of each row's block quants,
///   row after row. Q4_1 has 4 chunks (its 16 bytes of nibbles per row: byte `j` holds columns `j` and
///   `j + 16`); the signed formats (Q8_0, and Q4_0 / Q5_0 widened to their signed values `q - 8`,
///   `q - 16`) have 8 chunks of one signed byte per column.
///
/// Scales are the file's own bits and quants the same integers, only moved: the matrix product over
/// this layout is bit-identical to the one over the file layout. Rows past the end (padding of the
/// last group) are zero.
public final class InterleavedWeights: @unchecked Sendable {
    /// The file's type: Q4_1 (kept as nibbles), or Q8_0, Q4_0, Q5_0 (as signed bytes).
    let type: GGMLType
    /// Number of row groups (rows rounded up to a multiple of 8, divided by 8).
    let groups: Int
    /// Blocks of 32 columns per row.
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

    /// Whether `type` can be interleaved (and the vector kernels are compiled in).
    static func supports(_ type: GGMLType) -> Bool {
        #if TANDEM_AVX2
        return type == .q4_1 || type == .q8_0 || type == .q4_0 || type == .q5_0
        #else
        return false
        #endif
    }

    /// Packs the rows of `parts` (all of one supported type and one column count), one after the other.
    init(concatenating parts: [WeightMatrix]) {
        let first = parts[0]
        type = first.type
        blocksPerRow = first.columns / 32
        let rows = parts.reduce(0) { $0 + $1.rows }
        groups = (rows + Self.groupRows - 1) / Self.groupRows
        let quantBytes = type == .q4_1 ? 16 : 32
        let headerBytes = type == .q4_1 ? 32 : 16
        bytesPerGroupBlock = headerBytes + 8 * quantBytes
        byteCount = max(groups * blocksPerRow * bytesPerGroupBlock, 64)
        storage = HugePageBuffer(byteCount: byteCount)
        data = storage.base

        let quants = UnsafeMutablePointer<Int8>.allocate(capacity: 32)
        defer { quants.deallocate() }
        var row = 0
        for part in parts {
            for local in 0..<part.rows {
                let group = row / Self.groupRows, lane = row % Self.groupRows
                for b in 0..<blocksPerRow {
                    let source = part.data + local * part.rowBytes + b * type.bytesPerBlock
                    let target = data + (group * blocksPerRow + b) * bytesPerGroupBlock
                    (target + 2 * lane).copyMemory(from: source, byteCount: 2)
                    switch type {
                    case .q4_1:
                        (target + 16 + 2 * lane).copyMemory(from: source + 2, byteCount: 2)
                        UnsafeMutableRawPointer(quants).copyMemory(from: source + 4, byteCount: 16)
                    case .q4_0: Q4_0Format.quants(source, into: quants)
                    case .q5_0: Q5_0Format.quants(source, into: quants)
                    default: Q8_0Format.quants(source, into: quants)
                    }
                    for chunk in 0..<(quantBytes / 4) {
                        (target + headerBytes + 32 * chunk + 4 * lane).copyMemory(from: quants + 4 * chunk, byteCount: 4)
                    }
                }
                row += 1
            }
        }
    }
}

extension WeightMatrix {
    /// The rows of `parts` (one type, one column count) as one matrix in the interleaved layout of
    /// `InterleavedWeights`, or nil when that layout does not apply (type, shapes, or a build without
    /// the vector kernels). The result owns its memory; `parts`' storage is no longer read.
    public static func interleaving(_ parts: [WeightMatrix]) -> WeightMatrix? {
        guard let first = parts.first, InterleavedWeights.supports(first.type),
              parts.allSatisfy({ $0.type == first.type && $0.columns == first.columns }) else { return nil }
        let packed = InterleavedWeights(concatenating: parts)
        return WeightMatrix(type: first.type, rows: parts.reduce(0) { $0 + $1.rows }, columns: first.columns,
                            interleaved: packed)
    }
}

/// Reusable scratch memory for `matmul`: the activations quantized to 8-bit blocks.
///
/// One scratch belongs to one caller at a time (it is not thread-safe); it grows to the largest call
/// it has seen and then never allocates again.
///
/// `@unchecked Sendable`: used by one caller at a time (above); the worker pool's jobs fill disjoint tokens.
public final class MatmulScratch: @unchecked Sendable {
    private var buffer: UnsafeMutableRawPointer?
    private var capacity = 0

    /// Creates an empty scratch; memory is allocated on first use.
    public init() {}

    deinit { buffer?.deallocate() }

    /// Returns at least `bytes` bytes of 64-byte aligned memory, reusing the previous buffer if it is
    /// large enough. The contents are unspecified.
    func memory(bytes: Int) -> UnsafeMutableRawPointer {
        if let buffer, capacity >= bytes { return buffer }
        buffer?.deallocate()
        let size = max(bytes, 4096)
        let fresh = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
        buffer = fresh
        capacity = size
        return fresh
    }

    /// Quantized activations for `tokens` rows of `columns` floats in blocks of `blockSize` (32 or
    /// 256), laid out in this scratch. Every array has room for `tokens` rounded up to 16, since the
    /// AMX tiles read activations in whole tiles of 16 tokens. The float scales and sums of the rows
    /// past `tokens` are zeroed (whatever bytes were there could be subnormal numbers, which are slow to
    /// multiply); their quants are left as they are.
    func activations(tokens count: Int, columns: Int, blockSize: Int) -> QuantizedActivations {
        let blocks = columns / blockSize
        let tokens = (count + 15) & ~15
        let quantBytes = (tokens * columns + 63) & ~63
        let scaleBytes = (tokens * blocks * 4 + 63) & ~63
        let sumBytes = (tokens * blocks * 4 + 63) & ~63
        let subBlockSumBytes = (tokens * (columns / 32) * 2 + 63) & ~63
        let groupOffsetBytes = (tokens * (columns / 16) * 4 + 63) & ~63
        let base = memory(bytes: quantBytes + scaleBytes + 2 * sumBytes + subBlockSumBytes + groupOffsetBytes)
        let scales = (base + quantBytes).bindMemory(to: Float.self, capacity: tokens * blocks)
        let sums = (base + quantBytes + scaleBytes).bindMemory(to: Float.self, capacity: tokens * blocks)
        let padding = (tokens - count) * blocks
        (scales + count * blocks).initialize(repeating: 0, count: padding)
        (sums + count * blocks).initialize(repeating: 0, count: padding)
        return QuantizedActivations(
            quants: base.bindMemory(to: Int8.self, capacity: tokens * columns),
            scales: scales, sums: sums,
            subBlockSums: (base + quantBytes + scaleBytes + sumBytes)
                .bindMemory(to: Int16.self, capacity: tokens * (columns / 32)),
            integerSums: (base + quantBytes + scaleBytes + sumBytes + subBlockSumBytes)
                .bindMemory(to: Int32.self, capacity: tokens * blocks),
            groupOffsets: (base + quantBytes + scaleBytes + 2 * sumBytes + subBlockSumBytes)
                .bindMemory(to: Int32.self, capacity: tokens * (columns / 16)),
            columns: columns, blockSize: blockSize)
    }
}

/// Activations quantized symmetrically to Int8 in blocks: value ≈ scale[block] * quant.
///
/// For token `t`, quants start at `t * columns`; block scales, block sums (`scale * Σ quant`) and the
/// exact Int32 block sums `Σ quant` at `t * blocksPerToken`; the exact sums of each sub-block of 32
/// quants (K formats only; at most 32 * 127 in magnitude, so Int16) at `t * columns / 32`; and -32 x the
/// sum of each 16 quants (K formats only: where Q6_K's VNNI tile starts a group's dot) at `t * columns / 16`.
///
/// `@unchecked Sendable`: a view of `MatmulScratch` memory, shared read-only with the pool's jobs once filled.
struct QuantizedActivations: @unchecked Sendable {
    let quants: UnsafeMutablePointer<Int8>
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Float>
    let subBlockSums: UnsafeMutablePointer<Int16>
    let integerSums: UnsafeMutablePointer<Int32>
    let groupOffsets: UnsafeMutablePointer<Int32>
    let columns: Int
    let blockSize: Int
    var blocksPerToken: Int { columns / blockSize }
}

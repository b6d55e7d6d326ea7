import GGUF

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// The matrix product for the 256-element K formats (Q4_K, Q5_K, Q6_K).
///
/// Each weight block is unpacked once per token tile into 256 Int8 quants, one integer scale per group
/// of 16 and one integer minimum per group of 32. Per (row, token), block by block:
/// `acc = fma(d * activationScale, Float(Σ_g scale_g * dot16_g), acc)` and, for Q4_K/Q5_K,
/// `acc = fma(-(dmin * activationScale), Float(Σ_j min_j * Σ activationQuants_j), acc)`;
/// integer parts are exact, so the AVX2 and portable builds agree bit for bit.
enum KQuantMatmul {
    /// Tokens processed per pass over a row (each weight block is unpacked once per pass).
    static let tokenTile = 8

    static func run(
        _ w: WeightMatrix, _ input: UnsafePointer<Float>, _ tokens: Int,
        _ output: UnsafeMutablePointer<Float>, _ pool: WorkerPool, _ scratch: MatmulScratch
    ) {
        let a = quantizeActivations(
            input, tokens: tokens, columns: w.columns, blockSize: 256,
            pool: pool, scratch: scratch)
        let blocks = w.columns / 256
        let type = w.type
        let hasMinimum = type != .q6_K
        pool.parallelFor(w.rows) { rows in
            withUnsafeTemporaryAllocation(byteCount: 256 + 16 * 4 + 8 * 4 + tokenTile * 4, alignment: 64) { buffer in
                let unpacked = buffer.baseAddress.unsafelyUnwrapped
                let q = unpacked.bindMemory(to: Int8.self, capacity: 256)
                let scales = (unpacked + 256).bindMemory(to: Int32.self, capacity: 16)
                let minimums = (unpacked + 256 + 64).bindMemory(to: Int32.self, capacity: 8)
                let acc = (unpacked + 256 + 64 + 32).bindMemory(to: Float.self, capacity: tokenTile)
                for row in rows {
                    let rowData = w.data + row * w.rowBytes
                    var token = 0
                    while token < tokens {
                        let count = min(tokenTile, tokens - token)
                        for i in 0..<count { acc[i] = 0 }
                        for b in 0..<blocks {
                            let block = rowData + b * type.bytesPerBlock
                            let (d, dmin) = unpack(type, block, q: q, scales: scales, minimums: minimums)
                            for i in 0..<count {
                                let t = token + i
                                let aq = a.quants + t * w.columns + b * 256
                                var sumi: Int32 = 0
                                for pair in 0..<8 {
                                    let (g0, g1) = dot32(q + pair * 32, aq + pair * 32)
                                    sumi &+= scales[2 * pair] &* g0 &+ scales[2 * pair + 1] &* g1
                                }
                                let da = a.scales[t * blocks + b]
                                var value = acc[i].addingProduct(d * da, Float(sumi))
                                if hasMinimum {
                                    let subBlockSums = a.subBlockSums + t * (w.columns / 32) + b * 8
                                    var summ: Int32 = 0
                                    for j in 0..<8 { summ &+= minimums[j] &* Int32(subBlockSums[j]) }
                                    value = value.addingProduct(-(dmin * da), Float(summ))
                                }
                                acc[i] = value
                            }
                        }
                        for i in 0..<count { output[(token + i) * w.rows + row] = acc[i] }
                        token += count
                    }
                }
            }
        }
    }

    /// Exact dot products of 32 Int8 pairs, returned as the sums of the first and the last 16.
    @inline(__always)
    static func dot32(_ x: UnsafePointer<Int8>, _ y: UnsafePointer<Int8>) -> (Int32, Int32) {
        #if TANDEM_AVX2
        let lanes = SIMDKernels.dotSigned(SIMDKernels.load256(x), SIMDKernels.load256(y))
        let v = unsafeBitCast(lanes, to: SIMD8<Int32>.self)
        return (v.lowHalf.wrappedSum(), v.highHalf.wrappedSum())
        #else
        var low: Int32 = 0, high: Int32 = 0
        for i in 0..<16 { low &+= Int32(x[i]) * Int32(y[i]) }
        for i in 16..<32 { high &+= Int32(x[i]) * Int32(y[i]) }
        return (low, high)
        #endif
    }

    /// Unpacks one K block: 256 quants, 16 integer group scales, 8 integer group minimums; returns
    /// (d, dmin). Weight i = d * scales[i / 16] * q[i] - dmin * minimums[i / 32].
    @inline(__always)
    static func unpack(
        _ type: GGMLType, _ block: UnsafeRawPointer, q: UnsafeMutablePointer<Int8>,
        scales: UnsafeMutablePointer<Int32>, minimums: UnsafeMutablePointer<Int32>
    ) -> (Float, Float) {
        switch type {
        case .q4_K, .q5_K:
            let d = SIMDKernels.half(block)
            let dmin = SIMDKernels.half(block + 2)
            let packed = (block + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<8 {
                let (scale, minimum) = scaleMin(j, packed)
                scales[2 * j] = scale
                scales[2 * j + 1] = scale
                minimums[j] = minimum
            }
            if type == .q4_K {
                let qs = (block + 16).assumingMemoryBound(to: UInt8.self)
                for chunk in 0..<4 {
                    for l in 0..<32 {
                        let byte = qs[chunk * 32 + l]
                        q[chunk * 64 + l] = Int8(byte & 0x0F)
                        q[chunk * 64 + 32 + l] = Int8(byte >> 4)
                    }
                }
            } else {
                let qh = (block + 16).assumingMemoryBound(to: UInt8.self)
                let qs = (block + 48).assumingMemoryBound(to: UInt8.self)
                for chunk in 0..<4 {
                    let lowBit = UInt8(1) << UInt8(2 * chunk)
                    let highBit = UInt8(2) << UInt8(2 * chunk)
                    for l in 0..<32 {
                        let byte = qs[chunk * 32 + l]
                        q[chunk * 64 + l] = Int8((byte & 0x0F) | (qh[l] & lowBit != 0 ? 16 : 0))
                        q[chunk * 64 + 32 + l] = Int8((byte >> 4) | (qh[l] & highBit != 0 ? 16 : 0))
                    }
                }
            }
            return (d, dmin)
        default:  // .q6_K
            let ql = block.assumingMemoryBound(to: UInt8.self)
            let qh = (block + 128).assumingMemoryBound(to: UInt8.self)
            let sc = (block + 192).assumingMemoryBound(to: Int8.self)
            let d = SIMDKernels.half(block + 208)
            for g in 0..<16 { scales[g] = Int32(sc[g]) }
            for half in 0..<2 {
                let l0 = ql + half * 64, h0 = qh + half * 32, out = q + half * 128
                for l in 0..<32 {
                    let h = h0[l]
                    out[l] = Int8(bitPattern: (l0[l] & 0x0F) | ((h & 3) << 4)) - 32
                    out[l + 32] = Int8(bitPattern: (l0[l + 32] & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                    out[l + 64] = Int8(bitPattern: (l0[l] >> 4) | (((h >> 4) & 3) << 4)) - 32
                    out[l + 96] = Int8(bitPattern: (l0[l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32
                }
            }
            return (d, 0)
        }
    }

    /// ggml's `get_scale_min_k4`: the 6-bit scale and minimum of sub-block `j` (0..<8).
    @inline(__always)
    static func scaleMin(_ j: Int, _ q: UnsafePointer<UInt8>) -> (Int32, Int32) {
        if j < 4 {
            return (Int32(q[j] & 63), Int32(q[j + 4] & 63))
        }
        let scale = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
        let minimum = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Int32(scale), Int32(minimum))
    }
}

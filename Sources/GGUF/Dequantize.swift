/// Reference (scalar) dequantization of every supported tensor type, matching ggml's
/// `dequantize_row_*` bit for bit (same block layouts, same float operation order).

/// Converts IEEE half-precision bits to `Float` (exact).
@inline(__always)
func halfToFloat(_ bits: UInt16) -> Float {
    Float(Float16(bitPattern: bits))
}

@inline(__always)
private func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
    halfToFloat(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
}

/// Dequantizes `count` elements of `type` (a multiple of `type.blockSize`) from `source` into
/// `destination`. `source` must hold `type.byteCount(elements: count)` bytes and `destination`
/// room for `count` floats. Unsupported types (see `GGMLType.isSupported`) are a precondition
/// failure; use the throwing overload for untrusted requests.
public func dequantize(_ type: GGMLType, from source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>) {
    precondition(count >= 0 && count % type.blockSize == 0, "count \(count) is not a whole number of \(type) blocks")
    let blocks = count / type.blockSize
    let stride = type.bytesPerBlock
    switch type {
    case .f32:
        for i in 0..<count {
            destination[i] = Float(bitPattern: UInt32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    case .f16:
        for i in 0..<count { destination[i] = loadHalf(source, 2 * i) }
    case .bf16:
        for i in 0..<count {
            let bits = UInt16(littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
            destination[i] = Float(bitPattern: UInt32(bits) << 16)
        }
    case .q8_0:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let y = destination + b * 32
            for j in 0..<32 {
                y[j] = Float(Int8(bitPattern: block.load(fromByteOffset: 2 + j, as: UInt8.self))) * d
            }
        }
    case .q4_0:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let qs = block + 2
            let y = destination + b * 32
            for j in 0..<16 {
                let q = qs.load(fromByteOffset: j, as: UInt8.self)
                y[j] = Float(Int(q & 0x0F) - 8) * d
                y[j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    case .q4_1:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let m = loadHalf(block, 2)
            let qs = block + 4
            let y = destination + b * 32
            for j in 0..<16 {
                let q = qs.load(fromByteOffset: j, as: UInt8.self)
                y[j] = Float(q & 0x0F) * d + m
                y[j + 16] = Float(q >> 4) * d + m
            }
        }
    case .q5_0:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let qs = block + 6
            let y = destination + b * 32
            for j in 0..<16 {
                let q = UInt32(qs.load(fromByteOffset: j, as: UInt8.self))
                let high0 = ((qh >> UInt32(j)) << 4) & 0x10
                let high1 = (qh >> UInt32(j + 12)) & 0x10
                y[j] = Float(Int32((q & 0x0F) | high0) - 16) * d
                y[j + 16] = Float(Int32((q >> 4) | high1) - 16) * d
            }
        }
    case .q5_1:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let m = loadHalf(block, 2)
            let qh = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let qs = block + 8
            let y = destination + b * 32
            for j in 0..<16 {
                let q = UInt32(qs.load(fromByteOffset: j, as: UInt8.self))
                let high0 = ((qh >> UInt32(j)) << 4) & 0x10
                let high1 = (qh >> UInt32(j + 12)) & 0x10
                y[j] = Float((q & 0x0F) | high0) * d + m
                y[j + 16] = Float((q >> 4) | high1) * d + m
            }
        }
    case .q4_K:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let dmin = loadHalf(block, 2)
            let scales = block + 4
            var q = block + 16
            var y = destination + b * 256
            var scaleIndex = 0
            for _ in 0..<4 {
                let (sc1, m1raw) = scaleMinK4(scaleIndex, scales)
                let (sc2, m2raw) = scaleMinK4(scaleIndex + 1, scales)
                let d1 = d * Float(sc1), m1 = dmin * Float(m1raw)
                let d2 = d * Float(sc2), m2 = dmin * Float(m2raw)
                for l in 0..<32 { y[l] = d1 * Float(q.load(fromByteOffset: l, as: UInt8.self) & 0x0F) - m1 }
                for l in 0..<32 { y[32 + l] = d2 * Float(q.load(fromByteOffset: l, as: UInt8.self) >> 4) - m2 }
                q += 32
                y += 64
                scaleIndex += 2
            }
        }
    case .q5_K:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 0)
            let dmin = loadHalf(block, 2)
            let scales = block + 4
            let qh = block + 16
            var ql = block + 48
            var y = destination + b * 256
            var scaleIndex = 0
            var u1: UInt8 = 1, u2: UInt8 = 2
            for _ in 0..<4 {
                let (sc1, m1raw) = scaleMinK4(scaleIndex, scales)
                let (sc2, m2raw) = scaleMinK4(scaleIndex + 1, scales)
                let d1 = d * Float(sc1), m1 = dmin * Float(m1raw)
                let d2 = d * Float(sc2), m2 = dmin * Float(m2raw)
                for l in 0..<32 {
                    let low = ql.load(fromByteOffset: l, as: UInt8.self) & 0x0F
                    let high: UInt8 = qh.load(fromByteOffset: l, as: UInt8.self) & u1 != 0 ? 16 : 0
                    y[l] = d1 * Float(low + high) - m1
                }
                for l in 0..<32 {
                    let low = ql.load(fromByteOffset: l, as: UInt8.self) >> 4
                    let high: UInt8 = qh.load(fromByteOffset: l, as: UInt8.self) & u2 != 0 ? 16 : 0
                    y[32 + l] = d2 * Float(low + high) - m2
                }
                ql += 32
                y += 64
                scaleIndex += 2
                u1 <<= 2
                u2 <<= 2
            }
        }
    case .q6_K:
        for b in 0..<blocks {
            let block = source + b * stride
            let d = loadHalf(block, 208)
            var ql = block
            var qh = block + 128
            var sc = block + 192
            var y = destination + b * 256
            for _ in 0..<2 {
                for l in 0..<32 {
                    let scaleIndex = l / 16
                    let lowA = ql.load(fromByteOffset: l, as: UInt8.self)
                    let lowB = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                    let high = qh.load(fromByteOffset: l, as: UInt8.self)
                    let q1 = Int32((lowA & 0x0F) | ((high & 3) << 4)) - 32
                    let q2 = Int32((lowB & 0x0F) | (((high >> 2) & 3) << 4)) - 32
                    let q3 = Int32((lowA >> 4) | (((high >> 4) & 3) << 4)) - 32
                    let q4 = Int32((lowB >> 4) | (((high >> 6) & 3) << 4)) - 32
                    y[l] = d * Float(Int8(bitPattern: sc.load(fromByteOffset: scaleIndex, as: UInt8.self))) * Float(q1)
                    y[l + 32] = d * Float(Int8(bitPattern: sc.load(fromByteOffset: scaleIndex + 2, as: UInt8.self))) * Float(q2)
                    y[l + 64] = d * Float(Int8(bitPattern: sc.load(fromByteOffset: scaleIndex + 4, as: UInt8.self))) * Float(q3)
                    y[l + 96] = d * Float(Int8(bitPattern: sc.load(fromByteOffset: scaleIndex + 6, as: UInt8.self))) * Float(q4)
                }
                y += 128
                ql += 64
                qh += 32
                sc += 8
            }
        }
    default:
        preconditionFailure("dequantization of \(type) is not supported")
    }
}

/// ggml's `get_scale_min_k4`: the 6-bit scale and min number `j` (0..<8) packed in `q[0..<12]`.
@inline(__always)
private func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (scale: UInt8, min: UInt8) {
    @inline(__always) func byte(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
    if j < 4 {
        return (byte(j) & 63, byte(j + 4) & 63)
    }
    let scale = (byte(j + 4) & 0x0F) | ((byte(j - 4) >> 6) << 4)
    let min = (byte(j + 4) >> 4) | ((byte(j) >> 6) << 4)
    return (scale, min)
}

/// Dequantizes `count` elements of `type` from `bytes`, checking the request first.
///
/// - Throws: `GGUFError.unsupportedDequantization` for types Tandem cannot compute with,
///   `.countNotWholeBlocks` if `count` is not a multiple of the block size, `.bufferTooSmall`
///   if `bytes` is shorter than `count` elements need.
public func dequantize(_ type: GGMLType, bytes: UnsafeRawBufferPointer, count: Int) throws -> [Float] {
    guard type.isSupported else { throw GGUFError.unsupportedDequantization(type) }
    guard count >= 0, count % type.blockSize == 0, let needed = type.byteCount(elements: count) else {
        throw GGUFError.countNotWholeBlocks(type: type, count: count)
    }
    guard needed <= bytes.count else {
        throw GGUFError.bufferTooSmall(type: type, count: count, needed: needed, available: bytes.count)
    }
    guard count > 0, let source = bytes.baseAddress else { return [] }
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let destination = buffer.baseAddress {
            dequantize(type, from: source, count: count, into: destination)
        }
        initialized = count
    }
}

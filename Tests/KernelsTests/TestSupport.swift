import GGUF
import Randomness

@testable import Kernels

/// A small deterministic random generator (SplitMix64) so failures reproduce.
typealias SeededRandom = SplitMix64

extension SplitMix64 {
    mutating func float(_ range: ClosedRange<Float>) -> Float { Float.random(in: range, using: &self) }
}

/// Independent scalar reference dequantization (written from ggml's reference C code).
enum ReferenceDequantizer {
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Double {
        Double(Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    /// Dequantizes one row of `columns` elements of `type` to Double.
    static func row(_ type: GGMLType, _ data: UnsafeRawPointer, columns: Int) -> [Double] {
        var out = [Double](repeating: 0, count: columns)
        let blocks = columns / type.blockSize
        for b in 0..<blocks {
            let p = data + b * type.bytesPerBlock
            let o = b * type.blockSize
            let byte = { (i: Int) -> Int in Int(p.load(fromByteOffset: i, as: UInt8.self)) }
            switch type {
            case .f32: out[o] = Double(p.loadUnaligned(as: Float.self))
            case .f16: out[o] = half(p, 0)
            case .bf16: out[o] = Double(Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self)) << 16))
            case .q4_0:
                let d = half(p, 0)
                for j in 0..<16 {
                    out[o + j] = d * Double((byte(2 + j) & 0xF) - 8)
                    out[o + j + 16] = d * Double((byte(2 + j) >> 4) - 8)
                }
            case .q4_1:
                let d = half(p, 0), m = half(p, 2)
                for j in 0..<16 {
                    out[o + j] = d * Double(byte(4 + j) & 0xF) + m
                    out[o + j + 16] = d * Double(byte(4 + j) >> 4) + m
                }
            case .q5_0, .q5_1:
                let hasMin = type == .q5_1
                let d = half(p, 0), m = hasMin ? half(p, 2) : 0
                let qhOffset = hasMin ? 4 : 2
                let qh = p.loadUnaligned(fromByteOffset: qhOffset, as: UInt32.self)
                for j in 0..<16 {
                    let x0 = (byte(qhOffset + 4 + j) & 0xF) | Int((qh >> UInt32(j)) << 4 & 0x10)
                    let x1 = (byte(qhOffset + 4 + j) >> 4) | Int((qh >> UInt32(j + 12)) & 0x10)
                    if hasMin {
                        out[o + j] = d * Double(x0) + m
                        out[o + j + 16] = d * Double(x1) + m
                    } else {
                        out[o + j] = d * Double(x0 - 16)
                        out[o + j + 16] = d * Double(x1 - 16)
                    }
                }
            case .q8_0:
                let d = half(p, 0)
                for j in 0..<32 { out[o + j] = d * Double(p.load(fromByteOffset: 2 + j, as: Int8.self)) }
            case .q4_K, .q5_K:
                let d = half(p, 0), dmin = half(p, 2)
                let scales = (0..<12).map { byte(4 + $0) }
                func scaleMin(_ j: Int) -> (Int, Int) {
                    if j < 4 { return (scales[j] & 63, scales[j + 4] & 63) }
                    return ((scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4), (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4))
                }
                let five = type == .q5_K
                let qsOffset = five ? 48 : 16
                var y = o
                var u1 = 1, u2 = 2
                for chunk in 0..<4 {
                    let (sc1, m1) = scaleMin(2 * chunk), (sc2, m2) = scaleMin(2 * chunk + 1)
                    for l in 0..<32 {
                        let q = byte(qsOffset + chunk * 32 + l)
                        let high = five ? ((byte(16 + l) & u1) != 0 ? 16 : 0) : 0
                        out[y + l] = d * Double(sc1) * Double((q & 0xF) + high) - dmin * Double(m1)
                    }
                    for l in 0..<32 {
                        let q = byte(qsOffset + chunk * 32 + l)
                        let high = five ? ((byte(16 + l) & u2) != 0 ? 16 : 0) : 0
                        out[y + 32 + l] = d * Double(sc2) * Double((q >> 4) + high) - dmin * Double(m2)
                    }
                    y += 64
                    u1 <<= 2
                    u2 <<= 2
                }
            case .q6_K:
                let d = half(p, 208)
                for n in 0..<2 {
                    let ql = n * 64, qh = 128 + n * 32, sc = 192 + n * 8
                    for l in 0..<32 {
                        let isc = l / 16
                        let q1 = ((byte(ql + l) & 0xF) | ((byte(qh + l) >> 0 & 3) << 4)) - 32
                        let q2 = ((byte(ql + l + 32) & 0xF) | ((byte(qh + l) >> 2 & 3) << 4)) - 32
                        let q3 = ((byte(ql + l) >> 4) | ((byte(qh + l) >> 4 & 3) << 4)) - 32
                        let q4 = ((byte(ql + l + 32) >> 4) | ((byte(qh + l) >> 6 & 3) << 4)) - 32
                        let s = { (k: Int) in Double(p.load(fromByteOffset: sc + isc + k, as: Int8.self)) }
                        out[o + n * 128 + l] = d * s(0) * Double(q1)
                        out[o + n * 128 + l + 32] = d * s(2) * Double(q2)
                        out[o + n * 128 + l + 64] = d * s(4) * Double(q3)
                        out[o + n * 128 + l + 96] = d * s(6) * Double(q4)
                    }
                }
            default:
                fatalError("reference dequantizer does not cover \(type)")
            }
        }
        return out
    }
}

/// A randomly filled weight matrix of any supported type, owning its bytes.
final class RandomWeights {
    let type: GGMLType
    let rows: Int
    let columns: Int
    let bytes: UnsafeMutableRawPointer
    let rowBytes: Int

    init(type: GGMLType, rows: Int, columns: Int, seed: UInt64) {
        self.type = type
        self.rows = rows
        self.columns = columns
        rowBytes = columns / type.blockSize * type.bytesPerBlock
        bytes = .allocate(byteCount: rows * rowBytes + 64, alignment: 64)
        var random = SeededRandom(seed: seed)
        for i in 0..<(rows * rowBytes) { bytes.storeBytes(of: UInt8.random(in: 0...255, using: &random), toByteOffset: i, as: UInt8.self) }
        let blocks = rows * columns / type.blockSize
        func setHalf(_ offset: Int, _ value: Float) {
            bytes.storeBytes(of: Float16(value).bitPattern, toByteOffset: offset, as: UInt16.self)
        }
        for b in 0..<blocks {
            let o = b * type.bytesPerBlock
            switch type {
            case .f32: bytes.storeBytes(of: random.float(-1...1), toByteOffset: o, as: Float.self)
            case .f16: setHalf(o, random.float(-1...1))
            case .bf16:
                let bits = random.float(-1...1).bitPattern >> 16
                bytes.storeBytes(of: UInt16(bits), toByteOffset: o, as: UInt16.self)
            case .q4_0, .q5_0, .q8_0: setHalf(o, random.float(-0.05...0.05))
            case .q4_1, .q5_1:
                setHalf(o, random.float(0...0.05))
                setHalf(o + 2, random.float(-0.4...0))
            case .q4_K, .q5_K:
                setHalf(o, random.float(0...0.005))
                setHalf(o + 2, random.float(0...0.005))
            case .q6_K: setHalf(o + 208, random.float(-0.003...0.003))
            default: fatalError("unsupported")
            }
        }
    }

    deinit { bytes.deallocate() }

    var matrix: WeightMatrix { WeightMatrix(type: type, rows: rows, columns: columns, data: bytes) }

    func dequantizedRow(_ r: Int) -> [Double] {
        ReferenceDequantizer.row(type, bytes + r * rowBytes, columns: columns)
    }
}

func randomActivations(tokens: Int, columns: Int, seed: UInt64) -> [Float] {
    var random = SeededRandom(seed: seed)
    return (0..<(tokens * columns)).map { i in
        // Some outliers so the per-block scales differ a lot.
        let v = random.float(-1...1)
        return i % 97 == 0 ? v * 8 : v
    }
}

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// A GGUF block format of 32 weights with one scale (and optionally one minimum):
/// weight = scale * quant (+ minimum). Quants are small integers the dot product works on exactly.
protocol Block32Format {
    /// Bytes per block.
    static var blockBytes: Int { get }
    /// Whether the format has a per-block minimum (`_1` formats).
    static var hasMinimum: Bool { get }
    /// Whether all quants are in 0...127 (so `maddubs` needs no sign fix-up).
    static var unsignedQuants: Bool { get }
    /// The block scale.
    static func scale(_ block: UnsafeRawPointer) -> Float
    /// The block minimum (0 for formats without one).
    static func minimum(_ block: UnsafeRawPointer) -> Float
    /// Writes the 32 integer quants of the block.
    static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>)
    #if TANDEM_AVX2
    /// The 32 integer quants of the block as bytes.
    static func quantVector(_ block: UnsafeRawPointer) -> __m256i
    #endif
}

extension Block32Format {
    @inline(__always) static func scale(_ block: UnsafeRawPointer) -> Float { SIMDKernels.half(block) }
    @inline(__always) static func minimum(_ block: UnsafeRawPointer) -> Float {
        hasMinimum ? SIMDKernels.half(block + 2) : 0
    }
}

/// Q4_0: f16 scale, 16 bytes of nibbles; weight = scale * (nibble - 8).
enum Q4_0Format: Block32Format {
    static let blockBytes = 18
    static let hasMinimum = false
    static let unsignedQuants = false
    @inline(__always) static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>) {
        let bytes = block + 2
        for i in 0..<16 {
            let byte = bytes.load(fromByteOffset: i, as: UInt8.self)
            q[i] = Int8(byte & 0x0F) - 8
            q[i + 16] = Int8(byte >> 4) - 8
        }
    }
    #if TANDEM_AVX2
    @inline(__always) static func quantVector(_ block: UnsafeRawPointer) -> __m256i {
        _mm256_sub_epi8(SIMDKernels.nibbles(block + 2), _mm256_set1_epi8(8))
    }
    #endif
}

/// Q4_1: f16 scale, f16 minimum, 16 bytes of nibbles; weight = scale * nibble + minimum.
enum Q4_1Format: Block32Format {
    static let blockBytes = 20
    static let hasMinimum = true
    static let unsignedQuants = true
    @inline(__always) static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>) {
        let bytes = block + 4
        for i in 0..<16 {
            let byte = bytes.load(fromByteOffset: i, as: UInt8.self)
            q[i] = Int8(byte & 0x0F)
            q[i + 16] = Int8(byte >> 4)
        }
    }
    #if TANDEM_AVX2
    @inline(__always) static func quantVector(_ block: UnsafeRawPointer) -> __m256i {
        SIMDKernels.nibbles(block + 4)
    }
    #endif
}

/// Q5_0: f16 scale, 32 high bits, 16 bytes of nibbles; weight = scale * (q5 - 16).
enum Q5_0Format: Block32Format {
    static let blockBytes = 22
    static let hasMinimum = false
    static let unsignedQuants = false
    @inline(__always) static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>) {
        let high = block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let bytes = block + 6
        for i in 0..<16 {
            let byte = bytes.load(fromByteOffset: i, as: UInt8.self)
            q[i] = Int8((byte & 0x0F) | UInt8((high >> UInt32(i)) & 1) << 4) - 16
            q[i + 16] = Int8((byte >> 4) | UInt8((high >> UInt32(i + 16)) & 1) << 4) - 16
        }
    }
    #if TANDEM_AVX2
    @inline(__always) static func quantVector(_ block: UnsafeRawPointer) -> __m256i {
        let high = _mm256_and_si256(
            SIMDKernels.bitsToBytes(block.loadUnaligned(fromByteOffset: 2, as: UInt32.self)),
            _mm256_set1_epi8(0x10))
        return _mm256_sub_epi8(_mm256_or_si256(SIMDKernels.nibbles(block + 6), high), _mm256_set1_epi8(16))
    }
    #endif
}

/// Q5_1: f16 scale, f16 minimum, 32 high bits, 16 bytes of nibbles; weight = scale * q5 + minimum.
enum Q5_1Format: Block32Format {
    static let blockBytes = 24
    static let hasMinimum = true
    static let unsignedQuants = true
    @inline(__always) static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>) {
        let high = block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let bytes = block + 8
        for i in 0..<16 {
            let byte = bytes.load(fromByteOffset: i, as: UInt8.self)
            q[i] = Int8((byte & 0x0F) | UInt8((high >> UInt32(i)) & 1) << 4)
            q[i + 16] = Int8((byte >> 4) | UInt8((high >> UInt32(i + 16)) & 1) << 4)
        }
    }
    #if TANDEM_AVX2
    @inline(__always) static func quantVector(_ block: UnsafeRawPointer) -> __m256i {
        let high = _mm256_and_si256(
            SIMDKernels.bitsToBytes(block.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
            _mm256_set1_epi8(0x10))
        return _mm256_or_si256(SIMDKernels.nibbles(block + 8), high)
    }
    #endif
}

/// Q8_0: f16 scale, 32 signed bytes; weight = scale * q.
enum Q8_0Format: Block32Format {
    static let blockBytes = 34
    static let hasMinimum = false
    static let unsignedQuants = false
    @inline(__always) static func quants(_ block: UnsafeRawPointer, into q: UnsafeMutablePointer<Int8>) {
        for i in 0..<32 { q[i] = block.load(fromByteOffset: 2 + i, as: Int8.self) }
    }
    #if TANDEM_AVX2
    @inline(__always) static func quantVector(_ block: UnsafeRawPointer) -> __m256i {
        SIMDKernels.load256(block + 2)
    }
    #endif
}

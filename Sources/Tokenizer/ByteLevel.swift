/// GPT-2's reversible mapping between bytes and printable Unicode scalars.
///
/// Bytes `!`...`~`, `¡`...`¬` and `®`...`ÿ` map to themselves; the remaining 68 bytes map,
/// in increasing order, to U+0100, U+0101, ... (so space 0x20 becomes `Ġ` U+0120).
enum ByteLevel {
    /// `scalarForByte[b]` is the scalar that stands for byte `b` in token text.
    static let scalarForByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of ``scalarForByte`` indexed by scalar value (0..<324); -1 where unmapped.
    static let byteForScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (b, s) in scalarForByte.enumerated() { table[Int(s)] = Int16(b) }
        return table
    }()

    /// Encodes raw bytes as byte-level token text.
    static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var result = String.UnicodeScalarView()
        for b in bytes {
            if let scalar = Unicode.Scalar(scalarForByte[Int(b)]) { result.append(scalar) }
        }
        return String(result)
    }

    /// Decodes byte-level token text to raw bytes. Scalars outside the mapping (which a
    /// well-formed vocabulary never has in normal tokens) are kept as their UTF-8 bytes.
    static func decode(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let v = Int(scalar.value)
            if v < byteForScalar.count, byteForScalar[v] >= 0 {
                bytes.append(UInt8(byteForScalar[v]))
            } else {
                bytes.append(contentsOf: Array(String(scalar).utf8))
            }
        }
        return bytes
    }
}

import Foundation
import Testing

@testable import GGUF

/// One fixture written by scripts/fixtures_dequant.py from gguf-py's `gguf.quants.dequantize`.
struct DequantFixture: Decodable {
    var type: String
    var typeNumber: UInt32
    var count: Int
    var hex: String
    var expectedBits: [UInt32]

    var bytes: [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(hex.utf8.count / 2)
        var high: UInt8? = nil
        for c in hex.utf8 {
            let nibble: UInt8 = c <= 57 ? c - 48 : c - 87
            if let h = high {
                result.append(h << 4 | nibble)
                high = nil
            } else {
                high = nibble
            }
        }
        return result
    }
}

let fixtureDirectory = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures/dequant")

func loadFixture(_ type: GGMLType) throws -> DequantFixture {
    let url = fixtureDirectory.appendingPathComponent("\(type.description).json")
    return try JSONDecoder().decode(DequantFixture.self, from: Data(contentsOf: url))
}

/// Dequantization must match gguf-py bit for bit (tolerance: none). gguf-py and ggml perform the
/// same float32 operations in the same order for these types (products of f16-derived scales and
/// small integers, then one add/subtract), so exact equality is expected.
@Test(arguments: GGMLType.allCases.filter(\.isSupported))
func dequantizeMatchesGGUFPy(type: GGMLType) throws {
    let fixture = try loadFixture(type)
    #expect(fixture.type == type.description)
    #expect(fixture.typeNumber == type.rawValue)
    let bytes = fixture.bytes
    #expect(bytes.count == type.byteCount(elements: fixture.count))
    #expect(fixture.expectedBits.count == fixture.count)

    let values = try bytes.withUnsafeBytes { try dequantize(type, bytes: $0, count: fixture.count) }
    var mismatches = 0
    for i in 0..<fixture.count where values[i].bitPattern != fixture.expectedBits[i] {
        if mismatches < 5 {
            Issue.record("\(type) element \(i): got \(values[i]), expected \(Float(bitPattern: fixture.expectedBits[i]))")
        }
        mismatches += 1
    }
    #expect(mismatches == 0)

    // The pointer-based entry point agrees, including from an unaligned source.
    var unaligned = [UInt8](repeating: 0, count: bytes.count + 1)
    unaligned.replaceSubrange(1..., with: bytes)
    var out = [Float](repeating: .nan, count: fixture.count)
    unaligned.withUnsafeBytes { raw in
        out.withUnsafeMutableBufferPointer { dst in
            dequantize(type, from: raw.baseAddress! + 1, count: fixture.count, into: dst.baseAddress!)
        }
    }
    #expect(out.map(\.bitPattern) == fixture.expectedBits)

    // Dequantizing a prefix of whole blocks gives the prefix of the values.
    let prefixCount = type.blockSize * max(1, fixture.count / type.blockSize / 2)
    let prefix = try bytes.withUnsafeBytes { try dequantize(type, bytes: $0, count: prefixCount) }
    #expect(prefix.map(\.bitPattern) == Array(fixture.expectedBits[0..<prefixCount]))
}

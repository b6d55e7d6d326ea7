/// A run of text decoded into Unicode scalars with per-scalar character classes and the
/// UTF-8 byte offset of every scalar, so pre-tokenizer splits can be mapped back to bytes.
struct ScalarText {
    /// Character-class bits used by the pre-tokenizer matchers.
    struct Flags: OptionSet {
        let rawValue: UInt8
        static let letter = Flags(rawValue: 1)
        static let number = Flags(rawValue: 2)
        static let whitespace = Flags(rawValue: 4)
        static let punctuation = Flags(rawValue: 8)
        /// The scalar is assigned in Unicode (llama.cpp treats unassigned scalars as "no class").
        static let defined = Flags(rawValue: 16)
    }

    var scalars: [UInt32] = []
    var flags: [Flags] = []
    /// `byteOffsets[i]` is the UTF-8 offset of scalar `i`; one extra entry holds the end.
    var byteOffsets: [Int] = []

    /// Decodes `bytes[range]`, which must be valid UTF-8 (it always comes from a Swift `String`).
    init(utf8 bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        scalars.reserveCapacity(range.count)
        flags.reserveCapacity(range.count)
        byteOffsets.reserveCapacity(range.count + 1)
        var i = range.lowerBound
        while i < range.upperBound {
            let b0 = UInt32(bytes[i])
            var length = 1
            var value = b0
            if b0 >= 0xF0 {
                length = 4
                value = b0 & 0x07
            } else if b0 >= 0xE0 {
                length = 3
                value = b0 & 0x0F
            } else if b0 >= 0xC0 {
                length = 2
                value = b0 & 0x1F
            }
            if i + length > range.upperBound { length = 1; value = 0xFFFD }
            var k = 1
            while k < length {
                value = (value << 6) | (UInt32(bytes[i + k]) & 0x3F)
                k += 1
            }
            byteOffsets.append(i)
            scalars.append(value)
            flags.append(ScalarText.classify(value))
            i += length
        }
        byteOffsets.append(range.upperBound)
    }

    var count: Int { scalars.count }

    /// The class bits of scalar `pos`, or none when `pos` lies outside `bounds`.
    @inline(__always)
    func flags(at pos: Int, in bounds: Range<Int>) -> Flags {
        bounds.contains(pos) ? flags[pos] : []
    }

    /// The scalar at `pos`, or `UInt32.max` when `pos` lies outside `bounds`.
    @inline(__always)
    func scalar(at pos: Int, in bounds: Range<Int>) -> UInt32 {
        bounds.contains(pos) ? scalars[pos] : UInt32.max
    }

    private static let asciiFlags: [Flags] = (0..<128).map { classifySlow(UInt32($0)) }

    @inline(__always)
    static func classify(_ value: UInt32) -> Flags {
        if value < 128 { return asciiFlags[Int(value)] }
        return classifySlow(value)
    }

    static func classifySlow(_ value: UInt32) -> Flags {
        guard let scalar = Unicode.Scalar(value) else { return [] }
        let properties = scalar.properties
        var result: Flags = []
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            result.insert(.letter)
        case .decimalNumber, .letterNumber, .otherNumber:
            result.insert(.number)
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
            .initialPunctuation, .finalPunctuation, .otherPunctuation:
            result.insert(.punctuation)
        case .unassigned:
            return properties.isWhitespace ? .whitespace : []
        default:
            break
        }
        if properties.isWhitespace { result.insert(.whitespace) }
        result.insert(.defined)
        return result
    }
}

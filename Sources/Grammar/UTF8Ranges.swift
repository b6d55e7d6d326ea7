/// Ranges of Unicode scalars as UTF-8 byte sequences: each result is a sequence of byte ranges
/// whose concatenations are exactly the encodings of the scalars in the range (surrogates, which
/// have no encoding, are left out). The standard splitting: by encoded length, then until every
/// byte position of a piece is a plain range.
enum UTF8Ranges {
    static func sequences(_ low: UInt32, _ high: UInt32) -> [[ClosedRange<UInt8>]] {
        var result: [[ClosedRange<UInt8>]] = []
        var pending: [(UInt32, UInt32)] = [(low, min(high, 0x10FFFF))]
        while let (lo, hi) = pending.popLast() {
            guard lo <= hi else { continue }
            // No surrogates.
            if lo <= 0xDFFF && hi >= 0xD800 {
                if lo < 0xD800 { pending.append((lo, 0xD7FF)) }
                if hi > 0xDFFF { pending.append((0xE000, hi)) }
                continue
            }
            // One encoded length per piece.
            var split = false
            for limit: UInt32 in [0x7F, 0x7FF, 0xFFFF] where lo <= limit && hi > limit {
                pending.append((lo, limit))
                pending.append((limit + 1, hi))
                split = true
                break
            }
            if split { continue }
            let length = lo <= 0x7F ? 1 : lo <= 0x7FF ? 2 : lo <= 0xFFFF ? 3 : 4
            // Split until the trailing continuation bytes of each piece span their full range.
            for i in 1..<length {
                let mask: UInt32 = (1 << (6 * UInt32(i))) - 1
                if lo & ~mask != hi & ~mask {
                    if lo & mask != 0 {
                        pending.append((lo, lo | mask))
                        pending.append(((lo | mask) + 1, hi))
                        split = true
                        break
                    }
                    if hi & mask != mask {
                        pending.append((lo, (hi & ~mask) - 1))
                        pending.append((hi & ~mask, hi))
                        split = true
                        break
                    }
                }
            }
            if split { continue }
            let a = encode(lo), b = encode(hi)
            result.append(zip(a, b).map { $0...$1 })
        }
        return result
    }

    static func encode(_ scalar: UInt32) -> [UInt8] {
        switch scalar {
        case 0..<0x80: return [UInt8(scalar)]
        case 0x80..<0x800: return [UInt8(0xC0 | scalar >> 6), UInt8(0x80 | scalar & 0x3F)]
        case 0x800..<0x10000:
            return [UInt8(0xE0 | scalar >> 12), UInt8(0x80 | (scalar >> 6) & 0x3F), UInt8(0x80 | scalar & 0x3F)]
        default:
            return [
                UInt8(0xF0 | scalar >> 18), UInt8(0x80 | (scalar >> 12) & 0x3F), UInt8(0x80 | (scalar >> 6) & 0x3F),
                UInt8(0x80 | scalar & 0x3F)
            ]
        }
    }
}

extension GrammarBuilder {
    /// A rule matching one scalar of `ranges` (sorted or not; overlaps allowed), or of their
    /// complement when `negated`, encoded as UTF-8.
    public mutating func characterClass(_ ranges: [ClosedRange<UInt32>], negated: Bool) -> Symbol {
        var merged: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        if negated {
            var complement: [ClosedRange<UInt32>] = []
            var next: UInt32 = 0
            for range in merged {
                if range.lowerBound > next { complement.append(next...(range.lowerBound - 1)) }
                next = range.upperBound &+ 1
                if range.upperBound >= 0x10FFFF { next = 0x110000 }
            }
            if next <= 0x10FFFF { complement.append(next...0x10FFFF) }
            merged = complement
        }
        // Single-byte scalars share one byte set; longer encodings become alternatives.
        var ascii = ByteSet()
        var alternatives: Alternatives = []
        for range in merged {
            for sequence in UTF8Ranges.sequences(range.lowerBound, range.upperBound) {
                if sequence.count == 1 {
                    ascii.formUnion(ByteSet(sequence[0]))
                } else {
                    alternatives.append(sequence.map { .bytes(ByteSet($0)) })
                }
            }
        }
        if alternatives.isEmpty && !ascii.isEmpty { return .bytes(ascii) }
        if !ascii.isEmpty { alternatives.insert([.bytes(ascii)], at: 0) }
        if alternatives.isEmpty {
            // An empty class matches nothing: a rule without alternatives.
            return .rule(add([], name: "none"))
        }
        return .rule(add(alternatives, name: "class"))
    }
}

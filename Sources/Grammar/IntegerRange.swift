/// Decimal integers within bounds as grammar alternatives, the classic way: split the range into
/// pieces whose numbers share a prefix and then run over full digit ranges (e.g. 18...213 =
/// 1[8-9] | [2-9][0-9] | 1[0-9][0-9] | 20[0-9] | 21[0-3]).
enum IntegerRange {
    /// Integers in `low...high`; nil bounds are open (up to 16 digits).
    static func alternatives(low: Int64?, high: Int64?) -> GrammarBuilder.Alternatives {
        let limit: Int64 = 9_999_999_999_999_999
        let lo = max(low ?? -limit, -limit)
        let hi = min(high ?? limit, limit)
        var result: GrammarBuilder.Alternatives = []
        if lo < 0 {
            // Negative part: "-" then the magnitudes from max(1, -hi) to -lo.
            let magnitudeLow = hi < 0 ? -hi : 1
            for sequence in positive(magnitudeLow, -lo) { result.append(GrammarBuilder.literal("-") + sequence) }
        }
        if hi >= 0 { result += positive(max(lo, 0), hi) }
        return result
    }

    /// Non-negative integers `low...high` without leading zeros, one digit count at a time.
    private static func positive(_ low: Int64, _ high: Int64) -> GrammarBuilder.Alternatives {
        guard low <= high else { return [] }
        var result: GrammarBuilder.Alternatives = []
        var segmentStart = low
        while segmentStart <= high {
            let digits = String(segmentStart).count
            let segmentEnd = digits >= 16 ? high : min(high, Int64(String(repeating: "9", count: digits)) ?? high)
            result += sameLength(segmentStart, segmentEnd)
            segmentStart = segmentEnd + 1
        }
        return result
    }

    /// `low...high`, both with the same number of digits.
    private static func sameLength(_ low: Int64, _ high: Int64) -> GrammarBuilder.Alternatives {
        var result: GrammarBuilder.Alternatives = []
        var start = low
        while start <= high {
            // The largest aligned block [start, start + 10^k - 1] inside the range.
            var size: Int64 = 1
            while start % (size * 10) == 0, start + size * 10 - 1 <= high, size < 1_000_000_000_000_000 { size *= 10 }
            // Extend over several blocks of the same size while the leading digit allows.
            var end = start + size - 1
            while end + size <= high, (end + 1) / size % 10 != 0 { end += size }
            result.append(pattern(start, end, blockSize: size))
            start = end + 1
        }
        return result
    }

    /// `start...end` where both share all digits above the block's and the block digits run full.
    private static func pattern(_ start: Int64, _ end: Int64, blockSize: Int64) -> [GrammarBuilder.Symbol] {
        let a = Array(String(start).utf8), b = Array(String(end).utf8)
        let trailing = String(blockSize).count - 1
        var sequence: [GrammarBuilder.Symbol] = []
        for index in 0..<a.count {
            if index < a.count - trailing {
                sequence.append(.bytes(ByteSet(a[index]...b[index])))
            } else {
                sequence.append(.bytes(ByteSet(0x30...0x39)))
            }
        }
        return sequence
    }
}

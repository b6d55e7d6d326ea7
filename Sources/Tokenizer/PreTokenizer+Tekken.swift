extension PreTokenizer {
    /// Which side of tekken's case rule a scalar is on, as llama.cpp's tekken regex defines the
    /// classes: `upper` is a letter (`\p{L}`) other than ASCII a-z, `lower` a letter other than
    /// ASCII A-Z (so every non-ASCII letter is both, and marks are neither).
    struct TekkenCase: OptionSet {
        let rawValue: UInt8
        static let upper = TekkenCase(rawValue: 1)
        static let lower = TekkenCase(rawValue: 2)
    }

    /// Mistral Nemo's tekken regex as llama.cpp runs it, matched leftmost-first like a backtracking
    /// engine:
    /// `[^\r\n\p{L}\p{N}]?U*L+ | [^\r\n\p{L}\p{N}]?U+L* | \p{N} | ' '?[^\s\p{L}\p{N}]+[\r\n/]* |
    /// \s*[\r\n]+ | \s+(?!\S) | \s+`, with U and L the classes of ``TekkenCase``. (The original in
    /// tokenizer.json uses Unicode case categories with marks in both classes: it keeps "ÉCOLE" and
    /// "मनुष्य" whole where llama.cpp splits "É", "COLE" and at the vowel signs.)
    static func splitTekken(_ t: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        let end = piece.upperBound
        let cr = UInt32(UInt8(ascii: "\r")), lf = UInt32(UInt8(ascii: "\n"))
        let space = UInt32(UInt8(ascii: " ")), slash = UInt32(UInt8(ascii: "/"))
        func kind(_ p: Int) -> TekkenCase {
            guard p < end, t.flags[p].contains(.letter) else { return [] }
            let value = t.scalars[p]
            if value >= 65 && value <= 90 { return .upper }
            return value >= 97 && value <= 122 ? .lower : [.upper, .lower]
        }
        func isOther(_ p: Int) -> Bool {
            let f = t.flags(at: p, in: piece)
            return f.contains(.defined) && !f.contains(.whitespace) && !f.contains(.letter) && !f.contains(.number)
        }
        // U*L+ from p: greedy U*, then L+; when no L follows, U* gives back scalars until the last
        // one that is also L, which then ends the match.
        func upperThenLower(_ p: Int) -> Int? {
            var k = p
            while kind(k).contains(.upper) { k += 1 }
            if kind(k).contains(.lower) {
                while kind(k).contains(.lower) { k += 1 }
                return k
            }
            var j = k
            while j > p {
                j -= 1
                if kind(j).contains(.lower) { return j + 1 }
            }
            return nil
        }
        // U+L* from p.
        func upperThenOptionalLower(_ p: Int) -> Int? {
            var k = p
            while kind(k).contains(.upper) { k += 1 }
            guard k > p else { return nil }
            while kind(k).contains(.lower) { k += 1 }
            return k
        }
        var pos = piece.lowerBound
        var start = pos
        func emit(_ to: Int) {
            if to > start { out.append(start..<to) }
            start = to
            pos = to
        }
        while pos < end {
            let c = t.scalars[pos]
            let f = t.flags[pos]
            let prefix = !(c == cr || c == lf || f.contains(.letter) || f.contains(.number))
            if let word = (prefix ? upperThenLower(pos + 1) : nil) ?? upperThenLower(pos)
                ?? (prefix ? upperThenOptionalLower(pos + 1) : nil) ?? upperThenOptionalLower(pos)
            {
                emit(word)
                continue
            }
            if f.contains(.number) {
                emit(pos + 1)
                continue
            }
            // ' '?[^\s\p{L}\p{N}]+[\r\n/]*
            let otherStart = c == space && isOther(pos + 1) ? pos + 1 : pos
            if isOther(otherStart) {
                var k = otherStart
                while isOther(k) { k += 1 }
                while true {
                    let next = t.scalar(at: k, in: piece)
                    guard next == cr || next == lf || next == slash else { break }
                    k += 1
                }
                emit(k)
                continue
            }
            let (spaces, lastNewlineEnd) = whitespaceRun(t, from: pos, in: piece)
            if lastNewlineEnd > 0 {
                emit(lastNewlineEnd)  // \s*[\r\n]+
            } else if spaces > 1 && pos + spaces < end {
                emit(pos + spaces - 1)  // \s+(?!\S)
            } else if spaces > 0 {
                emit(pos + spaces)  // \s+
            } else {
                emit(pos + 1)
            }
        }
    }
}

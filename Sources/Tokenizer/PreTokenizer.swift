/// Byte-level BPE pre-tokenization: splits text into words before merges are applied.
///
/// Each family is a sequence of split passes, applied like llama.cpp's `unicode_regex_split`:
/// every pass re-splits each piece produced by the previous one, and both matched and
/// unmatched stretches become pieces. The regexes are implemented by hand over Unicode
/// general categories (`\p{L}`, `\p{N}`, `\p{P}`) and the White_Space property (`\s`).
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// llama.cpp's `default`: `[\p{P}$+<=>^~|]+`, then GPT-2, then `\p{N}+`, then `[0-9][0-9][0-9]`.
    case `default`
    /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`.
    case gpt2
    /// Llama 3 (`llama-bpe`): case-insensitive contractions, `[^\r\n\p{L}\p{N}]?\p{L}+`, `\p{N}{1,3}`,
    /// ` ?[^\s\p{L}\p{N}]+[\r\n]*`, `\s*[\r\n]+`, `\s+(?!\S)`, `\s+`.
    case llama3
    /// Qwen2: as ``llama3`` but numbers split into single digits (`\p{N}`).
    case qwen2
    /// SmolLM / StarCoder: every `\p{N}` isolated, then GPT-2.
    case smollm
    /// Falcon: `[\p{P}$+<=>^~|\`]+`, then GPT-2, then `[0-9][0-9][0-9]`.
    case falcon
    /// Mistral Nemo's tekken: words split at lower-to-upper case changes, single digits, no
    /// contractions (see `splitTekken` for the regex).
    case tekken

    /// Properties llama.cpp attaches to a `tokenizer.ggml.pre` name.
    struct Settings {
        var preTokenizer: PreTokenizer
        var ignoreMerges = false
        var addBOSByDefault = false
        var cleanSpaces = true
    }

    /// Whether `name` is a `tokenizer.ggml.pre` value Tandem implements (see ``settings(for:)``).
    public static func recognizes(_ name: String) -> Bool {
        (try? settings(for: name)) != nil
    }

    /// Resolves a `tokenizer.ggml.pre` name the way llama.cpp does (`llama-vocab.cpp`):
    /// absent, empty or `default` selects ``default``; an unknown name is an error naming it
    /// (llama.cpp refuses to load such a model too). `gpt2` is accepted as an alias of `gpt-2`.
    static func settings(for name: String?) throws -> Settings {
        guard let name, !name.isEmpty else { return Settings(preTokenizer: .default) }
        switch name {
        case "default":
            return Settings(preTokenizer: .default)
        case "llama3", "llama-v3", "llama-bpe", "falcon3":
            return Settings(preTokenizer: .llama3, ignoreMerges: true, addBOSByDefault: true)
        case "dbrx", "smaug-bpe", "chatglm-bpe":
            return Settings(preTokenizer: .llama3)
        case "qwen2":
            return Settings(preTokenizer: .qwen2, cleanSpaces: false)
        case "stablelm2", "megrez":
            return Settings(preTokenizer: .qwen2)
        case "smollm":
            return Settings(preTokenizer: .smollm, cleanSpaces: false)
        case "command-r":
            return Settings(preTokenizer: .smollm, cleanSpaces: false)
        case "starcoder", "refact", "codeshell", "exaone", "minerva-7b":
            return Settings(preTokenizer: .smollm)
        case "gpt2", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v1-en", "jina-v2-es",
            "jina-v2-de", "jina-v2-code", "roberta-bpe", "mpt", "olmo", "jais":
            return Settings(preTokenizer: .gpt2)
        case "falcon":
            return Settings(preTokenizer: .falcon)
        case "tekken":
            return Settings(preTokenizer: .tekken, ignoreMerges: true, addBOSByDefault: true, cleanSpaces: false)
        default:
            throw TokenizerError.unknownPreTokenizer(name)
        }
    }

    private enum Pass {
        case gpt2
        case llama3(maxDigits: Int)
        case isolateNumbers
        case numberRuns
        case asciiDigitTriples
        case punctuationRuns(extra: Set<UInt32>)
        case tekken
    }

    private var passes: [Pass] {
        switch self {
        case .default:
            return [
                .punctuationRuns(extra: Set("$+<=>^~|".unicodeScalars.map(\.value))), .gpt2,
                .numberRuns, .asciiDigitTriples
            ]
        case .gpt2: return [.gpt2]
        case .llama3: return [.llama3(maxDigits: 3)]
        case .qwen2: return [.llama3(maxDigits: 1)]
        case .smollm: return [.isolateNumbers, .gpt2]
        case .tekken: return [.tekken]
        case .falcon:
            return [
                .punctuationRuns(extra: Set("$+<=>^~|`".unicodeScalars.map(\.value))), .gpt2,
                .asciiDigitTriples
            ]
        }
    }

    /// Splits `text` into pieces, returned as scalar-index ranges in order.
    func split(_ text: ScalarText) -> [Range<Int>] {
        guard text.count > 0 else { return [] }
        var pieces = [0..<text.count]
        var next: [Range<Int>] = []
        for pass in passes {
            next.removeAll(keepingCapacity: true)
            next.reserveCapacity(pieces.count * 2)
            for piece in pieces {
                switch pass {
                case .gpt2: Self.splitGPT2(text, piece, into: &next)
                case .llama3(let maxDigits): Self.splitLlama3(text, piece, maxDigits: maxDigits, into: &next)
                case .isolateNumbers: Self.splitRuns(text, piece, isolated: true, into: &next) { $0.contains(.number) }
                case .numberRuns: Self.splitRuns(text, piece, isolated: false, into: &next) { $0.contains(.number) }
                case .asciiDigitTriples: Self.splitDigitTriples(text, piece, into: &next)
                case .tekken: Self.splitTekken(text, piece, into: &next)
                case .punctuationRuns(let extra):
                    Self.splitRuns(text, piece, isolated: false, into: &next, scalarMatch: { extra.contains($0) }) {
                        $0.contains(.punctuation)
                    }
                }
            }
            swap(&pieces, &next)
        }
        return pieces
    }

    // MARK: - Passes

    /// Appends the piece `[start, end)` when it is not empty and moves `start` to `end`.
    @inline(__always)
    private static func emit(_ start: inout Int, _ end: Int, _ out: inout [Range<Int>]) {
        if end > start { out.append(start..<end) }
        start = end
    }

    /// Both regexes begin with the contractions ('s, 't, 're, 've, 'm, 'll, 'd): one at `pos` is a
    /// piece of its own. Returns whether one was taken.
    @inline(__always)
    private static func takeContraction(
        _ t: ScalarText, _ pos: inout Int, _ start: inout Int, _ piece: Range<Int>, caseInsensitive: Bool,
        into out: inout [Range<Int>]
    ) -> Bool {
        let length = contractionLength(t, pos, piece, caseInsensitive: caseInsensitive)
        guard length > 0 else { return false }
        pos += length
        emit(&start, pos, &out)
        return true
    }

    private static let apostrophe = UInt32(UInt8(ascii: "'"))
    private static let space = UInt32(UInt8(ascii: " "))
    private static let cr = UInt32(UInt8(ascii: "\r"))
    private static let lf = UInt32(UInt8(ascii: "\n"))

    /// The whitespace run at `pos`: its length, and the end of its last line break (0: none), for
    /// the patterns' `\s*[\r\n]+` and `\s+(?!\S)` alternatives.
    static func whitespaceRun(_ t: ScalarText, from pos: Int, in piece: Range<Int>) -> (spaces: Int, lastNewlineEnd: Int) {
        var spaces = 0
        var lastNewlineEnd = 0
        while t.flags(at: pos + spaces, in: piece).contains(.whitespace) {
            let c = t.scalars[pos + spaces]
            if c == cr || c == lf { lastNewlineEnd = pos + spaces + 1 }
            spaces += 1
        }
        return (spaces, lastNewlineEnd)
    }

    /// Length of a contraction (`'s 't 're 've 'm 'll 'd`) starting at `pos`, or 0.
    @inline(__always)
    private static func contractionLength(_ t: ScalarText, _ pos: Int, _ piece: Range<Int>, caseInsensitive: Bool) -> Int {
        guard t.scalars[pos] == apostrophe, pos + 1 < piece.upperBound else { return 0 }
        func lower(_ v: UInt32) -> UInt32 {
            caseInsensitive && v >= 65 && v <= 90 ? v + 32 : v
        }
        let c1 = lower(t.scalars[pos + 1])
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        guard pos + 2 < piece.upperBound else { return 0 }
        let c2 = lower(t.scalars[pos + 2])
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) { return 3 }  // re ve ll
        return 0
    }

    private static func splitGPT2(_ t: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        var pos = piece.lowerBound
        var start = pos
        let end = piece.upperBound
        while pos < end {
            if takeContraction(t, &pos, &start, piece, caseInsensitive: false, into: &out) { continue }
            let c = t.scalars[pos]
            let f = t.flags[pos]
            let f2 = c == space ? t.flags(at: pos + 1, in: piece) : f
            if f2.contains(.letter) || f2.contains(.number) {
                let kind: ScalarText.Flags = f2.contains(.letter) ? .letter : .number
                if c == space { pos += 1 }
                while t.flags(at: pos, in: piece).contains(kind) { pos += 1 }
                emit(&start, pos, &out)
                continue
            }
            if isOther(f2) {
                if c == space { pos += 1 }
                while isOther(t.flags(at: pos, in: piece)) { pos += 1 }
                emit(&start, pos, &out)
                continue
            }
            var spaces = 0
            while t.flags(at: pos + spaces, in: piece).contains(.whitespace) { spaces += 1 }
            if spaces > 1 && pos + spaces < end {
                pos += spaces - 1  // \s+(?!\S): leave the last space to prefix the next word
            } else if spaces > 0 {
                pos += spaces  // \s+
            } else {
                pos += 1  // no class (unassigned scalar): a piece of its own
            }
            emit(&start, pos, &out)
        }
    }

    /// `[^\s\p{L}\p{N}]` restricted to assigned scalars, as llama.cpp's matchers do.
    @inline(__always)
    private static func isOther(_ f: ScalarText.Flags) -> Bool {
        f.contains(.defined) && !f.contains(.whitespace) && !f.contains(.letter) && !f.contains(.number)
    }

    private static func splitLlama3(_ t: ScalarText, _ piece: Range<Int>, maxDigits: Int, into out: inout [Range<Int>]) {
        var pos = piece.lowerBound
        var start = pos
        let end = piece.upperBound
        while pos < end {
            if takeContraction(t, &pos, &start, piece, caseInsensitive: true, into: &out) { continue }
            let c = t.scalars[pos]
            let f = t.flags[pos]
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == cr || c == lf || f.contains(.number)) {
                if f.contains(.letter) || t.flags(at: pos + 1, in: piece).contains(.letter) {
                    pos += 1
                    while t.flags(at: pos, in: piece).contains(.letter) { pos += 1 }
                    emit(&start, pos, &out)
                    continue
                }
            }
            // \p{N}{1,maxDigits}
            if f.contains(.number) {
                var groupStart = pos
                while t.flags(at: pos, in: piece).contains(.number) {
                    pos += 1
                    if pos - groupStart >= maxDigits {
                        emit(&start, pos, &out)
                        groupStart = pos
                    }
                }
                emit(&start, pos, &out)
                continue
            }
            // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
            let f2 = c == space ? t.flags(at: pos + 1, in: piece) : f
            if !f2.contains(.whitespace) && !f2.contains(.letter) && !f2.contains(.number) && f.contains(.defined) {
                if c == space { pos += 1 }
                while isOther(t.flags(at: pos, in: piece)) { pos += 1 }
                while true {
                    let c2 = t.scalar(at: pos, in: piece)
                    guard c2 == cr || c2 == lf else { break }
                    pos += 1
                }
                emit(&start, pos, &out)
                continue
            }
            let (spaces, lastNewlineEnd) = whitespaceRun(t, from: pos, in: piece)
            if lastNewlineEnd > 0 {
                pos = lastNewlineEnd  // \s*[\r\n]+
            } else if spaces > 1 && pos + spaces < end {
                pos += spaces - 1  // \s+(?!\S)
            } else if spaces > 0 {
                pos += spaces  // \s+
            } else {
                pos += 1
            }
            emit(&start, pos, &out)
        }
    }

    /// Splits out runs of scalars matching `match` (or each such scalar alone when `isolated`);
    /// the stretches between them are kept as pieces too.
    private static func splitRuns(
        _ t: ScalarText, _ piece: Range<Int>, isolated: Bool, into out: inout [Range<Int>],
        scalarMatch: (UInt32) -> Bool = { _ in false },
        match: (ScalarText.Flags) -> Bool
    ) {
        var pos = piece.lowerBound
        var start = pos
        while pos < piece.upperBound {
            if match(t.flags[pos]) || scalarMatch(t.scalars[pos]) {
                emit(&start, pos, &out)
                pos += 1
                if !isolated {
                    while pos < piece.upperBound && (match(t.flags[pos]) || scalarMatch(t.scalars[pos])) { pos += 1 }
                }
                emit(&start, pos, &out)
            } else {
                pos += 1
            }
        }
        emit(&start, piece.upperBound, &out)
    }

    /// `[0-9][0-9][0-9]`: leftmost non-overlapping triples of ASCII digits become pieces.
    private static func splitDigitTriples(_ t: ScalarText, _ piece: Range<Int>, into out: inout [Range<Int>]) {
        func isDigit(_ p: Int) -> Bool { p < piece.upperBound && t.scalars[p] >= 48 && t.scalars[p] <= 57 }
        var pos = piece.lowerBound
        var start = pos
        while pos < piece.upperBound {
            if isDigit(pos) && isDigit(pos + 1) && isDigit(pos + 2) {
                emit(&start, pos, &out)
                pos += 3
                emit(&start, pos, &out)
            } else {
                pos += 1
            }
        }
        emit(&start, piece.upperBound, &out)
    }
}

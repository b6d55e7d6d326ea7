/// Regular expressions (the Python `re` / ECMAScript subset that JSON Schema patterns and
/// `guided_regex` use) compiled into grammar rules matching the whole text (`fullmatch`).
///
/// Supported: literals, `.`, classes `[...]` with ranges and negation, `\d \w \s` and their
/// negations, escapes (`\n \t \r \f \v \0 \xhh \uhhhh`, escaped metacharacters), groups `( )`,
/// `(?: )`, `(?P<name> )`, `(?<name> )`, alternation, and the quantifiers `* + ? {n} {n,} {n,m}`
/// (lazy forms match the same language). `^` and `$` at the ends are accepted. Backreferences,
/// lookaround and flags are refused with an error that names them.
public struct RegexCompiler {
    /// How the matched text is written: as is, or as the inside of a JSON string (characters
    /// that JSON escapes appear as their escapes).
    public enum Encoding: Sendable { case raw, jsonString }

    indirect enum Node {
        case characters([ClosedRange<UInt32>], negated: Bool)
        case sequence([Node])
        case alternation([Node])
        case repetition(Node, minimum: Int, maximum: Int?)
    }

    /// The largest bounded repetition count accepted.
    public static let maximumRepetition = 4096

    private let scalars: [Unicode.Scalar]
    private var position = 0
    private(set) var anchoredStart = false
    private(set) var anchoredEnd = false

    init(_ pattern: String) {
        scalars = Array(pattern.unicodeScalars)
    }

    /// Parses `pattern`; the result says whether it was anchored at each end.
    static func parse(_ pattern: String) throws(GrammarError) -> (node: Node, anchoredStart: Bool, anchoredEnd: Bool) {
        var parser = RegexCompiler(pattern)
        if parser.peek == "^" {
            parser.position += 1
            parser.anchoredStart = true
        }
        let node = try parser.parseAlternation(depth: 0)
        if parser.position < parser.scalars.count { throw parser.error("unbalanced ')'") }
        return (node, parser.anchoredStart, parser.anchoredEnd)
    }

    private var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private func error(_ message: String) -> GrammarError {
        GrammarError("regular expression, at offset \(position): \(message)")
    }

    private mutating func next() throws(GrammarError) -> Unicode.Scalar {
        guard let scalar = peek else { throw error("unexpected end") }
        position += 1
        return scalar
    }

    private mutating func parseAlternation(depth: Int) throws(GrammarError) -> Node {
        guard depth < 64 else { throw error("groups nested deeper than 64") }
        var branches = [try parseSequence(depth: depth)]
        while peek == "|" {
            position += 1
            branches.append(try parseSequence(depth: depth))
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseSequence(depth: Int) throws(GrammarError) -> Node {
        var items: [Node] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            if scalar == "$" {
                position += 1
                guard peek == nil || peek == ")" || peek == "|" else { throw error("'$' is only supported at the end") }
                anchoredEnd = true
                continue
            }
            var atom = try parseAtom(depth: depth)
            while let quantifier = peek, "*+?{".unicodeScalars.contains(quantifier) {
                guard let (minimum, maximum) = try parseQuantifier() else { break }
                atom = .repetition(atom, minimum: minimum, maximum: maximum)
                if peek == "?" || peek == "+" { position += 1 }  // lazy or possessive: same language
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    /// A quantifier at the current position, or nil for a `{` that is a literal.
    private mutating func parseQuantifier() throws(GrammarError) -> (Int, Int?)? {
        let start = position
        switch try next() {
        case "*": return (0, nil)
        case "+": return (1, nil)
        case "?": return (0, 1)
        default:
            func number() -> Int? {
                var value = 0
                var digits = 0
                while let d = peek, let digit = d.properties.numericType == .decimal ? Int(String(d)) : nil {
                    value = min(value * 10 + digit, Int(Int32.max))
                    digits += 1
                    position += 1
                }
                return digits > 0 ? value : nil
            }
            let minimum = number()
            var maximum = minimum
            if peek == "," {
                position += 1
                maximum = number()
            }
            guard peek == "}", let low = minimum ?? (maximum != nil ? 0 : nil) else {
                position = start  // not a quantifier: `{` is a literal
                return nil
            }
            position += 1
            if let maximum, maximum < low { throw error("repetition {\(low),\(maximum)} has its bounds reversed") }
            if max(low, maximum ?? 0) > Self.maximumRepetition {
                throw error("repetition count above \(Self.maximumRepetition)")
            }
            return (low, maximum)
        }
    }

    private mutating func parseAtom(depth: Int) throws(GrammarError) -> Node {
        let scalar = try next()
        switch scalar {
        case "(":
            if peek == "?" {
                position += 1
                switch try next() {
                case ":": break
                case "P", "<":
                    if scalars[position - 1] == "P" {
                        guard try next() == "<" else { throw error("unsupported group syntax") }
                    }
                    guard peek != "=" && peek != "!" else { throw error("lookbehind is not supported") }
                    while let c = peek, c != ">" { position += 1 }
                    guard try next() == ">" else { throw error("unterminated group name") }
                case "=", "!": throw error("lookahead is not supported")
                default: throw error("group flags are not supported")
                }
            }
            let inner = try parseAlternation(depth: depth + 1)
            guard peek == ")" else { throw error("missing ')'") }
            position += 1
            return inner
        case ".": return .characters([0x0A...0x0A], negated: true)
        case "[": return try parseClass()
        case "\\": return try parseEscape(inClass: false)
        case "*", "+", "?": throw error("nothing to repeat")
        case "^": throw error("'^' is only supported at the start")
        default: return .characters([scalar.value...scalar.value], negated: false)
        }
    }

    private mutating func parseClass() throws(GrammarError) -> Node {
        var negated = false
        if peek == "^" {
            negated = true
            position += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while true {
            guard let scalar = peek else { throw error("unterminated character class") }
            if scalar == "]" && !first { break }
            first = false
            position += 1
            var low: UInt32
            if scalar == "\\" {
                let escaped = try parseEscape(inClass: true)
                guard case .characters(let set, let isNegated) = escaped else { throw error("unsupported escape in a class") }
                if isNegated || set.count != 1 || set[0].count != 1 {
                    // \d, \w, \s and their negations inside a class.
                    if isNegated {
                        var complement: [ClosedRange<UInt32>] = []
                        var next: UInt32 = 0
                        for r in set.sorted(by: { $0.lowerBound < $1.lowerBound }) {
                            if r.lowerBound > next { complement.append(next...(r.lowerBound - 1)) }
                            next = max(next, r.upperBound + 1)
                        }
                        complement.append(next...0x10FFFF)
                        ranges += complement
                    } else {
                        ranges += set
                    }
                    continue
                }
                low = set[0].lowerBound
            } else {
                low = scalar.value
            }
            if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                position += 1
                var high = try next().value
                if high == 0x5C {  // an escaped upper bound
                    guard case .characters(let set, false) = try parseEscape(inClass: true), set.count == 1, set[0].count == 1 else {
                        throw error("bad class range")
                    }
                    high = set[0].lowerBound
                }
                guard high >= low else { throw error("class range out of order") }
                ranges.append(low...high)
            } else {
                ranges.append(low...low)
            }
        }
        position += 1
        return .characters(ranges, negated: negated)
    }

    private static let digits: [ClosedRange<UInt32>] = [0x30...0x39]
    private static let word: [ClosedRange<UInt32>] = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    private static let space: [ClosedRange<UInt32>] = [0x09...0x0D, 0x20...0x20]

    private mutating func parseEscape(inClass: Bool) throws(GrammarError) -> Node {
        let scalar = try next()
        func one(_ value: UInt32) -> Node { .characters([value...value], negated: false) }
        switch scalar {
        case "d": return .characters(Self.digits, negated: false)
        case "D": return .characters(Self.digits, negated: true)
        case "w": return .characters(Self.word, negated: false)
        case "W": return .characters(Self.word, negated: true)
        case "s": return .characters(Self.space, negated: false)
        case "S": return .characters(Self.space, negated: true)
        case "n": return one(0x0A)
        case "t": return one(0x09)
        case "r": return one(0x0D)
        case "f": return one(0x0C)
        case "v": return one(0x0B)
        case "0": return one(0)
        case "b" where inClass: return one(0x08)
        case "x", "u":
            let count = scalar == "x" ? 2 : 4
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = peek.flatMap({ UInt32(String($0), radix: 16) }) else { throw error("bad \\\(scalar) escape") }
                value = value * 16 + digit
                position += 1
            }
            guard Unicode.Scalar(value) != nil else { throw error("\\\(scalar) escape of a surrogate") }
            return one(value)
        default:
            if scalar.properties.isAlphabetic || scalar.properties.numericType != nil {
                throw error("unsupported escape \\\(scalar)")
            }
            return one(scalar.value)
        }
    }
}

extension GrammarBuilder {
    /// Rules for a regular expression matched in full (unanchored patterns too: `pattern` in JSON
    /// Schema searches, so `searchSemantics` adds `.*` on each side that has no anchor).
    public mutating func regularExpression(
        _ pattern: String, encoding: RegexCompiler.Encoding, searchSemantics: Bool = false
    ) throws(GrammarError) -> [Symbol] {
        let (node, start, end) = try RegexCompiler.parse(pattern)
        var sequence = try symbols(node, encoding: encoding)
        if searchSemantics {
            let any = try symbols(.repetition(.characters([], negated: true), minimum: 0, maximum: nil), encoding: encoding)
            if !start { sequence = any + sequence }
            if !end { sequence += any }
        }
        return sequence
    }

    private mutating func symbols(_ node: RegexCompiler.Node, encoding: RegexCompiler.Encoding) throws(GrammarError) -> [Symbol] {
        switch node {
        case .characters(let ranges, let negated):
            return [characters(ranges, negated: negated, encoding: encoding)]
        case .sequence(let items):
            var result: [Symbol] = []
            for item in items { result += try symbols(item, encoding: encoding) }
            return result
        case .alternation(let branches):
            var alternatives: Alternatives = []
            for branch in branches { alternatives.append(try symbols(branch, encoding: encoding)) }
            return [.rule(add(factored(alternatives, name: "alt"), name: "alt"))]
        case .repetition(let item, let minimum, let maximum):
            return repeated(try symbols(item, encoding: encoding), minimum: minimum, maximum: maximum)
        }
    }

    /// One scalar of the class; in a JSON string, the characters JSON escapes appear escaped.
    mutating func characters(_ ranges: [ClosedRange<UInt32>], negated: Bool, encoding: RegexCompiler.Encoding) -> Symbol {
        guard encoding == .jsonString else { return characterClass(ranges, negated: negated) }
        let contains: (UInt32) -> Bool = { value in ranges.contains { $0.contains(value) } != negated }
        // The plain part: the class without the characters JSON must escape.
        let escaped: [ClosedRange<UInt32>] = [0...0x1F, 0x22...0x22, 0x5C...0x5C]
        let plain = negated ? ranges + escaped : Self.subtract(escaped, from: ranges)
        var alternatives: Alternatives = [[characterClass(plain, negated: negated)]]
        for value in escaped.flatMap({ $0 }) where contains(value) {
            alternatives.append(Self.literal(JSONText.escapedCharacter(value)))
        }
        return alternatives.count == 1 ? alternatives[0][0] : .rule(add(alternatives, name: "jchar"))
    }

    private static func subtract(_ removed: [ClosedRange<UInt32>], from ranges: [ClosedRange<UInt32>]) -> [ClosedRange<UInt32>] {
        var result = ranges
        for cut in removed {
            result = result.flatMap { range -> [ClosedRange<UInt32>] in
                guard range.overlaps(cut) else { return [range] }
                var pieces: [ClosedRange<UInt32>] = []
                if range.lowerBound < cut.lowerBound { pieces.append(range.lowerBound...(cut.lowerBound - 1)) }
                if range.upperBound > cut.upperBound { pieces.append((cut.upperBound + 1)...range.upperBound) }
                return pieces
            }
        }
        return result
    }
}

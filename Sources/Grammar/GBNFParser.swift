/// GBNF, llama.cpp's grammar notation, compiled into a grammar whose start is the rule `root`.
///
/// `name ::= alternatives`, one rule per line (a rule continues inside parentheses and after
/// `|`); items are `"literals"`, `[character classes]` (with `^` and ranges), `.`, rule names,
/// `( groups )`, and the quantifiers `* + ? {n} {n,} {n,m}`; `#` starts a comment. Literals and
/// classes are Unicode and match their UTF-8 bytes.
public struct GBNFParser {
    private let scalars: [Unicode.Scalar]
    private var position = 0
    private var builder = GrammarBuilder()

    /// Parses `source`; throws for a syntax error, an undefined rule or left recursion.
    public static func parse(_ source: String) throws(GrammarError) -> Grammar {
        var parser = GBNFParser(scalars: Array(source.unicodeScalars))
        try parser.parseRules()
        guard parser.builder.hasRule(named: "root") else { throw GrammarError("GBNF: no rule named 'root'") }
        let root = parser.builder.rule(named: "root")
        return try parser.builder.build(root: root)
    }

    private init(scalars: [Unicode.Scalar]) { self.scalars = scalars }

    private var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }

    private func error(_ message: String) -> GrammarError {
        var line = 1
        for scalar in scalars[..<min(position, scalars.count)] where scalar == "\n" { line += 1 }
        return GrammarError("GBNF, line \(line): \(message)")
    }

    /// Skips blanks and comments; newlines too when `newlines`.
    private mutating func skipSpace(newlines: Bool) {
        while let scalar = peek {
            if scalar == "#" {
                while let c = peek, c != "\n" { position += 1 }
            } else if scalar == " " || scalar == "\t" || (newlines && (scalar == "\n" || scalar == "\r")) {
                position += 1
            } else {
                break
            }
        }
    }

    private static func isNameCharacter(_ s: Unicode.Scalar) -> Bool {
        s == "-" || s == "_" || ("a"..."z").contains(s) || ("A"..."Z").contains(s) || ("0"..."9").contains(s)
    }

    private mutating func parseName() throws(GrammarError) -> String {
        let start = position
        while let s = peek, Self.isNameCharacter(s) { position += 1 }
        guard position > start else { throw error("expected a rule name") }
        return String(String.UnicodeScalarView(scalars[start..<position]))
    }

    private mutating func parseRules() throws(GrammarError) {
        skipSpace(newlines: true)
        while peek != nil {
            let name = try parseName()
            skipSpace(newlines: false)
            for expected in "::=".unicodeScalars {
                guard peek == expected else { throw error("expected '::=' after '\(name)'") }
                position += 1
            }
            skipSpace(newlines: false)
            let rule = builder.rule(named: name)
            builder.define(rule, builder.factored(try parseAlternatives(nested: false, depth: 0), name: name))
            skipSpace(newlines: true)
        }
    }

    private mutating func parseAlternatives(nested: Bool, depth: Int) throws(GrammarError) -> GrammarBuilder.Alternatives {
        guard depth < 64 else { throw error("groups nested deeper than 64") }
        var alternatives = [try parseSequence(nested: nested, depth: depth)]
        while peek == "|" {
            position += 1
            skipSpace(newlines: true)
            alternatives.append(try parseSequence(nested: nested, depth: depth))
        }
        return alternatives
    }

    private mutating func parseSequence(nested: Bool, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        var sequence: [GrammarBuilder.Symbol] = []
        var last: [GrammarBuilder.Symbol] = []
        while let scalar = peek {
            var item: [GrammarBuilder.Symbol]
            switch scalar {
            case "\"":
                position += 1
                item = []
                while true {
                    guard let c = peek else { throw error("unterminated literal") }
                    if c == "\"" {
                        position += 1
                        break
                    }
                    let value = try parseCharacter()
                    item += UTF8Ranges.encode(value).map { .bytes(ByteSet(byte: $0)) }
                }
            case "[":
                position += 1
                var negated = false
                if peek == "^" {
                    negated = true
                    position += 1
                }
                var ranges: [ClosedRange<UInt32>] = []
                while peek != "]" {
                    guard peek != nil else { throw error("unterminated character class") }
                    let low = try parseCharacter()
                    if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                        position += 1
                        let high = try parseCharacter()
                        guard high >= low else { throw error("class range out of order") }
                        ranges.append(low...high)
                    } else {
                        ranges.append(low...low)
                    }
                }
                position += 1
                item = [builder.characterClass(ranges, negated: negated)]
            case ".":
                position += 1
                item = [builder.characterClass([], negated: true)]
            case "(":
                position += 1
                skipSpace(newlines: true)
                let inner = try parseAlternatives(nested: true, depth: depth + 1)
                guard peek == ")" else { throw error("missing ')'") }
                position += 1
                item = [.rule(builder.add(builder.factored(inner, name: "group"), name: "group"))]
            case "*", "+", "?", "{":
                guard !last.isEmpty else { throw error("nothing to repeat") }
                sequence.removeLast(last.count)
                let (minimum, maximum) = try parseQuantifier()
                item = builder.repeated(last, minimum: minimum, maximum: maximum)
                sequence += item
                last = []
                skipSpace(newlines: nested)
                continue
            default:
                guard Self.isNameCharacter(scalar) else {
                    if scalar == "|" || scalar == ")" || scalar == "\n" || scalar == "\r" { return sequence }
                    throw error("unexpected '\(scalar)'")
                }
                // A name followed by '::=' starts the next rule.
                let start = position
                let name = try parseName()
                var look = position
                while look < scalars.count, scalars[look] == " " || scalars[look] == "\t" { look += 1 }
                if look + 2 < scalars.count, scalars[look] == ":", scalars[look + 1] == ":", scalars[look + 2] == "=" {
                    position = start
                    return sequence
                }
                item = [.rule(builder.rule(named: name))]
            }
            sequence += item
            last = item
            skipSpace(newlines: nested)
        }
        return sequence
    }

    private mutating func parseQuantifier() throws(GrammarError) -> (Int, Int?) {
        guard let scalar = peek else { throw error("expected a quantifier") }
        position += 1
        switch scalar {
        case "*": return (0, nil)
        case "+": return (1, nil)
        case "?": return (0, 1)
        default:
            func number() -> Int? {
                var value: Int?
                while let d = peek, ("0"..."9").contains(d) {
                    value = min((value ?? 0) * 10 + Int(d.value - 48), Int(Int32.max))
                    position += 1
                }
                return value
            }
            skipSpace(newlines: false)
            let minimum = number() ?? 0
            var maximum: Int? = minimum
            skipSpace(newlines: false)
            if peek == "," {
                position += 1
                skipSpace(newlines: false)
                maximum = number()
            }
            skipSpace(newlines: false)
            guard peek == "}" else { throw error("expected '}'") }
            position += 1
            if let maximum, maximum < minimum { throw error("repetition bounds reversed") }
            guard max(minimum, maximum ?? 0) <= RegexCompiler.maximumRepetition else {
                throw error("repetition count above \(RegexCompiler.maximumRepetition)")
            }
            return (minimum, maximum)
        }
    }

    /// One character of a literal or class, escapes resolved.
    private mutating func parseCharacter() throws(GrammarError) -> UInt32 {
        guard let scalar = peek else { throw error("unexpected end") }
        position += 1
        guard scalar == "\\" else { return scalar.value }
        guard let escaped = peek else { throw error("unexpected end") }
        position += 1
        switch escaped {
        case "n": return 0x0A
        case "r": return 0x0D
        case "t": return 0x09
        case "x", "u", "U":
            let count = escaped == "x" ? 2 : escaped == "u" ? 4 : 8
            var value: UInt32 = 0
            for _ in 0..<count {
                guard let digit = peek.flatMap({ UInt32(String($0), radix: 16) }) else { throw error("bad \\\(escaped) escape") }
                value = value &* 16 &+ digit
                position += 1
            }
            guard Unicode.Scalar(value) != nil else { throw error("\\\(escaped) escape is not a Unicode scalar") }
            return value
        default: return escaped.value
        }
    }
}

import Foundation

/// A value passed into a chat template (messages, tools, flags).
///
/// Dictionaries keep insertion order, because `tojson`, `items()` and `for k, v in d` expose it.
public enum TemplateValue: Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case none
    case array([TemplateValue])
    case dictionary(TemplateDictionary)

    /// Convenience constructor for an ordered dictionary from key/value pairs (later duplicates win).
    public static func object(_ pairs: [(String, TemplateValue)]) -> TemplateValue {
        var dict = TemplateDictionary()
        for (key, value) in pairs { dict[key] = value }
        return .dictionary(dict)
    }

    /// Parses JSON text, keeping object key order and distinguishing integers from floats.
    ///
    /// Throws `TemplateError(.syntax, ...)` on malformed input or nesting deeper than `maxDepth`.
    public init(json text: String, maxDepth: Int = 512) throws {
        var parser = JSONParser(scalars: Array(text.unicodeScalars), maxDepth: maxDepth)
        self = try parser.parseDocument()
    }
}

extension TemplateValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: TemplateValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, TemplateValue)...) { self = .object(elements) }
    public init(nilLiteral: ()) { self = .none }
}

/// The dictionary of template values: string keys in insertion order (Python `dict` semantics).
public typealias TemplateDictionary = InsertionOrderedDictionary<TemplateValue>

/// A small JSON reader that keeps key order and the int/float distinction.
struct JSONParser {
    let scalars: [Unicode.Scalar]
    let maxDepth: Int
    var position = 0

    init(scalars: [Unicode.Scalar], maxDepth: Int) {
        self.scalars = scalars
        self.maxDepth = maxDepth
    }

    mutating func parseDocument() throws -> TemplateValue {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard position == scalars.count else { throw fail("trailing characters") }
        return value
    }

    private func fail(_ message: String) -> TemplateError {
        TemplateError(.syntax, "invalid JSON at offset \(position): \(message)")
    }

    private mutating func skipWhitespace() {
        while position < scalars.count, [" ", "\n", "\r", "\t"].contains(scalars[position]) { position += 1 }
    }

    private mutating func expect(_ word: String) throws {
        for scalar in word.unicodeScalars {
            guard position < scalars.count, scalars[position] == scalar else { throw fail("expected \(word)") }
            position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws -> TemplateValue {
        guard depth < maxDepth else { throw fail("nesting too deep") }
        skipWhitespace()
        guard position < scalars.count else { throw fail("unexpected end") }
        switch scalars[position] {
        case "{":
            position += 1
            var dict = TemplateDictionary()
            skipWhitespace()
            if position < scalars.count, scalars[position] == "}" { position += 1; return .dictionary(dict) }
            while true {
                skipWhitespace()
                guard position < scalars.count, scalars[position] == "\"" else { throw fail("expected key") }
                let key = try parseString()
                skipWhitespace()
                try expect(":")
                dict[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard position < scalars.count else { throw fail("unterminated object") }
                if scalars[position] == "," { position += 1; continue }
                if scalars[position] == "}" { position += 1; return .dictionary(dict) }
                throw fail("expected , or }")
            }
        case "[":
            position += 1
            var items: [TemplateValue] = []
            skipWhitespace()
            if position < scalars.count, scalars[position] == "]" { position += 1; return .array(items) }
            while true {
                items.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard position < scalars.count else { throw fail("unterminated array") }
                if scalars[position] == "," { position += 1; continue }
                if scalars[position] == "]" { position += 1; return .array(items) }
                throw fail("expected , or ]")
            }
        case "\"":
            return .string(try parseString())
        case "t": try expect("true"); return .bool(true)
        case "f": try expect("false"); return .bool(false)
        case "n": try expect("null"); return .none
        default:
            return try parseNumber()
        }
    }

    private mutating func parseNumber() throws -> TemplateValue {
        let start = position
        var isFloat = false
        while position < scalars.count {
            let c = scalars[position]
            if ("0"..."9").contains(c) || c == "-" || c == "+" {
                position += 1
            } else if c == "." || c == "e" || c == "E" {
                isFloat = true
                position += 1
            } else {
                break
            }
        }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars[start..<position])
        if !isFloat, let int = Int(text) { return .int(int) }
        guard !text.isEmpty, let double = Double(text) else { throw fail("bad number") }
        return .double(double)
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard position + 4 <= scalars.count else { throw fail("bad \\u escape") }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars[position..<position + 4])
        guard let code = UInt32(text, radix: 16) else { throw fail("bad \\u escape") }
        position += 4
        return code
    }

    private mutating func parseString() throws -> String {
        position += 1  // opening quote
        var result = String.UnicodeScalarView()
        while true {
            guard position < scalars.count else { throw fail("unterminated string") }
            let c = scalars[position]
            position += 1
            if c == "\"" { break }
            if c != "\\" { result.append(c); continue }
            guard position < scalars.count else { throw fail("bad escape") }
            let e = scalars[position]
            position += 1
            switch e {
            case "\"": result.append("\"")
            case "\\": result.append("\\")
            case "/": result.append("/")
            case "b": result.append("\u{08}")
            case "f": result.append("\u{0C}")
            case "n": result.append("\n")
            case "r": result.append("\r")
            case "t": result.append("\t")
            case "u":
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code), position + 1 < scalars.count,
                    scalars[position] == "\\", scalars[position + 1] == "u"
                {
                    position += 2
                    let low = try parseHex4()
                    if (0xDC00..<0xE000).contains(low) {
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                }
                result.append(Unicode.Scalar(code) ?? "\u{FFFD}")
            default: throw fail("bad escape")
            }
        }
        return String(result)
    }
}

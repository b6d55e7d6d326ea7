/// A token of template source: literal text, tag delimiters, or an expression token inside a tag.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }
    let kind: Kind
    let line: Int
    let column: Int
}

/// Python's `str.isspace` for one scalar (what Jinja2's `\s` and `str.strip()` use).
func isPythonSpace(_ c: Unicode.Scalar) -> Bool {
    switch c.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
        return true
    default:
        return false
    }
}

/// Splits template source into tokens with Jinja2's whitespace rules as configured by transformers:
/// `trim_blocks=True`, `lstrip_blocks=True`, `keep_trailing_newline=False`, plus `-`/`+` modifiers.
struct Lexer {
    private var src: [Unicode.Scalar]
    private var pos = 0
    private var tokens: [Token] = []
    private var lineStarts: [Int] = [0]
    /// Strip leading whitespace of the next text chunk (after `-%}`, `-}}`, `-#}`).
    private var stripNextText = false
    private let maxTokens: Int

    init(source: String, maxTokens: Int = 1_000_000) {
        // Jinja2 normalizes newlines with str.splitlines() + "\n".join(), which also drops one trailing newline.
        var normalized: [Unicode.Scalar] = []
        normalized.reserveCapacity(source.unicodeScalars.count)
        var iterator = Array(source.unicodeScalars)[...]
        while let c = iterator.popFirst() {
            switch c.value {
            case 0x0D:
                if iterator.first == "\n" { iterator.removeFirst() }
                normalized.append("\n")
            case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
                normalized.append("\n")
            default:
                normalized.append(c)
            }
        }
        if normalized.last == "\n" { normalized.removeLast() }
        src = normalized
        self.maxTokens = maxTokens
        for (index, c) in src.enumerated() where c == "\n" { lineStarts.append(index + 1) }
    }

    func location(_ offset: Int) -> (line: Int, column: Int) {
        var low = 0
        var high = lineStarts.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if lineStarts[mid] <= offset { low = mid } else { high = mid - 1 }
        }
        return (low + 1, offset - lineStarts[low] + 1)
    }

    private func error(_ message: String, at offset: Int) -> TemplateError {
        let loc = location(offset)
        return TemplateError(.syntax, message, line: loc.line, column: loc.column)
    }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        let index = pos + offset
        return index < src.count ? src[index] : nil
    }

    private func matches(_ text: String, at index: Int) -> Bool {
        var i = index
        for c in text.unicodeScalars {
            guard i < src.count, src[i] == c else { return false }
            i += 1
        }
        return true
    }

    private mutating func emit(_ kind: Token.Kind, at offset: Int) throws {
        guard tokens.count < maxTokens else { throw error("template too large", at: offset) }
        let loc = location(offset)
        tokens.append(Token(kind: kind, line: loc.line, column: loc.column))
    }

    /// Emits a text chunk src[start..<end], applying pending `-` stripping and the given trailing strip rules.
    private mutating func emitText(start: Int, end: Int, tagModifier: Unicode.Scalar?, isBlockOrComment: Bool) throws {
        var lower = start
        var upper = end
        if stripNextText {
            while lower < upper, isPythonSpace(src[lower]) { lower += 1 }
            stripNextText = false
        }
        if tagModifier == "-" {
            while upper > lower, isPythonSpace(src[upper - 1]) { upper -= 1 }
        } else if isBlockOrComment && tagModifier != "+" {
            // lstrip_blocks: drop spaces/tabs between the start of the line and the tag.
            var i = upper
            while i > lower, src[i - 1] != "\n", isPythonSpace(src[i - 1]) { i -= 1 }
            let atLineStart = (i > lower && src[i - 1] == "\n") || (i == lower && (start == 0 || src[start - 1] == "\n"))
            if atLineStart && i < upper { upper = i }
        }
        if upper > lower {
            var text = String.UnicodeScalarView()
            text.append(contentsOf: src[lower..<upper])
            try emit(.text(String(text)), at: lower)
        }
    }

    /// After a block/comment end: `-` strips following whitespace, otherwise trim_blocks drops one newline.
    private mutating func afterTagEnd(minus: Bool, plus: Bool, trim: Bool) {
        if minus {
            stripNextText = true
        } else if trim && !plus && peek() == "\n" {
            pos += 1
        }
    }

    mutating func tokenize() throws -> [Token] {
        var textStart = 0
        while pos < src.count {
            guard src[pos] == "{", let next = peek(1), next == "{" || next == "%" || next == "#" else {
                pos += 1
                continue
            }
            let tagStart = pos
            let modifier = peek(2).flatMap { $0 == "-" || $0 == "+" ? $0 : nil }
            try emitText(start: textStart, end: tagStart, tagModifier: modifier, isBlockOrComment: next != "{")
            pos += modifier == nil ? 2 : 3
            switch next {
            case "#":
                var found = false
                while pos + 1 < src.count {
                    if src[pos] == "#" && src[pos + 1] == "}" {
                        let minus = pos - 1 >= tagStart + 2 && src[pos - 1] == "-"
                        pos += 2
                        afterTagEnd(minus: minus, plus: false, trim: true)
                        found = true
                        break
                    }
                    pos += 1
                }
                if !found { throw error("unclosed comment", at: tagStart) }
            case "{":
                try emit(.variableBegin, at: tagStart)
                try lexInside(isBlock: false, tagStart: tagStart)
            default:
                if try lexRawIfPresent(tagStart: tagStart) { break }
                try emit(.blockBegin, at: tagStart)
                try lexInside(isBlock: true, tagStart: tagStart)
            }
            textStart = pos
        }
        try emitText(start: textStart, end: src.count, tagModifier: nil, isBlockOrComment: false)
        try emit(.eof, at: src.count)
        return tokens
    }

    /// `{% raw %}...{% endraw %}`: the body is literal text.
    private mutating func lexRawIfPresent(tagStart: Int) throws -> Bool {
        var i = pos
        while i < src.count, isPythonSpace(src[i]) { i += 1 }
        guard matches("raw", at: i) else { return false }
        i += 3
        while i < src.count, isPythonSpace(src[i]) { i += 1 }
        let minusOpen = matches("-%}", at: i)
        guard minusOpen || matches("%}", at: i) else { return false }
        let bodyStart = i + (minusOpen ? 3 : 2)
        var j = bodyStart
        while j < src.count {
            if src[j] == "{", matches("{%", at: j) {
                var k = j + 2
                let minusClose = k < src.count && src[k] == "-"
                if k < src.count, src[k] == "-" || src[k] == "+" { k += 1 }
                while k < src.count, isPythonSpace(src[k]) { k += 1 }
                if matches("endraw", at: k) {
                    k += 6
                    while k < src.count, isPythonSpace(src[k]) { k += 1 }
                    let minusEnd = matches("-%}", at: k)
                    if minusEnd || matches("%}", at: k) {
                        var lower = bodyStart
                        var upper = j
                        if minusOpen { while lower < upper, isPythonSpace(src[lower]) { lower += 1 } }
                        if minusClose { while upper > lower, isPythonSpace(src[upper - 1]) { upper -= 1 } }
                        if upper > lower {
                            var text = String.UnicodeScalarView()
                            text.append(contentsOf: src[lower..<upper])
                            try emit(.text(String(text)), at: lower)
                        }
                        pos = k + (minusEnd ? 3 : 2)
                        afterTagEnd(minus: minusEnd, plus: false, trim: true)
                        return true
                    }
                }
            }
            j += 1
        }
        throw error("unclosed raw block", at: tagStart)
    }

    private static let twoCharOps: Set<String> = ["//", "**", "==", "!=", "<=", ">="]
    private static let oneCharOps: Set<Unicode.Scalar> = [
        "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"
    ]

    private mutating func lexInside(isBlock: Bool, tagStart: Int) throws {
        var depth = 0
        while true {
            while let c = peek(), isPythonSpace(c) { pos += 1 }
            guard let c = peek() else {
                throw error(isBlock ? "unclosed block tag '{%'" : "unclosed variable tag '{{'", at: tagStart)
            }
            if depth == 0 {
                if isBlock {
                    if (c == "-" || c == "+") && peek(1) == "%" && peek(2) == "}" {
                        try emit(.blockEnd, at: pos)
                        pos += 3
                        afterTagEnd(minus: c == "-", plus: c == "+", trim: true)
                        return
                    }
                    if c == "%" && peek(1) == "}" {
                        try emit(.blockEnd, at: pos)
                        pos += 2
                        afterTagEnd(minus: false, plus: false, trim: true)
                        return
                    }
                } else {
                    if c == "-" && peek(1) == "}" && peek(2) == "}" {
                        try emit(.variableEnd, at: pos)
                        pos += 3
                        stripNextText = true
                        return
                    }
                    if c == "}" && peek(1) == "}" {
                        try emit(.variableEnd, at: pos)
                        pos += 2
                        return
                    }
                }
            }
            let start = pos
            if c == "_" || c.properties.isAlphabetic {
                var name = String.UnicodeScalarView()
                while let d = peek(), d == "_" || d.properties.isAlphabetic || ("0"..."9").contains(d) {
                    name.append(d)
                    pos += 1
                }
                try emit(.name(String(name)), at: start)
            } else if ("0"..."9").contains(c) {
                try lexNumber()
            } else if c == "'" || c == "\"" {
                try emit(.string(try lexString(quote: c)), at: start)
            } else {
                var op = String(Character(c))
                if let d = peek(1), Lexer.twoCharOps.contains(op + String(Character(d))) {
                    op += String(Character(d))
                    pos += 2
                } else if Lexer.oneCharOps.contains(c) {
                    pos += 1
                } else {
                    throw error("unexpected character '\(op)'", at: start)
                }
                if op == "(" || op == "[" || op == "{" { depth += 1 }
                if op == ")" || op == "]" || op == "}" { depth = max(0, depth - 1) }
                try emit(.op(op), at: start)
            }
        }
    }

    private mutating func lexNumber() throws {
        let start = pos
        var text = ""
        var isFloat = false
        func digits(_ lexer: inout Lexer, into text: inout String) {
            while let d = lexer.peek(), ("0"..."9").contains(d) || d == "_" {
                if d != "_" { text.unicodeScalars.append(d) }
                lexer.pos += 1
            }
        }
        digits(&self, into: &text)
        if peek() == ".", let d = peek(1), ("0"..."9").contains(d) {
            isFloat = true
            text += "."
            pos += 1
            digits(&self, into: &text)
        }
        if let e = peek(), e == "e" || e == "E" {
            var k = 1
            if let sign = peek(1), sign == "+" || sign == "-" { k = 2 }
            if let d = peek(k), ("0"..."9").contains(d) {
                isFloat = true
                text += "e"
                if k == 2, let sign = peek(1) { text.unicodeScalars.append(sign) }
                pos += k
                digits(&self, into: &text)
            }
        }
        if isFloat {
            guard let value = Double(text) else { throw error("bad number", at: start) }
            try emit(.float(value), at: start)
        } else {
            guard let value = Int(text) else { throw error("integer literal too large", at: start) }
            try emit(.integer(value), at: start)
        }
    }

    /// A quoted string with Python `unicode-escape` semantics (what Jinja2 applies to literals).
    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let start = pos
        pos += 1
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek() else { throw error("unterminated string literal", at: start) }
            pos += 1
            if c == quote { return String(out) }
            if c != "\\" { out.append(c); continue }
            guard let e = peek() else { throw error("unterminated string literal", at: start) }
            pos += 1
            switch e {
            case "\n": break
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "t": out.append("\t")
            case "v": out.append("\u{0B}")
            case "0"..."7":
                var value = e.value - 48
                var count = 1
                while count < 3, let d = peek(), ("0"..."7").contains(d) {
                    value = value * 8 + (d.value - 48)
                    pos += 1
                    count += 1
                }
                out.append(Unicode.Scalar(value) ?? "\u{FFFD}")
            case "x", "u", "U":
                let width = e == "x" ? 2 : (e == "u" ? 4 : 8)
                var hex = ""
                for _ in 0..<width {
                    guard let d = peek(), d.properties.isASCIIHexDigit else {
                        throw error("truncated \\\(e) escape in string literal", at: start)
                    }
                    hex.unicodeScalars.append(d)
                    pos += 1
                }
                guard let code = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(code) else {
                    throw error("invalid \\\(e) escape in string literal", at: start)
                }
                out.append(scalar)
            default:
                out.append("\\")
                out.append(e)
            }
        }
    }
}

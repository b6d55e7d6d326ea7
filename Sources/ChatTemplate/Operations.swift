import Foundation

/// Python-semantics operations on runtime values: str/repr/json, equality, ordering, arithmetic, lookup.
extension Renderer {
    // MARK: conversions

    /// Python `str(value)` (what `{{ value }}` prints).
    func pyStr(_ value: Value, depth: Int = 0) throws -> String {
        switch value {
        case .string(let s): return s
        case .undefined: return ""
        default: return try pyRepr(value, depth: depth)
        }
    }

    /// Python `repr(value)` (how values appear inside printed lists and dicts).
    func pyRepr(_ value: Value, depth: Int = 0) throws -> String {
        guard depth < 256 else { throw TemplateError(.limit, "value nested too deeply to print") }
        switch value {
        case .string(let s): return pyStringRepr(s)
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pyFloatRepr(d)
        case .array(let items):
            try tick(items.count)
            return try reprJoined(items.map { (nil, $0) }, open: "[", close: "]", depth: depth)
        case .dict(let d):
            try tick(d.count)
            return try reprJoined(d.entries.map { ($0.0, $0.1) }, open: "{", close: "}", depth: depth)
        case .namespace(let ns):
            try tick(ns.attributes.count)
            return try reprJoined(ns.attributes.map { ($0.0, $0.1) }, open: "<Namespace {", close: "}>", depth: depth)
        case .callable(let c): return "<function \(c.name)>"
        }
    }

    /// The repr of list items or `key: value` entries between `open` and `close`, built with a size
    /// check before each append (many large items must not be joined first and checked after).
    private func reprJoined(_ entries: [(String?, Value)], open: String, close: String, depth: Int) throws -> String {
        var out = open
        for (i, (key, value)) in entries.enumerated() {
            var part = i > 0 ? ", " : ""
            if let key { part += pyStringRepr(key) + ": " }
            part += try pyRepr(value, depth: depth + 1)
            try ensureFits(out.utf8.count + part.utf8.count + close.utf8.count)
            try charge(part.utf8.count)
            out += part
        }
        return out + close
    }

    /// `json.dumps(value, ensure_ascii=False, indent=..., separators=..., sort_keys=...)`.
    func toJSON(
        _ value: Value, indent: String?, itemSeparator: String? = nil, keySeparator: String = ": ",
        sortKeys: Bool = false
    ) throws -> String {
        let separator = itemSeparator ?? (indent == nil ? ", " : ",")
        var out = ""
        /// A newline and `level` indents, after checking that appending them stays within the limit.
        func newline(_ indent: String, _ level: Int) throws -> String {
            let (bytes, overflow) = indent.utf8.count.multipliedReportingOverflow(by: level)
            if overflow { throw TemplateError(.limit, "tojson output too large") }
            try ensureFits(out.utf8.count + 1 + bytes)
            try charge(1 + bytes)
            return "\n" + String(repeating: indent, count: level)
        }
        func emit(_ v: Value, _ level: Int) throws {
            guard level < 256 else { throw TemplateError(.limit, "value nested too deeply for tojson") }
            switch v {
            case .none: out += "null"
            case .bool(let b): out += b ? "true" : "false"
            case .int(let i): out += String(i)
            case .double(let d):
                if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += pyFloatRepr(d) }
            case .string(let s):
                let text = jsonString(s)
                try ensureFits(out.utf8.count + text.utf8.count)
                out += text
            case .array(let items):
                try tick(items.count)
                if items.isEmpty { out += "[]"; return }
                out += "["
                for (i, item) in items.enumerated() {
                    if i > 0 {
                        try ensureFits(out.utf8.count + separator.utf8.count)
                        out += separator
                    }
                    if let indent { out += try newline(indent, level + 1) }
                    try emit(item, level + 1)
                }
                if let indent { out += try newline(indent, level) }
                out += "]"
            case .dict(let d):
                try tick(d.count)
                if d.count == 0 { out += "{}"; return }
                var entries = d.entries
                if sortKeys { entries.sort { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } }
                out += "{"
                for (i, (key, item)) in entries.enumerated() {
                    if i > 0 {
                        try ensureFits(out.utf8.count + separator.utf8.count)
                        out += separator
                    }
                    if let indent { out += try newline(indent, level + 1) }
                    let keyText = jsonString(key)
                    try ensureFits(out.utf8.count + keyText.utf8.count + keySeparator.utf8.count)
                    out += keyText + keySeparator
                    try emit(item, level + 1)
                }
                if let indent { out += try newline(indent, level) }
                out += "}"
            case .undefined: throw TemplateError(.type, "Object of type Undefined is not JSON serializable")
            case .namespace: throw TemplateError(.type, "Object of type Namespace is not JSON serializable")
            case .callable: throw TemplateError(.type, "Object of type function is not JSON serializable")
            }
            if out.utf8.count > limits.maxOutputBytes { throw TemplateError(.limit, "tojson output too large") }
        }
        try emit(value, 0)
        return out
    }

    private func jsonString(_ s: String) -> String {
        // Appended to a String: `UnicodeScalarView.append(contentsOf:)` copies the whole view each time.
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 {
                    out += String(format: "\\u%04x", c.value)
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        out += "\""
        return out
    }

    // MARK: equality and ordering

    func pyEqual(_ a: Value, _ b: Value) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            noteWork(min(x.utf8.count, y.utf8.count))
            return x.pyEquals(y)
        case (.none, .none): return true
        case (.undefined, .undefined): return true
        case (.array(let x), .array(let y)):
            noteWork(min(x.count, y.count) &* 16)
            return x.count == y.count && zip(x, y).allSatisfy { pyEqual($0, $1) }
        case (.dict(let x), .dict(let y)):
            guard x.count == y.count else { return false }
            noteWork(x.count &* 16)
            for (key, value) in x.entries {
                guard let other = y[key], pyEqual(value, other) else { return false }
            }
            return true
        case (.namespace(let x), .namespace(let y)): return x === y
        case (.callable(let x), .callable(let y)): return x === y
        default:
            if let x = numeric(a), let y = numeric(b) { return x == y }
            return false
        }
    }

    /// Numeric view for int/float/bool; ints compare exactly when both sides are ints.
    private enum Number: Equatable {
        case int(Int), double(Double)
        static func == (l: Number, r: Number) -> Bool {
            switch (l, r) {
            case (.int(let a), .int(let b)): return a == b
            case (.int(let a), .double(let b)): return Double(a) == b
            case (.double(let a), .int(let b)): return a == Double(b)
            case (.double(let a), .double(let b)): return a == b
            }
        }
        var double: Double {
            switch self {
            case .int(let i): return Double(i)
            case .double(let d): return d
            }
        }
    }

    private func numeric(_ v: Value) -> Number? {
        switch v {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        case .bool(let b): return .int(b ? 1 : 0)
        default: return nil
        }
    }

    /// Python `<` (throws TypeError on unorderable types).
    func lessThan(_ a: Value, _ b: Value, op: String = "<") throws -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)):
            noteWork(min(x.utf8.count, y.utf8.count))
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
        case (.array(let x), .array(let y)):
            noteWork(min(x.count, y.count) &* 16)
            for (l, r) in zip(x, y) where !pyEqual(l, r) { return try lessThan(l, r, op: op) }
            return x.count < y.count
        default:
            if let x = numeric(a), let y = numeric(b) {
                if case .int(let i) = x, case .int(let j) = y { return i < j }
                return x.double < y.double
            }
            if case .undefined(let hint) = a { throw TemplateError(.undefined, hint) }
            if case .undefined(let hint) = b { throw TemplateError(.undefined, hint) }
            throw TemplateError(.type, "'\(op)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    func contains(_ container: Value, _ item: Value) throws -> Bool {
        try charge(cost(container) &* 4)
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw TemplateError(.type, "'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return pyFind(s.scalars, needle.scalars) != nil
        case .array(let items): return items.contains { pyEqual($0, item) }
        case .dict(let d):
            if case .string(let key) = item { return d[key] != nil }
            return false
        case .undefined: return false
        case .namespace(let ns):
            if case .string(let key) = item { return ns[key] != nil }
            return false
        default:
            throw TemplateError(.type, "argument of type '\(container.typeName)' is not iterable")
        }
    }

    func compare(_ op: String, _ a: Value, _ b: Value) throws -> Bool {
        try charge(min(cost(a), cost(b)))
        switch op {
        case "==": return pyEqual(a, b)
        case "!=": return !pyEqual(a, b)
        case "<": return try lessThan(a, b, op: "<")
        case ">": return try lessThan(b, a, op: ">")
        case "<=": return try !lessThan(b, a, op: "<=")
        case ">=": return try !lessThan(a, b, op: ">=")
        case "in": return try contains(b, a)
        case "notin": return try !contains(b, a)
        default: throw TemplateError(.syntax, "unknown comparison \(op)")
        }
    }

    // MARK: arithmetic

    func binary(_ op: String, _ a: Value, _ b: Value) throws -> Value {
        if case .undefined(let hint) = a { throw TemplateError(.undefined, hint) }
        if case .undefined(let hint) = b { throw TemplateError(.undefined, hint) }
        switch (op, a, b) {
        case ("+", .string(let x), .string(let y)):
            try reserve(x.utf8.count + y.utf8.count)
            return .string(x + y)
        case ("+", .array(let x), .array(let y)):
            if x.count + y.count > limits.maxSteps { throw TemplateError(.limit, "list exceeds \(limits.maxSteps) items") }
            try charge((x.count + y.count) &* 16)
            return .array(x + y)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard let n = intValue(a.isStringValue ? b : a) else { break }
            // Empty results first: repeating "" a huge number of times would loop that many times.
            guard n > 0, !s.isEmpty else { return .string("") }
            let (bytes, overflow) = s.utf8.count.multipliedReportingOverflow(by: n)
            guard !overflow, bytes <= limits.maxOutputBytes else {
                throw TemplateError(.limit, "string repetition too large")
            }
            try reserve(bytes)
            // By doubling: O(log n) appends (String(repeating:) appends n times).
            var out = ""
            out.reserveCapacity(bytes)
            var chunk = s
            var remaining = n
            while remaining > 0 {
                if remaining & 1 == 1 { out += chunk }
                remaining >>= 1
                if remaining > 0 { chunk += chunk }
            }
            return .string(out)
        case ("*", .array(let items), _), ("*", _, .array(let items)):
            guard let n = intValue(a.isArrayValue ? b : a) else { break }
            // Empty results first: `[] * n` must not allocate n empty arrays.
            guard n > 0, !items.isEmpty else { return .array([]) }
            let (total, overflow) = items.count.multipliedReportingOverflow(by: n)
            guard !overflow, total <= limits.maxSteps else {
                throw TemplateError(.limit, "list repetition too large")
            }
            try charge(total &* 16)
            var out: [Value] = []
            out.reserveCapacity(total)
            for _ in 0..<n { out += items }
            return .array(out)
        default:
            break
        }
        guard let x = numeric(a), let y = numeric(b) else {
            if op == "+", a.isStringValue { throw TemplateError(.type, "can only concatenate str (not \"\(b.typeName)\") to str") }
            if op == "+", a.isArrayValue { throw TemplateError(.type, "can only concatenate list (not \"\(b.typeName)\") to list") }
            throw TemplateError(.type, "unsupported operand type(s) for \(op): '\(a.typeName)' and '\(b.typeName)'")
        }
        if case .int(let i) = x, case .int(let j) = y {
            switch op {
            case "+": return try checked(i.addingReportingOverflow(j))
            case "-": return try checked(i.subtractingReportingOverflow(j))
            case "*": return try checked(i.multipliedReportingOverflow(by: j))
            case "/":
                guard j != 0 else { throw TemplateError(.type, "division by zero") }
                return .double(Double(i) / Double(j))
            case "//":
                guard j != 0 else { throw TemplateError(.type, "integer division or modulo by zero") }
                guard !(i == Int.min && j == -1) else { throw TemplateError(.limit, "integer overflow") }
                let q = i / j
                return .int((i % j != 0 && ((i < 0) != (j < 0))) ? q - 1 : q)
            case "%":
                guard j != 0 else { throw TemplateError(.type, "integer division or modulo by zero") }
                guard !(i == Int.min && j == -1) else { return .int(0) }
                let r = i % j
                return .int((r != 0 && ((r < 0) != (j < 0))) ? r + j : r)
            case "**":
                if j < 0 { return .double(pow(Double(i), Double(j))) }
                var result = 1
                var base = i
                var exponent = j
                while exponent > 0 {
                    if exponent & 1 == 1 {
                        let (r, o) = result.multipliedReportingOverflow(by: base)
                        if o { throw TemplateError(.limit, "integer overflow") }
                        result = r
                    }
                    exponent >>= 1
                    if exponent > 0 {
                        let (sq, o) = base.multipliedReportingOverflow(by: base)
                        if o { throw TemplateError(.limit, "integer overflow") }
                        base = sq
                    }
                }
                return .int(result)
            default: break
            }
        }
        let p = x.double
        let q = y.double
        switch op {
        case "+": return .double(p + q)
        case "-": return .double(p - q)
        case "*": return .double(p * q)
        case "/":
            guard q != 0 else { throw TemplateError(.type, "float division by zero") }
            return .double(p / q)
        case "//":
            guard q != 0 else { throw TemplateError(.type, "float floor division by zero") }
            return .double((p / q).rounded(.down))
        case "%":
            guard q != 0 else { throw TemplateError(.type, "float modulo") }
            var r = fmod(p, q)
            if r != 0 && ((r < 0) != (q < 0)) { r += q }
            return .double(r)
        case "**": return .double(pow(p, q))
        default: throw TemplateError(.syntax, "unknown operator \(op)")
        }
    }

    private func checked(_ result: (partialValue: Int, overflow: Bool)) throws -> Value {
        if result.overflow { throw TemplateError(.limit, "integer overflow") }
        return .int(result.partialValue)
    }

    func intValue(_ v: Value) -> Int? {
        switch v {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    // MARK: lookup

    /// `obj.name`: Python attribute first (methods), then item; undefined when missing.
    func getattr(_ object: Value, _ name: String) throws -> Value {
        switch object {
        case .undefined(let hint):
            throw TemplateError(.undefined, hint)
        case .dict(let d):
            if let method = dictMethod(d, name) { return method }
            return d[name] ?? .undefined("'dict object' has no attribute '\(name)'")
        case .string(let s):
            return stringMethod(s, name) ?? .undefined("'str object' has no attribute '\(name)'")
        case .array(let items):
            return listMethod(items, name) ?? .undefined("'list object' has no attribute '\(name)'")
        case .namespace(let ns):
            return ns[name] ?? .undefined("'Namespace object' has no attribute '\(name)'")
        default:
            return .undefined("'\(object.typeName) object' has no attribute '\(name)'")
        }
    }

    /// `obj[key]`: item first, then attribute for string keys; undefined when missing.
    func getitem(_ object: Value, _ key: Value) throws -> Value {
        switch object {
        case .undefined(let hint):
            throw TemplateError(.undefined, hint)
        case .dict(let d):
            if case .string(let k) = key {
                if let v = d[k] { return v }
                return dictMethod(d, k) ?? .undefined("'dict object' has no attribute '\(k)'")
            }
            return .undefined("'dict object' has no attribute '\(try pyStr(key))'")
        case .array(let items):
            if let i = intValue(key) {
                let index = i < 0 ? i + items.count : i
                return (0..<items.count).contains(index) ? items[index] : .undefined("list object has no element \(i)")
            }
            if case .string(let k) = key, let method = listMethod(items, k) { return method }
            return .undefined("'list object' has no attribute '\(try pyStr(key))'")
        case .string(let s):
            if let i = intValue(key) {
                try charge(s.utf8.count &* 4)
                let scalars = s.scalars
                let index = i < 0 ? i + scalars.count : i
                return (0..<scalars.count).contains(index)
                    ? .string(String(Character(scalars[index])))
                    : .undefined("str object has no element \(i)")
            }
            if case .string(let k) = key, let method = stringMethod(s, k) { return method }
            return .undefined("'str object' has no attribute '\(try pyStr(key))'")
        case .namespace:
            if case .string(let k) = key { return try getattr(object, k) }
            return .undefined("'Namespace object' has no attribute '\(try pyStr(key))'")
        default:
            return .undefined("'\(object.typeName) object' has no attribute '\(try pyStr(key))'")
        }
    }

    /// Python slicing `obj[start:stop:step]` for lists and strings.
    func slice(_ object: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        func bound(_ v: Value?) throws -> Int? {
            guard let v else { return nil }
            if case .none = v { return nil }
            guard let i = intValue(v) else {
                throw TemplateError(.type, "slice indices must be integers or None")
            }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw TemplateError(.type, "slice step cannot be zero") }
        func indices(count: Int) throws -> [Int] {
            var lower = try bound(start)
            var upper = try bound(stop)
            if stepValue > 0 {
                lower = lower.map { $0 < 0 ? max(0, $0 + count) : min($0, count) } ?? 0
                upper = upper.map { $0 < 0 ? max(0, $0 + count) : min($0, count) } ?? count
                guard let l = lower, let u = upper, l < u else { return [] }
                return Array(stride(from: l, to: u, by: stepValue))
            } else {
                lower = lower.map { $0 < 0 ? max(-1, $0 + count) : min($0, count - 1) } ?? (count - 1)
                upper = upper.map { $0 < 0 ? max(-1, $0 + count) : min($0, count - 1) } ?? -1
                guard let l = lower, let u = upper, l > u else { return [] }
                return Array(stride(from: l, to: u, by: stepValue))
            }
        }
        try charge(cost(object) &* 4)
        switch object {
        case .array(let items):
            return .array(try indices(count: items.count).map { items[$0] })
        case .string(let s):
            let scalars = s.scalars
            return .string(String(scalars: try indices(count: scalars.count).map { scalars[$0] }))
        case .undefined(let hint):
            throw TemplateError(.undefined, hint)
        default:
            throw TemplateError(.type, "'\(object.typeName)' object is not subscriptable")
        }
    }
}

extension Value {
    var isStringValue: Bool {
        if case .string = self { return true }
        return false
    }
    var isArrayValue: Bool {
        if case .array = self { return true }
        return false
    }
}

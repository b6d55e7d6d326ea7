import Foundation

/// Argument lookup by position or keyword, like a Python signature.
struct Arguments {
    let positional: [Value]
    let keywords: [(String, Value)]
    init(_ positional: [Value], _ keywords: [(String, Value)]) {
        self.positional = positional
        self.keywords = keywords
    }
    subscript(index: Int, name: String) -> Value? {
        if index < positional.count { return positional[index] }
        return keywords.first { $0.0 == name }?.1
    }
}

/// Filters, tests, methods and globals.
extension Renderer {
    // MARK: globals

    func makeGlobals() -> [String: Value] {
        var g: [String: Value] = [:]
        g["raise_exception"] = .callable(
            Callable("raise_exception") { [unowned self] args, kwargs in
                let message = try Arguments(args, kwargs)[0, "message"].map { try self.pyStr($0) } ?? ""
                throw TemplateError(.raised, message)
            })
        g["range"] = .callable(
            Callable("range") { [unowned self] args, _ in
                let ints = try args.map { v -> Int in
                    guard let i = self.intValue(v) else {
                        throw TemplateError(.type, "'\(v.typeName)' object cannot be interpreted as an integer")
                    }
                    return i
                }
                let (start, stop, step): (Int, Int, Int)
                switch ints.count {
                case 1: (start, stop, step) = (0, ints[0], 1)
                case 2: (start, stop, step) = (ints[0], ints[1], 1)
                case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
                default: throw TemplateError(.type, "range expected 1 to 3 arguments, got \(ints.count)")
                }
                guard step != 0 else { throw TemplateError(.type, "range() arg 3 must not be zero") }
                // Exact item count in unsigned arithmetic: the span of two Ints always fits a UInt.
                let count: UInt
                if step > 0 {
                    count = start < stop ? (UInt(bitPattern: stop &- start) - 1) / step.magnitude + 1 : 0
                } else {
                    count = start > stop ? (UInt(bitPattern: start &- stop) - 1) / step.magnitude + 1 : 0
                }
                guard count <= UInt(max(0, self.limits.maxSteps)) else {
                    throw TemplateError(.limit, "range() of \(count) items exceeds the limit of \(self.limits.maxSteps)")
                }
                try self.tick(Int(count))
                try self.charge(Int(count) &* 16)
                // Every item lies between start and stop, so the wrapping arithmetic is exact.
                return .array((0..<Int(count)).map { .int(start &+ $0 &* step) })
            })
        g["namespace"] = .callable(
            Callable("namespace") { [unowned self] args, kwargs in
                var attributes: [(String, Value)] = []
                if let first = args.first, case .dict(let d) = first { attributes = d.entries }
                for (key, value) in kwargs {
                    if key.hasPrefix("_") {
                        throw TemplateError(
                            .security,
                            "Chat templates cannot store underscore-prefixed attributes on a namespace, but got '\(key)'. Please rename the attribute."
                        )
                    }
                    if let index = attributes.firstIndex(where: { $0.0 == key }) {
                        attributes[index].1 = value
                    } else {
                        attributes.append((key, value))
                    }
                }
                return .namespace(try self.makeNamespace(attributes))
            })
        g["dict"] = .callable(
            Callable("dict") { [unowned self] args, kwargs in
                var d = ValueDict()
                if let first = args.first {
                    switch first {
                    case .dict(let source): d = source
                    default:
                        for pair in try self.iterate(first) {
                            let items = try self.iterate(pair)
                            guard items.count == 2, case .string(let key) = items[0] else {
                                throw TemplateError(.type, "dict() needs (string key, value) pairs")
                            }
                            d[key] = items[1]
                        }
                    }
                }
                for (key, value) in kwargs { d[key] = value }
                return .dict(d)
            })
        g["strftime_now"] = .callable(
            Callable("strftime_now") { [unowned self] args, kwargs in
                guard let format = Arguments(args, kwargs)[0, "format"], case .string(let f) = format else {
                    throw TemplateError(.type, "strftime_now() needs a format string")
                }
                try self.charge(f.utf8.count)
                return .string(try self.checkString(strftime(f, self.now, self.timeZone)))
            })
        return g
    }

    // MARK: tests

    func applyTest(_ name: String, _ value: Value, _ args: [Value]) throws -> Bool {
        func arg(_ i: Int) throws -> Value {
            guard i < args.count else { throw TemplateError(.type, "test '\(name)' needs an argument") }
            return args[i]
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": if case .none = value { return true }; return false
        case "string": return value.isStringValue
        case "mapping": if case .dict = value { return true }; return false
        case "iterable":
            switch value {
            case .array, .dict, .string, .undefined: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .array, .dict, .string, .undefined: return true
            default: return false
            }
        case "number":
            switch value {
            case .int, .double, .bool: return true
            default: return false
            }
        case "integer": if case .int = value { return true }; return false
        case "float": if case .double = value { return true }; return false
        case "boolean": if case .bool = value { return true }; return false
        case "true": if case .bool(true) = value { return true }; return false
        case "false": if case .bool(false) = value { return true }; return false
        case "callable": if case .callable = value { return true }; return false
        case "odd", "even", "divisibleby":
            guard let i = intValue(value) else {
                if case .undefined(let hint) = value { throw TemplateError(.undefined, hint) }
                throw TemplateError(.type, "test '\(name)' needs an integer")
            }
            if name == "odd" { return i % 2 != 0 }
            if name == "even" { return i % 2 == 0 }
            guard let d = intValue(try arg(0)), d != 0 else { throw TemplateError(.type, "divisibleby needs a non-zero integer") }
            // Int.min % -1 overflows in machine arithmetic; mathematically (and in Python) it is 0.
            let (remainder, overflow) = i.remainderReportingOverflow(dividingBy: d)
            return overflow || remainder == 0
        case "equalto", "eq", "==": return pyEqual(value, try arg(0))
        case "ne", "!=": return !pyEqual(value, try arg(0))
        case "lt", "lessthan", "<": return try lessThan(value, try arg(0))
        case "gt", "greaterthan", ">": return try lessThan(try arg(0), value)
        case "le", "<=": return try !lessThan(try arg(0), value)
        case "ge", ">=": return try !lessThan(value, try arg(0))
        case "in": return try contains(try arg(0), value)
        case "sameas":
            let other = try arg(0)
            switch (value, other) {
            case (.none, .none): return true
            case (.bool(let a), .bool(let b)): return a == b
            case (.namespace(let a), .namespace(let b)): return a === b
            default: return false
            }
        case "lower": if case .string(let s) = value { return s == s.lowercased() }; return false
        case "upper": if case .string(let s) = value { return s == s.uppercased() }; return false
        case "filter": return filterNames.contains(try pyStr(try arg(0)))
        case "test": return testNames.contains(try pyStr(try arg(0)))
        default: throw TemplateError(.syntax, "no test named '\(name)'")
        }
    }

    private var testNames: Set<String> {
        [
            "defined", "undefined", "none", "string", "mapping", "iterable", "sequence", "number", "integer", "float",
            "boolean", "true", "false", "callable", "odd", "even", "divisibleby", "equalto", "eq", "ne", "lt", "gt",
            "le", "ge", "in", "sameas", "lower", "upper", "lessthan", "greaterthan", "filter", "test"
        ]
    }

    private var filterNames: Set<String> {
        [
            "trim", "tojson", "length", "count", "upper", "lower", "title", "capitalize", "first", "last", "join",
            "default", "d", "replace", "string", "int", "float", "list", "items", "map", "selectattr", "rejectattr",
            "select", "reject", "unique", "safe", "indent", "round", "abs", "reverse", "sort", "sum", "min", "max",
            "e", "escape", "attr", "dictsort", "wordcount", "center", "truncate"
        ]
    }

    // MARK: filters

    func applyFilter(_ name: String, _ value: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        try tick()
        try charge(cost(value))
        let result = try filterResult(name, value, args, kwargs)
        try charge(cost(result))
        return result
    }

    private func filterResult(_ name: String, _ value: Value, _ args: [Value], _ kwargs: [(String, Value)]) throws -> Value {
        let a = Arguments(args, kwargs)
        func str(_ v: Value) throws -> String { try pyStr(v) }
        func bool(_ v: Value?) -> Bool { v?.truthy ?? false }
        switch name {
        case "safe", "string":
            if name == "safe", case .string = value { return value }
            return .string(try str(value))
        case "trim":
            let s = try str(value)
            if let chars = a[0, "chars"], case .string(let set) = chars {
                return .string(pyStrip(s, Set(set.unicodeScalars), left: true, right: true))
            }
            return .string(pyStrip(s, nil, left: true, right: true))
        case "upper": return .string(try checkString(try str(value).uppercased()))
        case "lower": return .string(try checkString(try str(value).lowercased()))
        case "capitalize": return .string(try checkString(pyCapitalize(try str(value))))
        case "title": return .string(try checkString(jinjaTitle(try str(value))))
        case "replace":
            guard let old = a[0, "old"], let new = a[1, "new"] else { throw TemplateError(.type, "replace needs 2 arguments") }
            let count = a[2, "count"].flatMap { intValue($0) } ?? -1
            return .string(
                try checkString(
                    try pyReplace(
                        try str(value), try str(old), try str(new), count: count,
                        maxScalars: limits.maxOutputBytes)))
        case "length", "count":
            switch value {
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let items): return .int(items.count)
            case .dict(let d): return .int(d.count)
            case .undefined: return .int(0)
            case .namespace(let ns): return .int(ns.attributes.count)
            default: throw TemplateError(.type, "object of type '\(value.typeName)' has no len()")
            }
        case "first":
            return try iterate(value).first ?? .undefined("No first item, sequence was empty.")
        case "last":
            if case .dict = value { throw TemplateError(.type, "'dict' object is not reversible") }
            return try iterate(value).last ?? .undefined("No last item, sequence was empty.")
        case "reverse":
            if case .string(let s) = value { return .string(String(scalars: s.unicodeScalars.reversed())) }
            return .array(try iterate(value).reversed())
        case "list":
            return .array(try iterate(value))
        case "join":
            var items = try iterate(value)
            try tick(items.count)
            if let attribute = a[1, "attribute"] { items = try items.map { try attributePath($0, attribute) } }
            let separator = try a[0, "d"].map(str) ?? ""
            return .string(try joined(try items.map(str), separator: separator))
        case "default", "d":
            let fallback = a[0, "default_value"] ?? .string("")
            if value.isUndefined || (bool(a[1, "boolean"]) && !value.truthy) { return fallback }
            return value
        case "int":
            let fallback = a[0, "default"] ?? .int(0)
            switch value {
            case .int: return value
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d)) : fallback
            case .string(let s):
                let t = pyStrip(s, nil, left: true, right: true).replacingOccurrences(of: "_", with: "")
                if let i = Int(t) { return .int(i) }
                if let d = Double(t), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
                return fallback
            default: return fallback
            }
        case "float":
            let fallback = a[0, "default"] ?? .double(0)
            switch value {
            case .int(let i): return .double(Double(i))
            case .bool(let b): return .double(b ? 1 : 0)
            case .double: return value
            case .string(let s): return Double(pyStrip(s, nil, left: true, right: true)).map { .double($0) } ?? fallback
            default: return fallback
            }
        case "abs":
            switch value {
            case .int(let i):
                guard i != Int.min else { throw TemplateError(.limit, "integer overflow") }
                return .int(abs(i))
            case .double(let d): return .double(abs(d))
            case .bool(let b): return .int(b ? 1 : 0)
            default: throw TemplateError(.type, "bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            let precision = a[0, "precision"].flatMap { intValue($0) } ?? 0
            let method = try a[1, "method"].map(str) ?? "common"
            guard
                let number: Double = {
                    switch value {
                    case .int(let i): return Double(i)
                    case .double(let d): return d
                    case .bool(let b): return b ? 1 : 0
                    default: return nil
                    }
                }()
            else { throw TemplateError(.type, "round needs a number") }
            let scale = pow(10.0, Double(precision))
            let rule: FloatingPointRoundingRule
            switch method {
            case "common": rule = .toNearestOrEven
            case "ceil": rule = .up
            case "floor": rule = .down
            default: throw TemplateError(.type, "method must be common, ceil or floor")
            }
            return .double((number * scale).rounded(rule) / scale)
        case "items":
            switch value {
            case .dict(let d): return .array(d.entries.map { .array([.string($0.0), $0.1]) })
            case .undefined: return .array([])
            default: throw TemplateError(.type, "Can only get item pairs from a mapping.")
            }
        case "dictsort":
            guard case .dict(let d) = value else { throw TemplateError(.type, "You can only sort by either \"key\" or \"value\"") }
            let byValue = try a[1, "by"].map(str) == "value"
            let reverse = bool(a[2, "reverse"])
            let caseSensitive = bool(a[0, "case_sensitive"])
            var pairs = d.entries.map { Value.array([.string($0.0), $0.1]) }
            pairs = try sortValues(pairs, reverse: reverse, caseSensitive: caseSensitive) { item in
                guard case .array(let kv) = item else { return item }
                return kv[byValue ? 1 : 0]
            }
            return .array(pairs)
        case "tojson":
            var indent: String?
            if let i = a[0, "indent"] {
                switch i {
                case .int(let n): indent = String(repeating: " ", count: max(0, min(n, 64)))
                case .string(let s): indent = s
                default: indent = nil
                }
            }
            var itemSeparator: String?
            var keySeparator = ": "
            if let separators = a[2, "separators"], case .array(let parts) = separators, parts.count == 2 {
                itemSeparator = try str(parts[0])
                keySeparator = try str(parts[1])
            } else if indent == nil {
                itemSeparator = ", "
            }
            return .string(
                try toJSON(
                    value, indent: indent, itemSeparator: itemSeparator, keySeparator: keySeparator,
                    sortKeys: bool(a[3, "sort_keys"])))
        case "map":
            let items = try iterate(value)
            try tick(items.count)
            if let attribute = a.keywords.first(where: { $0.0 == "attribute" })?.1 {
                let fallback = a.keywords.first { $0.0 == "default" }?.1
                return .array(
                    try items.map { item in
                        let v = try attributePath(item, attribute)
                        if v.isUndefined, let fallback { return fallback }
                        return v
                    })
            }
            guard let filterName = a.positional.first else { return .array(items) }
            let filter = try str(filterName)
            let rest = Array(a.positional.dropFirst())
            let keywords = a.keywords
            return .array(try items.map { try applyFilter(filter, $0, rest, keywords) })
        case "select", "reject", "selectattr", "rejectattr":
            let items = try iterate(value)
            try tick(items.count)
            let byAttribute = name.hasSuffix("attr")
            let keep = name.hasPrefix("select")
            var positional = a.positional
            var attribute: Value?
            if byAttribute {
                guard !positional.isEmpty else { throw TemplateError(.type, "\(name) needs an attribute name") }
                attribute = positional.removeFirst()
            }
            let testName = try positional.first.map(str)
            let testArgs = Array(positional.dropFirst())
            return .array(
                try items.filter { item in
                    let subject = try attribute.map { try attributePath(item, $0) } ?? item
                    let passed = try testName.map { try applyTest($0, subject, testArgs) } ?? subject.truthy
                    return passed == keep
                })
        case "unique":
            let items = try iterate(value)
            try tick(items.count * max(1, items.count / 64))
            let caseSensitive = bool(a[0, "case_sensitive"])
            let attribute = a[1, "attribute"]
            var seen: [Value] = []
            var out: [Value] = []
            for item in items {
                var key = try attribute.map { try attributePath(item, $0) } ?? item
                if !caseSensitive, case .string(let s) = key { key = .string(s.lowercased()) }
                if !seen.contains(where: { pyEqual($0, key) }) {
                    seen.append(key)
                    out.append(item)
                }
            }
            return .array(out)
        case "sort":
            let items = try iterate(value)
            try tick(items.count)
            let attribute = a[2, "attribute"]
            return .array(
                try sortValues(items, reverse: bool(a[0, "reverse"]), caseSensitive: bool(a[1, "case_sensitive"])) { item in
                    try attribute.map { attr in try self.attributePath(item, attr) } ?? item
                })
        case "sum":
            let items = try iterate(value)
            try tick(items.count)
            let attribute = a[0, "attribute"]
            var total = a[1, "start"] ?? .int(0)
            for item in items { total = try binary("+", total, try attribute.map { try attributePath(item, $0) } ?? item) }
            return total
        case "min", "max":
            let items = try iterate(value)
            try tick(items.count)
            let sorted = try sortValues(items, reverse: false, caseSensitive: bool(a[0, "case_sensitive"])) { item in
                try a[1, "attribute"].map { attr in try self.attributePath(item, attr) } ?? item
            }
            return (name == "min" ? sorted.first : sorted.last) ?? .undefined("No aggregated item, sequence was empty.")
        case "indent":
            let width: String
            switch a[0, "width"] ?? .int(4) {
            case .string(let s): width = s
            case let other: width = String(repeating: " ", count: max(0, min(intValue(other) ?? 4, 1024)))
            }
            let first = bool(a[1, "first"])
            let blank = bool(a[2, "blank"])
            let text = try str(value)
            try reserve(text.utf8.count + 1)
            let lines = pySplitLines(text + "\n")
            // Each line gains at most one indent: check the total before building it.
            let (indents, overflow) = width.utf8.count.multipliedReportingOverflow(by: lines.count + 1)
            if overflow { throw TemplateError(.limit, "indent result too large") }
            try reserve(text.utf8.count + 1 + indents)
            var result: String
            if blank {
                result = lines.joined(separator: "\n" + width)
            } else {
                result = lines.first ?? ""
                let rest = lines.dropFirst()
                if !rest.isEmpty { result += "\n" + rest.map { $0.isEmpty ? $0 : width + $0 }.joined(separator: "\n") }
            }
            if first { result = width + result }
            return .string(try checkString(result))
        case "e", "escape":
            var out = ""
            for c in try str(value) {
                switch c {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&#34;"
                case "'": out += "&#39;"
                default: out.append(c)
                }
            }
            return .string(try checkString(out))
        case "attr":
            guard let attribute = a[0, "name"] else { throw TemplateError(.type, "attr needs a name") }
            return try getattr(value, try str(attribute))
        case "wordcount":
            return .int(try str(value).split { $0.isWhitespace }.count)
        default:
            throw TemplateError(.syntax, "no filter named '\(name)'")
        }
    }

    /// `attribute='a.b'` lookups used by map/selectattr/sort/join; integer path parts index lists.
    func attributePath(_ item: Value, _ attribute: Value) throws -> Value {
        if let i = intValue(attribute) { return try getitem(item, .int(i)) }
        var current = item
        for part in try pyStr(attribute).split(separator: ".", omittingEmptySubsequences: false) {
            if current.isUndefined { return current }
            if let i = Int(part) {
                current = try getitem(current, .int(i))
            } else {
                current = try getitem(current, .string(String(part)))
            }
        }
        return current
    }

    private func sortValues(
        _ items: [Value], reverse: Bool, caseSensitive: Bool,
        key: (Value) throws -> Value
    ) throws -> [Value] {
        let keyed = try items.map { item -> (Value, Value) in
            var k = try key(item)
            if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
            return (k, item)
        }
        var failure: Error?
        // Stable merge-based sort to match Python's stable `sorted`.
        let sorted = keyed.enumerated().sorted { l, r in
            do {
                if try lessThan(l.element.0, r.element.0) { return !reverse }
                if try lessThan(r.element.0, l.element.0) { return reverse }
            } catch {
                failure = error
            }
            return l.offset < r.offset
        }
        if let failure { throw failure }
        return sorted.map { $0.element.1 }
    }

    // MARK: methods

    func dictMethod(_ d: ValueDict, _ name: String) -> Value? {
        switch name {
        case "get":
            return .callable(
                Callable("get", receiver: .dict(d)) { args, kwargs in
                    let a = Arguments(args, kwargs)
                    guard let key = a[0, "key"] else { throw TemplateError(.type, "get expected at least 1 argument") }
                    if case .string(let k) = key, let v = d[k] { return v }
                    return a[1, "default"] ?? .none
                })
        case "items":
            return .callable(Callable("items", receiver: .dict(d)) { _, _ in .array(d.entries.map { .array([.string($0.0), $0.1]) }) })
        case "keys":
            return .callable(Callable("keys", receiver: .dict(d)) { _, _ in .array(d.keys.map { .string($0) }) })
        case "values":
            return .callable(Callable("values", receiver: .dict(d)) { _, _ in .array(d.entries.map { $0.1 }) })
        case "copy":
            return .callable(Callable("copy", receiver: .dict(d)) { _, _ in .dict(d) })
        case "pop", "popitem", "update", "setdefault", "clear", "__setitem__":
            return unsafeMethod(name, "dict")
        default:
            return nil
        }
    }

    func listMethod(_ items: [Value], _ name: String) -> Value? {
        switch name {
        case "index":
            return .callable(
                Callable("index", receiver: .array(items)) { [unowned self] args, _ in
                    guard let target = args.first else { throw TemplateError(.type, "index expected 1 argument") }
                    try self.charge(items.count &* 16)
                    guard let i = items.firstIndex(where: { self.pyEqual($0, target) }) else {
                        throw TemplateError(.type, "value is not in list")
                    }
                    return .int(i)
                })
        case "count":
            return .callable(
                Callable("count", receiver: .array(items)) { [unowned self] args, _ in
                    guard let target = args.first else { throw TemplateError(.type, "count expected 1 argument") }
                    try self.charge(items.count &* 16)
                    return .int(items.filter { self.pyEqual($0, target) }.count)
                })
        case "copy":
            return .callable(Callable("copy", receiver: .array(items)) { _, _ in .array(items) })
        case "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear":
            return unsafeMethod(name, "list")
        default:
            return nil
        }
    }

    private func unsafeMethod(_ name: String, _ type: String) -> Value {
        .callable(
            Callable(name) { _, _ in
                throw TemplateError(.security, "access to attribute '\(name)' of '\(type)' object is unsafe.")
            })
    }

    func stringMethod(_ s: String, _ name: String) -> Value? {
        func method(_ body: @escaping (Arguments) throws -> Value) -> Value {
            .callable(
                Callable(name) { [unowned self] args, kwargs in
                    // Nearly every method reads the whole string (most convert it to code points).
                    if name != "startswith" && name != "endswith" { try self.charge(s.utf8.count &* 4) }
                    let result = try body(Arguments(args, kwargs))
                    try self.charge(self.cost(result))
                    return result
                })
        }
        func charSet(_ v: Value?) -> Set<Unicode.Scalar>? {
            guard let v, case .string(let chars) = v else { return nil }
            return Set(chars.unicodeScalars)
        }
        switch name {
        case "strip": return method { .string(pyStrip(s, charSet($0[0, "chars"]), left: true, right: true)) }
        case "lstrip": return method { .string(pyStrip(s, charSet($0[0, "chars"]), left: true, right: false)) }
        case "rstrip": return method { .string(pyStrip(s, charSet($0[0, "chars"]), left: false, right: true)) }
        case "upper": return method { [unowned self] _ in .string(try self.checkString(s.uppercased())) }
        case "lower": return method { [unowned self] _ in .string(try self.checkString(s.lowercased())) }
        case "title": return method { [unowned self] _ in .string(try self.checkString(pyTitle(s))) }
        case "capitalize": return method { [unowned self] _ in .string(try self.checkString(pyCapitalize(s))) }
        case "startswith", "endswith":
            return method { [unowned self] a in
                guard let arg = a[0, "prefix"] else { throw TemplateError(.type, "\(name) takes at least 1 argument") }
                let candidates: [Value]
                if case .array(let options) = arg { candidates = options } else { candidates = [arg] }
                for candidate in candidates {
                    guard case .string(let c) = candidate else {
                        throw TemplateError(.type, "\(name) first arg must be str or a tuple of str, not \(candidate.typeName)")
                    }
                    // Only as much of the string as the candidate is long is read.
                    try self.charge(c.utf8.count)
                    let match =
                        name == "startswith"
                        ? s.unicodeScalars.starts(with: c.unicodeScalars)
                        : s.unicodeScalars.reversed().starts(with: c.unicodeScalars.reversed())
                    if match { return .bool(true) }
                }
                return .bool(false)
            }
        case "split":
            return method { [unowned self] a in
                let separator = a[0, "sep"].flatMap { v -> String? in
                    if case .string(let t) = v { return t }; return nil
                }
                let maxSplit = a[1, "maxsplit"].flatMap { self.intValue($0) } ?? -1
                if let separator, separator.isEmpty { throw TemplateError(.type, "empty separator") }
                let parts = pySplit(s, separator, maxSplit: maxSplit)
                try self.tick(parts.count)
                return .array(parts.map { .string($0) })
            }
        case "splitlines":
            return method { _ in .array(pySplitLines(s).map { .string($0) }) }
        case "replace":
            return method { [unowned self] a in
                guard let old = a[0, "old"], let new = a[1, "new"] else { throw TemplateError(.type, "replace expected 2 arguments") }
                let count = a[2, "count"].flatMap { self.intValue($0) } ?? -1
                return .string(
                    try self.checkString(
                        try pyReplace(
                            s, try self.pyStr(old), try self.pyStr(new), count: count,
                            maxScalars: self.limits.maxOutputBytes)))
            }
        case "find", "index", "rfind":
            return method { [unowned self] a in
                guard let sub = a[0, "sub"] else { throw TemplateError(.type, "\(name) expected 1 argument") }
                let hay = s.scalars
                let needle = try self.pyStr(sub).scalars
                let found = name == "rfind" ? pyReverseFind(hay, needle) : pyFind(hay, needle)
                if found == nil && name == "index" { throw TemplateError(.type, "substring not found") }
                return .int(found ?? -1)
            }
        case "count":
            return method { [unowned self] a in
                guard let sub = a[0, "sub"] else { throw TemplateError(.type, "count expected 1 argument") }
                let hay = s.scalars
                let needle = try self.pyStr(sub).scalars
                if needle.isEmpty { return .int(hay.count + 1) }
                let search = ScalarSearch(needle)
                var count = 0
                var from = 0
                while let i = search.find(in: hay, from: from) { count += 1; from = i + needle.count }
                return .int(count)
            }
        case "join":
            return method { [unowned self] a in
                guard let items = a[0, "iterable"] else { throw TemplateError(.type, "join expected 1 argument") }
                let parts = try self.iterate(items).map { v -> String in
                    guard case .string(let t) = v else {
                        throw TemplateError(.type, "sequence item: expected str instance, \(v.typeName) found")
                    }
                    return t
                }
                return .string(try self.joined(parts, separator: s))
            }
        case "format":
            return .callable(Callable(name) { [unowned self] args, kwargs in .string(try self.pyFormat(s, args, kwargs)) })
        case "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower":
            return method { _ in
                let scalars = s.unicodeScalars
                guard !scalars.isEmpty else { return .bool(false) }
                switch name {
                case "isdigit":
                    return .bool(
                        scalars.allSatisfy {
                            $0.properties.numericType != nil && $0.properties.generalCategory != .letterNumber
                                && $0.properties.generalCategory != .otherNumber || ("0"..."9").contains($0)
                        })
                case "isalpha": return .bool(scalars.allSatisfy { $0.properties.isAlphabetic })
                case "isalnum": return .bool(scalars.allSatisfy { $0.properties.isAlphabetic || $0.properties.numericType != nil })
                case "isspace": return .bool(scalars.allSatisfy(isPythonSpace))
                case "isupper": return .bool(s == s.uppercased() && s != s.lowercased())
                default: return .bool(s == s.lowercased() && s != s.uppercased())
                }
            }
        default:
            return nil
        }
    }

    /// `separator.join(parts)` after checking the result's size, before allocating it.
    func joined(_ parts: [String], separator: String) throws -> String {
        var total = 0
        if !parts.isEmpty {
            let (separators, overflow) = separator.utf8.count.multipliedReportingOverflow(by: parts.count - 1)
            if overflow { throw TemplateError(.limit, "join result too large") }
            total = separators
        }
        for part in parts {
            let (sum, overflow) = total.addingReportingOverflow(part.utf8.count)
            if overflow { throw TemplateError(.limit, "join result too large") }
            total = sum
        }
        try reserve(total)
        return parts.joined(separator: separator)
    }

    /// `str.format` with `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs).
    private func pyFormat(_ s: String, _ args: [Value], _ kwargs: [(String, Value)]) throws -> String {
        var out = ""
        var auto = 0
        var chars = s[...]
        while let c = chars.popFirst() {
            if c == "{" {
                if chars.first == "{" { chars.removeFirst(); out.append("{"); continue }
                guard let close = chars.firstIndex(of: "}") else { throw TemplateError(.type, "Single '{' encountered in format string") }
                let field = String(chars[chars.startIndex..<close])
                chars = chars[chars.index(after: close)...]
                if field.contains(":") || field.contains("!") { throw TemplateError(.type, "format specs are not supported") }
                let value: Value?
                if field.isEmpty {
                    value = auto < args.count ? args[auto] : nil
                    auto += 1
                } else if field.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }), let i = Int(field) {
                    // Only digits index positional arguments ('{-1}' names a keyword, as in Python).
                    value = i < args.count ? args[i] : nil
                } else {
                    value = kwargs.first { $0.0 == field }?.1
                }
                guard let value else { throw TemplateError(.type, "format: missing argument '\(field)'") }
                let text = try pyStr(value)
                try ensureFits(out.utf8.count + text.utf8.count)
                try charge(text.utf8.count)
                out += text
            } else if c == "}" {
                if chars.first == "}" { chars.removeFirst() }
                out.append("}")
            } else {
                out.append(c)
            }
        }
        return try checkString(out)
    }
}

// MARK: - Python string helpers

func pyStrip(_ s: String, _ chars: Set<Unicode.Scalar>?, left: Bool, right: Bool) -> String {
    let scalars = s.scalars
    func strip(_ c: Unicode.Scalar) -> Bool { chars.map { $0.contains(c) } ?? isPythonSpace(c) }
    var lower = 0
    var upper = scalars.count
    if left { while lower < upper, strip(scalars[lower]) { lower += 1 } }
    if right { while upper > lower, strip(scalars[upper - 1]) { upper -= 1 } }
    return String(scalars: scalars[lower..<upper])
}

/// Python `str.replace`; throws `.limit` as soon as the result would pass `maxScalars` code points.
func pyReplace(_ s: String, _ old: String, _ new: String, count: Int, maxScalars: Int) throws -> String {
    let hay = s.scalars
    let needle = old.scalars
    let replacement = new.scalars
    var out: [Unicode.Scalar] = []
    func append(_ part: some Collection<Unicode.Scalar>) throws {
        guard part.count <= maxScalars - out.count else { throw TemplateError(.limit, "replace result too large") }
        out += part
    }
    var i = 0
    var done = 0
    if needle.isEmpty {
        for c in hay {
            if count < 0 || done < count { try append(replacement); done += 1 }
            try append(CollectionOfOne(c))
        }
        if count < 0 || done < count { try append(replacement) }
        return String(scalars: out)
    }
    let search = ScalarSearch(needle)
    while i < hay.count {
        if count >= 0 && done >= count { break }
        guard let j = search.find(in: hay, from: i) else { break }
        try append(hay[i..<j])
        try append(replacement)
        i = j + needle.count
        done += 1
    }
    out += hay[i...]
    return String(scalars: out)
}

func pySplit(_ s: String, _ separator: String?, maxSplit: Int) -> [String] {
    let hay = s.scalars
    var parts: [String] = []
    if let separator {
        let search = ScalarSearch(separator.scalars)
        let needle = search.needle
        var start = 0
        while maxSplit < 0 || parts.count < maxSplit, let j = search.find(in: hay, from: start) {
            parts.append(String(scalars: hay[start..<j]))
            start = j + needle.count
        }
        parts.append(String(scalars: hay[start...]))
        return parts
    }
    var i = 0
    while i < hay.count {
        while i < hay.count, isPythonSpace(hay[i]) { i += 1 }
        if i >= hay.count { break }
        if maxSplit >= 0 && parts.count >= maxSplit {
            var end = hay.count
            while end > i, isPythonSpace(hay[end - 1]) { end -= 1 }
            parts.append(String(scalars: hay[i..<end]))
            return parts
        }
        let start = i
        while i < hay.count, !isPythonSpace(hay[i]) { i += 1 }
        parts.append(String(scalars: hay[start..<i]))
    }
    return parts
}

func pySplitLines(_ s: String) -> [String] {
    var lines: [String] = []
    var current: [Unicode.Scalar] = []
    var scalars = s.scalars[...]
    while let c = scalars.popFirst() {
        switch c.value {
        case 0x0D:
            if scalars.first == "\n" { scalars.removeFirst() }
            lines.append(String(scalars: current)); current = []
        case 0x0A, 0x0B, 0x0C, 0x1C, 0x1D, 0x1E, 0x85, 0x2028, 0x2029:
            lines.append(String(scalars: current)); current = []
        default:
            current.append(c)
        }
    }
    if !current.isEmpty { lines.append(String(scalars: current)) }
    return lines
}

func pyCapitalize(_ s: String) -> String {
    guard let first = s.first else { return s }
    return String(first).uppercased() + s.dropFirst().lowercased()
}

/// Python `str.title()`: uppercase after any non-letter, lowercase otherwise.
func pyTitle(_ s: String) -> String {
    var out = ""
    var previousIsLetter = false
    for c in s {
        let isLetter = c.isLetter
        out += isLetter ? (previousIsLetter ? c.lowercased() : c.uppercased()) : String(c)
        previousIsLetter = isLetter
    }
    return out
}

/// Jinja2's `title` filter: words start after whitespace, `-`, or opening brackets.
func jinjaTitle(_ s: String) -> String {
    var out = ""
    var atWordStart = true
    for c in s {
        if c.isWhitespace || "-([{<".contains(c) {
            out.append(c)
            atWordStart = true
        } else {
            out += atWordStart ? c.uppercased() : c.lowercased()
            atWordStart = false
        }
    }
    return out
}

/// The subset of C `strftime` that chat templates use, in the given time zone.
func strftime(_ format: String, _ date: Date, _ timeZone: TimeZone) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
    let months = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
        "November", "December"
    ]
    let days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
    let year = c.year ?? 1970, month = c.month ?? 1, day = c.day ?? 1
    let hour = c.hour ?? 0, minute = c.minute ?? 0, second = c.second ?? 0, weekday = (c.weekday ?? 1) - 1
    func pad(_ n: Int, _ width: Int = 2) -> String {
        let t = String(n)
        return String(repeating: "0", count: max(0, width - t.count)) + t
    }
    var out = ""
    var chars = format[...]
    while let ch = chars.popFirst() {
        guard ch == "%", let spec = chars.popFirst() else { out.append(ch); continue }
        switch spec {
        case "Y": out += String(year)
        case "y": out += pad(year % 100)
        case "m": out += pad(month)
        case "d": out += pad(day)
        case "e": out += (day < 10 ? " " : "") + String(day)
        case "H": out += pad(hour)
        case "I": out += pad(hour % 12 == 0 ? 12 : hour % 12)
        case "M": out += pad(minute)
        case "S": out += pad(second)
        case "p": out += hour < 12 ? "AM" : "PM"
        case "B": out += months[(month - 1) % 12]
        case "b", "h": out += String(months[(month - 1) % 12].prefix(3))
        case "A": out += days[weekday % 7]
        case "a": out += String(days[weekday % 7].prefix(3))
        case "w": out += String(weekday)
        case "j": out += pad(calendar.ordinality(of: .day, in: .year, for: date) ?? 1, 3)
        case "f": out += pad((c.nanosecond ?? 0) / 1000, 6)
        case "%": out += "%"
        default: out += "%" + String(spec)
        }
    }
    return out
}

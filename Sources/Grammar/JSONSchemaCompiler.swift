import JSON

/// JSON Schema (the parts real schemas use) compiled into a grammar whose documents all validate.
///
/// Where a schema allows more than the grammar produces, the grammar picks the stricter reading,
/// so that every document validates: an object lists only the declared properties, in their
/// order, unless `additionalProperties` is given; `oneOf` is read as `anyOf`. A keyword the
/// compiler cannot honour is refused with an error that names it and where it is.
public struct JSONSchemaCompiler {
    private var builder = GrammarBuilder()
    private let root: JSONValue
    /// Prefix of the reference rules' names, so that several schemas can share one builder.
    private let namespace: String
    private var references: [String: Int] = [:]

    /// Keywords that only annotate.
    private static let annotations: Set<String> = [
        "title", "description", "default", "examples", "$schema", "$id", "$comment", "deprecated", "readOnly",
        "writeOnly", "strict", "name"
    ]
    /// Keywords the compiler honours.
    private static let supported: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "enum",
        "const", "anyOf", "oneOf", "allOf", "$ref", "$defs", "definitions", "format", "pattern", "minLength", "maxLength",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"
    ]

    /// A grammar for documents valid under `schema`.
    public static func compile(_ schema: JSONValue) throws(GrammarError) -> Grammar {
        var builder = GrammarBuilder()
        let top = try symbols(for: schema, namespace: "", in: &builder)
        let start = builder.add([top], name: "root")
        return try builder.build(root: start)
    }

    /// Adds the rules of `schema` to `builder` and returns the sequence that matches its documents.
    /// The rules of its `$ref`s are named under `namespace`, so that several schemas (a request's
    /// tools) can go into one grammar.
    public static func symbols(
        for schema: JSONValue, namespace: String, in builder: inout GrammarBuilder
    ) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        var compiler = JSONSchemaCompiler(root: schema, namespace: namespace)
        compiler.builder = builder
        let top = try compiler.compile(schema, path: "#", depth: 0)
        builder = compiler.builder
        return top
    }

    /// A grammar for any JSON object (`response_format: json_object`).
    public static func anyObject() -> Grammar {
        var builder = GrammarBuilder()
        _ = builder.jsonValue()
        let member = builder.jsonString() + [builder.jsonSpace()] + GrammarBuilder.literal(":") + [builder.jsonSpace(), builder.jsonValue()]
        let object = builder.jsonList(open: "{", close: "}", element: member, minimum: 0, maximum: nil)
        let start = builder.add([object], name: "root")
        // The rules are all defined and not left-recursive: building cannot fail.
        return (try? builder.build(root: start)) ?? Grammar(rules: [[[]]], root: 0)
    }

    private init(root: JSONValue, namespace: String) {
        self.root = root
        self.namespace = namespace
    }

    private func error(_ path: String, _ message: String) -> GrammarError {
        GrammarError("JSON schema at \(path): \(message)")
    }

    private mutating func compile(_ schema: JSONValue, path: String, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        guard depth < 64 else { throw error(path, "nested deeper than 64 levels") }
        if case .bool(let allowed) = schema {
            guard allowed else { throw error(path, "the schema 'false' allows nothing") }
            return [builder.jsonValue()]
        }
        guard case .object(let pairs) = schema else { throw error(path, "a schema must be an object or a boolean") }
        for (key, _) in pairs where !Self.supported.contains(key) && !Self.annotations.contains(key) {
            throw error(path, "unsupported keyword '\(key)'")
        }
        if let reference = schema["$ref"] { return try compileReference(reference, path: path, depth: depth) }
        if let constant = schema["const"] { return GrammarBuilder.literal(JSONText.serialize(constant)) }
        if let values = schema["enum"] {
            guard case .array(let items) = values, !items.isEmpty else { throw error(path, "'enum' must be a non-empty array") }
            let literals = items.map { GrammarBuilder.literal(JSONText.serialize($0)) }
            return [.rule(builder.add(builder.factored(literals, name: "enum"), name: "enum"))]
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let options = schema[keyword] else { continue }
            guard case .array(let items) = options, !items.isEmpty else { throw error(path, "'\(keyword)' must be a non-empty array") }
            if keyword == "oneOf" { try checkDisjoint(items, path: path) }
            let base = Self.removing([keyword, "$defs", "definitions"], from: pairs)
            var alternatives: GrammarBuilder.Alternatives = []
            for (index, item) in items.enumerated() {
                let merged = base.isEmpty ? item : try merge([.object(base), item], path: path)
                alternatives.append(try compile(merged, path: "\(path)/\(keyword)/\(index)", depth: depth + 1))
            }
            return [.rule(builder.add(alternatives, name: keyword))]
        }
        if let all = schema["allOf"] {
            guard case .array(let items) = all, !items.isEmpty else { throw error(path, "'allOf' must be a non-empty array") }
            let merged = try merge([.object(Self.removing(["allOf"], from: pairs))] + items, path: path)
            return try compile(merged, path: "\(path)/allOf", depth: depth + 1)
        }
        switch schema["type"] {
        case nil:
            if schema["properties"] != nil || schema["additionalProperties"] != nil { return try object(schema, path: path, depth: depth) }
            if schema["items"] != nil || schema["prefixItems"] != nil { return try array(schema, path: path, depth: depth) }
            return [builder.jsonValue()]
        case .string(let type)?:
            return try typed(type, schema, path: path, depth: depth)
        case .array(let types)?:
            var alternatives: GrammarBuilder.Alternatives = []
            for case .string(let type) in types { alternatives.append(try typed(type, schema, path: path, depth: depth)) }
            guard alternatives.count == types.count, !types.isEmpty else { throw error(path, "'type' must name JSON types") }
            return [.rule(builder.add(alternatives, name: "types"))]
        default:
            throw error(path, "'type' must be a string or an array of strings")
        }
    }

    private mutating func typed(_ type: String, _ schema: JSONValue, path: String, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        switch type {
        case "object": return try object(schema, path: path, depth: depth)
        case "array": return try array(schema, path: path, depth: depth)
        case "string": return try string(schema, path: path)
        case "integer": return try integer(schema, path: path)
        case "number": return try number(schema, path: path)
        case "boolean": return [.rule(builder.add([GrammarBuilder.literal("true"), GrammarBuilder.literal("false")], name: "bool"))]
        case "null": return GrammarBuilder.literal("null")
        default: throw error(path, "unknown type '\(type)'")
        }
    }

    // MARK: References and combinations

    private mutating func compileReference(_ reference: JSONValue, path: String, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        guard let target = reference.string else { throw error(path, "'$ref' must be a string") }
        if let rule = references[target] { return [.rule(rule)] }
        guard target.hasPrefix("#") else { throw error(path, "only local references ('#/...') are supported, not '\(target)'") }
        var node = root
        for part in target.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            guard let next = node[key] else { throw error(path, "'$ref' '\(target)' points nowhere") }
            node = next
        }
        // Declared before it is compiled, so recursive references close the loop.
        let rule = builder.rule(named: "ref:\(namespace)\(target)")
        references[target] = rule
        builder.define(rule, [try compile(node, path: target, depth: depth + 1)])
        return [.rule(rule)]
    }

    private static func removing(_ keys: Set<String>, from pairs: [(String, JSONValue)]) -> [(String, JSONValue)] {
        pairs.filter { !keys.contains($0.0) && !annotations.contains($0.0) }
    }

    /// One schema that requires what each of `schemas` requires (objects: properties and
    /// `required` united; other keywords: each must agree).
    private func merge(_ schemas: [JSONValue], path: String) throws(GrammarError) -> JSONValue {
        var result: [(String, JSONValue)] = []
        var properties: [(String, JSONValue)] = []
        var required: [JSONValue] = []
        for schema in schemas {
            var schema = schema
            if let target = schema["$ref"]?.string, let resolved = resolve(target) { schema = resolved }
            guard case .object(let pairs) = schema else { throw error(path, "'allOf' members must be objects") }
            for (key, value) in pairs where !Self.annotations.contains(key) {
                switch key {
                case "additionalProperties" where schemas.count(where: { $0["properties"] != nil || $0["additionalProperties"] != nil }) > 1:
                    // Each member's additionalProperties sees only its own properties: merging would change its meaning.
                    throw error(path, "'allOf' with 'additionalProperties' is not supported")
                case "properties":
                    guard case .object(let more) = value else { throw error(path, "'properties' must be an object") }
                    for (name, sub) in more {
                        if let index = properties.firstIndex(where: { $0.0 == name }) {
                            properties[index].1 = try merge([properties[index].1, sub], path: "\(path)/properties/\(name)")
                        } else {
                            properties.append((name, sub))
                        }
                    }
                case "required":
                    guard case .array(let names) = value else { throw error(path, "'required' must be an array") }
                    for name in names where !required.contains(name) { required.append(name) }
                default:
                    if let index = result.firstIndex(where: { $0.0 == key }) {
                        guard result[index].1 == value else { throw error(path, "'allOf' members disagree on '\(key)'") }
                    } else {
                        result.append((key, value))
                    }
                }
            }
        }
        if !properties.isEmpty { result.append(("properties", .object(properties))) }
        if !required.isEmpty { result.append(("required", .array(required))) }
        return .object(result)
    }

    private func resolve(_ target: String) -> JSONValue? {
        guard target.hasPrefix("#") else { return nil }
        var node = root
        for part in target.dropFirst().split(separator: "/") {
            guard let next = node[String(part)] else { return nil }
            node = next
        }
        return node
    }

    /// `oneOf` is honoured as `anyOf` only when no document can match two branches: their JSON
    /// types differ, or they are objects told apart by a required property with different constants.
    private func checkDisjoint(_ branches: [JSONValue], path: String) throws(GrammarError) {
        let resolved = branches.map { branch -> JSONValue in
            if let target = branch["$ref"]?.string, let schema = resolve(target) { return schema }
            return branch
        }
        for i in resolved.indices {
            for j in resolved.indices where j > i {
                let a = Self.types(resolved[i]), b = Self.types(resolved[j])
                if a.isDisjoint(with: b) || Self.discriminated(resolved[i], resolved[j]) { continue }
                throw error(path, "'oneOf' branches \(i) and \(j) may both match a document (only disjoint branches are supported; use anyOf)")
            }
        }
    }

    /// The JSON types a schema's documents can have (all of them when the schema does not say).
    private static func types(_ schema: JSONValue) -> Set<String> {
        let all: Set<String> = ["object", "array", "string", "number", "boolean", "null"]
        func kind(_ value: JSONValue) -> String {
            switch value {
            case .null: return "null"
            case .bool: return "boolean"
            case .int, .double: return "number"
            case .string: return "string"
            case .array: return "array"
            case .object: return "object"
            }
        }
        if let constant = schema["const"] { return [kind(constant)] }
        if let values = schema["enum"]?.array { return Set(values.map(kind)) }
        switch schema["type"] {
        case .string(let type)?: return [type == "integer" ? "number" : type]
        case .array(let types)?: return Set(types.compactMap { $0.string.map { $0 == "integer" ? "number" : $0 } })
        default:
            if schema["properties"] != nil { return ["object"] }
            if schema["items"] != nil || schema["prefixItems"] != nil { return ["array"] }
            return all
        }
    }

    /// Whether two object schemas require one property to hold different constants.
    private static func discriminated(_ a: JSONValue, _ b: JSONValue) -> Bool {
        guard let requiredA = a["required"]?.array, let requiredB = b["required"]?.array else { return false }
        for name in requiredA.compactMap(\.string) where requiredB.contains(.string(name)) {
            if let x = a["properties"]?[name]?["const"], let y = b["properties"]?[name]?["const"], x != y { return true }
        }
        return false
    }

    // MARK: Objects and arrays

    private mutating func object(_ schema: JSONValue, path: String, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        var properties: [(String, JSONValue)] = []
        if let declared = schema["properties"] {
            guard case .object(let pairs) = declared else { throw error(path, "'properties' must be an object") }
            properties = pairs
        }
        var required: Set<String> = []
        if let names = schema["required"] {
            guard case .array(let items) = names else { throw error(path, "'required' must be an array") }
            for item in items {
                guard let name = item.string else { throw error(path, "'required' must list strings") }
                required.insert(name)
            }
        }
        for name in required where !properties.contains(where: { $0.0 == name }) {
            properties.append((name, .bool(true)))  // required but not described: any value
        }
        // Additional properties: only when the schema says so (or says nothing at all).
        var additional: [GrammarBuilder.Symbol]?
        switch schema["additionalProperties"] {
        case .bool(false)?: additional = nil
        case nil: additional = properties.isEmpty ? [builder.jsonValue()] : nil
        case let other?: additional = try compile(other, path: "\(path)/additionalProperties", depth: depth + 1)
        }
        let ws = builder.jsonSpace()
        var members: [(symbols: [GrammarBuilder.Symbol], required: Bool)] = []
        for (name, sub) in properties {
            let value = try compile(sub, path: "\(path)/properties/\(name)", depth: depth + 1)
            members.append(
                (
                    GrammarBuilder.literal(JSONText.serialize(.string(name))) + [ws] + GrammarBuilder.literal(":") + [ws] + value + [ws],
                    required.contains(name)
                ))
        }
        let comma = GrammarBuilder.literal(",") + [ws]
        // tail(i, emitted): members i... in order, each optional one may be left out; a comma
        // precedes a member once one was written. Built from the end.
        var tail: [Bool: [GrammarBuilder.Symbol]] = [:]
        for emitted in [false, true] {
            if let additional {
                let key = builder.jsonKey(excluding: properties.map(\.0))
                let entry = key + [ws] + GrammarBuilder.literal(":") + [ws] + additional + [ws]
                let more = builder.repeated(comma + entry, minimum: 0, maximum: nil)
                tail[emitted] = emitted ? more : [.rule(builder.add([[], entry + more], name: "extra"))]
            } else {
                tail[emitted] = []
            }
        }
        for member in members.reversed() {
            var next: [Bool: [GrammarBuilder.Symbol]] = [:]
            for emitted in [false, true] {
                let take = (emitted ? comma : []) + member.symbols + (tail[true] ?? [])
                next[emitted] = member.required ? take : [.rule(builder.add([take, tail[emitted] ?? []], name: "prop"))]
            }
            tail = next
        }
        return GrammarBuilder.literal("{") + [ws] + (tail[false] ?? []) + GrammarBuilder.literal("}")
    }

    private mutating func array(_ schema: JSONValue, path: String, depth: Int) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        let minimum = try count(schema["minItems"], "minItems", path: path) ?? 0
        let maximum = try count(schema["maxItems"], "maxItems", path: path)
        if let maximum, maximum < minimum { throw error(path, "maxItems is below minItems") }
        var prefix: [[GrammarBuilder.Symbol]] = []
        if let items = schema["prefixItems"] {
            guard case .array(let schemas) = items else { throw error(path, "'prefixItems' must be an array") }
            for (index, item) in schemas.enumerated() {
                prefix.append(try compile(item, path: "\(path)/prefixItems/\(index)", depth: depth + 1))
            }
        }
        var item: [GrammarBuilder.Symbol]?
        switch schema["items"] {
        case .bool(false)?: item = nil
        case nil: item = prefix.isEmpty ? [builder.jsonValue()] : nil
        case let other?: item = try compile(other, path: "\(path)/items", depth: depth + 1)
        }
        guard !prefix.isEmpty else {
            guard let item else { return GrammarBuilder.literal("[]") }
            return builder.jsonList(open: "[", close: "]", element: item, minimum: minimum, maximum: maximum)
        }
        // Every prefix item, then further items within the bounds.
        if let maximum, maximum < prefix.count { throw error(path, "maxItems is below the number of prefixItems") }
        let ws = builder.jsonSpace()
        var body: [GrammarBuilder.Symbol] = []
        for (index, symbols) in prefix.enumerated() { body += (index > 0 ? GrammarBuilder.literal(",") + [ws] : []) + symbols + [ws] }
        if let item {
            let extraMinimum = max(minimum - prefix.count, 0)
            body += builder.repeated(
                GrammarBuilder.literal(",") + [ws] + item + [ws], minimum: extraMinimum, maximum: maximum.map { $0 - prefix.count })
        } else if minimum > prefix.count {
            throw error(path, "minItems exceeds prefixItems while items is false")
        }
        return GrammarBuilder.literal("[") + [ws] + body + GrammarBuilder.literal("]")
    }

    private func count(_ value: JSONValue?, _ keyword: String, path: String) throws(GrammarError) -> Int? {
        guard let value else { return nil }
        guard case .int(let n) = value, n >= 0, n <= RegexCompiler.maximumRepetition else {
            throw error(path, "'\(keyword)' must be an integer from 0 to \(RegexCompiler.maximumRepetition)")
        }
        return n
    }

    // MARK: Scalars

    private static let formats: [String: String] = [
        // Years 1000-9999; February has 28 days (a subset that is always a valid date).
        "date": #"^([1-9]\d{3}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8])))$"#,
        "time": #"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"#,
        "date-time": #"^([1-9]\d{3}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8])))"#
            + #"T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$"#,
        "uuid": #"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"#,
        "email": #"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){0,4}\.[A-Za-z]{2,12}$"#,
        "ipv4": #"^((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"#,
        "uri": #"^[a-z][a-z0-9+.-]{0,15}://[A-Za-z0-9._~%!$&'()*+,;=:@/?#-]{1,200}$"#,
        "hostname": #"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?){0,5}$"#
    ]

    private mutating func string(_ schema: JSONValue, path: String) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        let minimum = try count(schema["minLength"], "minLength", path: path)
        let maximum = try count(schema["maxLength"], "maxLength", path: path)
        var pattern = schema["pattern"]?.string
        if let format = schema["format"] {
            guard let name = format.string, let regex = Self.formats[name] else {
                throw error(
                    path, "unsupported string format \(JSONText.serialize(format)) (supported: \(Self.formats.keys.sorted().joined(separator: ", ")))"
                )
            }
            guard pattern == nil else { throw error(path, "'format' together with 'pattern' is not supported") }
            pattern = regex
        }
        if let pattern {
            guard minimum == nil && maximum == nil else {
                throw error(path, "'pattern' or 'format' together with minLength/maxLength is not supported")
            }
            do {
                let body = try builder.regularExpression(pattern, encoding: .jsonString, searchSemantics: true)
                return GrammarBuilder.literal("\"") + body + GrammarBuilder.literal("\"")
            } catch {
                throw self.error(path, "pattern: \(error.description)")
            }
        } else if schema["pattern"] != nil {
            throw error(path, "'pattern' must be a string")
        }
        if let minimum, let maximum, maximum < minimum { throw error(path, "maxLength is below minLength") }
        return builder.jsonString(minimum: minimum ?? 0, maximum: maximum)
    }

    /// Integer bounds as an inclusive range (nil: unbounded on that side).
    private func integerBounds(_ schema: JSONValue, path: String) throws(GrammarError) -> (Int64?, Int64?) {
        func bound(_ keyword: String) throws(GrammarError) -> Double? {
            guard let value = schema[keyword] else { return nil }
            guard let number = value.number, number.isFinite, abs(number) < 1e15 else {
                throw error(path, "'\(keyword)' must be a number within ±10^15")
            }
            return number
        }
        var low = try bound("minimum").map { Int64($0.rounded(.up)) }
        var high = try bound("maximum").map { Int64($0.rounded(.down)) }
        if let e = try bound("exclusiveMinimum") { low = max(low ?? .min, Int64(e.rounded(.down)) + 1) }
        if let e = try bound("exclusiveMaximum") { high = min(high ?? .max, Int64(e.rounded(.up)) - 1) }
        if let low, let high, high < low { throw error(path, "the bounds allow no integer") }
        return (low, high)
    }

    private mutating func integer(_ schema: JSONValue, path: String) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        let (low, high) = try integerBounds(schema, path: path)
        guard low != nil || high != nil else { return builder.jsonNumber(integerOnly: true) }
        return [.rule(builder.add(IntegerRange.alternatives(low: low, high: high), name: "range"))]
    }

    private mutating func number(_ schema: JSONValue, path: String) throws(GrammarError) -> [GrammarBuilder.Symbol] {
        let keywords = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"].filter { schema[$0] != nil }
        if keywords.isEmpty { return builder.jsonNumber(integerOnly: false) }
        // Only "not negative" is expressible for fractions.
        if keywords == ["minimum"], let minimum = schema["minimum"]?.number, minimum == 0 {
            return builder.jsonNumber(integerOnly: false, allowNegative: false)
        }
        throw error(path, "'\(keywords[0])' on a number is only supported as minimum 0 (use type integer for other bounds)")
    }
}

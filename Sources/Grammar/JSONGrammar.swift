/// The rules every JSON grammar shares: whitespace, strings, numbers and any JSON value.
///
/// Whitespace between tokens is allowed but bounded (a space, or a newline and up to 20 spaces or
/// tabs, as llama.cpp allows), so a model cannot fill its budget with blanks; numbers have at most
/// 16 integer and 16 fraction digits.
extension GrammarBuilder {
    /// Optional bounded whitespace.
    mutating func jsonSpace() -> Symbol {
        if hasRule(named: "ws") { return .rule(rule(named: "ws")) }
        let ws = rule(named: "ws")
        let blank = ByteSet(byte: 0x20)
        var indent = blank
        indent.insert(0x09)
        let indentation = repeated([.bytes(indent)], minimum: 0, maximum: 20)
        define(ws, [[], [.bytes(blank)], [.bytes(ByteSet(byte: 0x0A))] + indentation])
        return .rule(ws)
    }

    /// One character inside a JSON string: anything but `"`, `\` and control characters, or an escape.
    mutating func jsonCharacter() -> Symbol {
        if hasRule(named: "json-char") { return .rule(rule(named: "json-char")) }
        let character = rule(named: "json-char")
        let plain = characterClass([0...0x1F, 0x22...0x22, 0x5C...0x5C], negated: true)
        var simple = ByteSet()
        for byte in "\"\\/bfnrt".utf8 { simple.insert(byte) }
        let hex = Self.hexDigit
        define(
            character,
            [
                [plain], [.bytes(ByteSet(byte: 0x5C)), .bytes(simple)],
                [.bytes(ByteSet(byte: 0x5C)), .bytes(ByteSet(byte: 0x75)), .bytes(hex), .bytes(hex), .bytes(hex), .bytes(hex)]
            ])
        return .rule(character)
    }

    static var hexDigit: ByteSet {
        var set = ByteSet(0x30...0x39)
        set.formUnion(ByteSet(0x41...0x46))
        set.formUnion(ByteSet(0x61...0x66))
        return set
    }

    /// A JSON string with `minimum`...`maximum` characters.
    mutating func jsonString(minimum: Int = 0, maximum: Int? = nil) -> [Symbol] {
        let quote = Symbol.bytes(ByteSet(byte: 0x22))
        return [quote] + repeated([jsonCharacter()], minimum: minimum, maximum: maximum) + [quote]
    }

    /// A JSON number: integer part, optional fraction and exponent (`integerOnly`: the integer part).
    mutating func jsonNumber(integerOnly: Bool, allowNegative: Bool = true) -> [Symbol] {
        let digit = Symbol.bytes(ByteSet(0x30...0x39))
        let integer = add(
            [[.bytes(ByteSet(byte: 0x30))], [.bytes(ByteSet(0x31...0x39))] + repeated([digit], minimum: 0, maximum: 15)], name: "int")
        var sequence: [Symbol] = []
        if allowNegative { sequence.append(.rule(add([[], Self.literal("-")], name: "sign"))) }
        sequence.append(.rule(integer))
        guard !integerOnly else { return sequence }
        let fraction = add([[], Self.literal(".") + repeated([digit], minimum: 1, maximum: 16)], name: "frac")
        var e = ByteSet(byte: 0x65)
        e.insert(0x45)
        var sign = ByteSet(byte: 0x2B)
        sign.insert(0x2D)
        let exponent = add(
            [[], [.bytes(e), .rule(add([[], [.bytes(sign)]], name: "esign"))] + repeated([digit], minimum: 1, maximum: 3)], name: "exp")
        return sequence + [.rule(fraction), .rule(exponent)]
    }

    /// Any JSON value (`json_object` asks for an object of this kind at the top).
    mutating func jsonValue() -> Symbol {
        if hasRule(named: "json-value") { return .rule(rule(named: "json-value")) }
        let value = rule(named: "json-value")
        let ws = jsonSpace()
        let member = jsonString() + [ws] + Self.literal(":") + [ws, .rule(value)]
        let object = jsonList(open: "{", close: "}", element: member, minimum: 0, maximum: nil)
        let array = jsonList(open: "[", close: "]", element: [.rule(value)], minimum: 0, maximum: nil)
        define(
            value,
            [object, array, jsonString(), jsonNumber(integerOnly: false), Self.literal("true"), Self.literal("false"), Self.literal("null")])
        return .rule(value)
    }

    /// `open element ("," element){…} close`, with `minimum`...`maximum` elements and whitespace
    /// around each.
    mutating func jsonList(open: String, close: String, element: [Symbol], minimum: Int, maximum: Int?) -> [Symbol] {
        let ws = jsonSpace()
        let item = element + [ws]
        let more = Self.literal(",") + [ws] + item
        var body: [Symbol]
        if minimum == 0 {
            if maximum == 0 {
                body = []
            } else {
                let rest = repeated(more, minimum: 0, maximum: maximum.map { $0 - 1 })
                body = [.rule(add([[], item + rest], name: "list"))]
            }
        } else {
            body = item + repeated(more, minimum: minimum - 1, maximum: maximum.map { $0 - 1 })
        }
        return Self.literal(open) + [ws] + body + Self.literal(close)
    }

    /// A JSON string key that is none of `names`, written without escapes (an escape could spell
    /// a declared name another way): the complement of the names' trie, one rule per trie node.
    mutating func jsonKey(excluding names: [String]) -> [Symbol] {
        let quote = Symbol.bytes(ByteSet(byte: 0x22))
        let plainRanges: [ClosedRange<UInt32>] = [0...0x1F, 0x22...0x22, 0x5C...0x5C]
        let anyRest = repeated([characterClass(plainRanges, negated: true)], minimum: 0, maximum: nil) + [quote]
        // The trie of the names, over scalars.
        var children: [[UInt32: Int]] = [[:]]
        var terminal: [Bool] = [false]
        for name in names {
            var node = 0
            for scalar in name.unicodeScalars {
                if let next = children[node][scalar.value] {
                    node = next
                } else {
                    children.append([:])
                    terminal.append(false)
                    children[node][scalar.value] = children.count - 1
                    node = children.count - 1
                }
            }
            terminal[node] = true
        }
        let base = self.rules.count
        let nodeRules = children.indices.map { rule(named: "key-\(base)-\($0)") }
        for node in children.indices {
            var alternatives: Alternatives = []
            if !terminal[node] { alternatives.append([quote]) }
            for (scalar, child) in children[node] where !plainRanges.contains(where: { $0.contains(scalar) }) {
                alternatives.append([characterClass([scalar...scalar], negated: false), .rule(nodeRules[child])])
            }
            let other = characterClass(plainRanges + children[node].keys.map { $0...$0 }, negated: true)
            alternatives.append([other] + anyRest)
            define(nodeRules[node], alternatives)
        }
        return [quote, .rule(nodeRules[0])]
    }
}

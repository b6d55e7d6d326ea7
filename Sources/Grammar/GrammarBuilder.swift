/// Builds a grammar rule by rule: the compilers (GBNF, regular expressions, JSON Schema) all
/// produce this form, a context-free grammar over bytes whose rules are alternatives of sequences
/// of byte sets and rule references.
public struct GrammarBuilder: Sendable {
    /// One item of a sequence.
    public enum Symbol: Hashable, Sendable {
        case bytes(ByteSet)
        case rule(Int)
    }

    /// A rule's alternatives, each a sequence (an empty sequence matches the empty string).
    public typealias Alternatives = [[Symbol]]

    private(set) var rules: [Alternatives?] = []
    private(set) var names: [String] = []
    private var byName: [String: Int] = [:]
    /// Rules already made for the same alternatives (repetitions, literals), so equal structures share one rule.
    private var interned: [Alternatives: Int] = [:]

    public init() {}

    /// Symbols a grammar may have at most.
    public static let maximumSize = 1 << 21

    /// The rule called `name`, declared (without alternatives) if new.
    public mutating func rule(named name: String) -> Int {
        if let index = byName[name] { return index }
        let index = rules.count
        rules.append(nil)
        names.append(name)
        byName[name] = index
        return index
    }

    /// Whether `name` is declared.
    public func hasRule(named name: String) -> Bool { byName[name] != nil }

    /// Gives `rule` its alternatives.
    public mutating func define(_ rule: Int, _ alternatives: Alternatives) {
        rules[rule] = alternatives
    }

    /// A fresh rule with these alternatives (shared with an identical earlier one).
    public mutating func add(_ alternatives: Alternatives, name: String = "r") -> Int {
        if let index = interned[alternatives] { return index }
        let index = rule(named: "\(name)-\(rules.count)")
        define(index, alternatives)
        interned[alternatives] = index
        return index
    }

    /// The bytes of `text` as a sequence.
    public static func literal(_ text: String) -> [Symbol] {
        text.utf8.map { .bytes(ByteSet(byte: $0)) }
    }

    /// A rule matching exactly one of `strings`, built as a trie: the alternatives of each rule start
    /// with different bytes, so a matcher follows one path (one parse stack) however many strings
    /// there are, and strings that end alike share their tails' rules.
    private mutating func oneOf(_ strings: [[UInt8]], name: String) -> Int {
        // Trie nodes in creation order (a child always after its parent).
        var children: [[(UInt8, Int)]] = [[]]
        var terminal = [false]
        for string in strings {
            var node = 0
            for byte in string {
                if let next = children[node].first(where: { $0.0 == byte })?.1 {
                    node = next
                } else {
                    children.append([])
                    terminal.append(false)
                    children[node].append((byte, children.count - 1))
                    node = children.count - 1
                }
            }
            terminal[node] = true
        }
        // Rules from the leaves up: a leaf needs none (its byte ends the alternative).
        var ruleOf = [Int?](repeating: nil, count: children.count)
        for node in children.indices.reversed() where !children[node].isEmpty {
            var alternatives: Alternatives = children[node].map { byte, child in
                [.bytes(ByteSet(byte: byte))] + (ruleOf[child].map { [Symbol.rule($0)] } ?? [])
            }
            if terminal[node] { alternatives.append([]) }
            ruleOf[node] = add(alternatives, name: name)
        }
        return ruleOf[0] ?? add([[]], name: name)
    }

    /// `alternatives` as they are, or, when every one is a literal (one byte per symbol) and there
    /// are more than a few, one reference to their `oneOf` trie: a long list of words (an enum, a
    /// `guided_choice`, a GBNF or regex alternation) then keeps one stack per possible next byte
    /// instead of one per word.
    public mutating func factored(_ alternatives: Alternatives, name: String) -> Alternatives {
        // A trie costs a rule per node: lists past an eighth of the grammar's size (262,144 bytes of
        // words, a 0.1 s compile) stay as they are, so a hostile list cannot cost seconds and
        // hundreds of megabytes; past the size itself `build` refuses them.
        guard alternatives.count > 8, alternatives.reduce(0, { $0 + $1.count }) <= Self.maximumSize / 8 else { return alternatives }
        var literals: [[UInt8]] = []
        for sequence in alternatives {
            var literal: [UInt8] = []
            for symbol in sequence {
                guard case .bytes(let set) = symbol, let byte = set.onlyByte else { return alternatives }
                literal.append(byte)
            }
            literals.append(literal)
        }
        return [[.rule(oneOf(literals, name: name))]]
    }

    /// `item` repeated `minimum` to `maximum` times (nil: unbounded), as a sequence.
    public mutating func repeated(_ item: [Symbol], minimum: Int, maximum: Int?) -> [Symbol] {
        // A longer item becomes one rule, so copies cost one symbol each (nested repetitions stay linear).
        let item = item.count > 1 ? [Symbol.rule(add([item], name: "item"))] : item
        var sequence: [Symbol] = []
        for _ in 0..<minimum { sequence += item }
        if let maximum {
            guard maximum > minimum else { return sequence }
            // (item (item (…)?)?)?: nested optionals, built from the innermost.
            var tail = add([item, []], name: "opt")
            for _ in 1..<(maximum - minimum) { tail = add([item + [.rule(tail)], []], name: "opt") }
            return sequence + [.rule(tail)]
        }
        // item*: star ::= item star | ε (right recursion, which the matcher runs in constant depth).
        let star = rule(named: "star-\(rules.count)")
        define(star, [item + [.rule(star)], []])
        return sequence + [.rule(star)]
    }

    /// Checks the grammar and flattens it for matching, starting at `root`.
    public func build(root: Int) throws(GrammarError) -> Grammar {
        for (index, alternatives) in rules.enumerated() where alternatives == nil {
            throw GrammarError("rule '\(names[index])' is used but not defined")
        }
        let defined = rules.map { $0 ?? [] }
        let size = defined.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count + 1 } }
        guard size <= Self.maximumSize else { throw GrammarError("the grammar is too large (\(size) symbols, at most \(Self.maximumSize))") }
        try Self.checkLeftRecursion(defined, names: names)
        return Grammar(rules: defined, root: root)
    }

    /// Refuses rules that can reach themselves without consuming a byte (the matcher would loop).
    private static func checkLeftRecursion(_ rules: [Alternatives], names: [String]) throws(GrammarError) {
        // Nullable rules, to a fixed point.
        var nullable = [Bool](repeating: false, count: rules.count)
        var changed = true
        while changed {
            changed = false
            for (index, alternatives) in rules.enumerated() where !nullable[index] {
                let canBeEmpty = alternatives.contains { sequence in
                    sequence.allSatisfy { symbol in
                        if case .rule(let r) = symbol { return nullable[r] }
                        return false
                    }
                }
                if canBeEmpty {
                    nullable[index] = true
                    changed = true
                }
            }
        }
        // Left corners: the rules a rule can start with.
        var corners = [[Int]](repeating: [], count: rules.count)
        for (index, alternatives) in rules.enumerated() {
            for sequence in alternatives {
                for symbol in sequence {
                    guard case .rule(let r) = symbol else { break }
                    corners[index].append(r)
                    if !nullable[r] { break }
                }
            }
        }
        // A cycle in the left-corner graph is left recursion (iterative depth-first search).
        var state = [UInt8](repeating: 0, count: rules.count)  // 0 new, 1 on the path, 2 done
        for start in rules.indices where state[start] == 0 {
            var path: [(rule: Int, next: Int)] = [(start, 0)]
            state[start] = 1
            while let (rule, next) = path.last {
                if next < corners[rule].count {
                    path[path.count - 1].next += 1
                    let corner = corners[rule][next]
                    if state[corner] == 1 { throw GrammarError("rule '\(names[corner])' is left-recursive") }
                    if state[corner] == 0 {
                        state[corner] = 1
                        path.append((corner, 0))
                    }
                } else {
                    state[rule] = 2
                    path.removeLast()
                }
            }
        }
    }
}

/// A grammar that cannot be built or used.
public struct GrammarError: Error, Equatable, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

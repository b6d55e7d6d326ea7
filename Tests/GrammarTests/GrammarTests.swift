import JSON
import Randomness
import Testing

@testable import Grammar

private func accepts(_ grammar: Grammar, _ text: String) -> Bool { GrammarSampler.accepts(grammar, Array(text.utf8)) }

private func regex(_ pattern: String) throws -> Grammar { try OutputConstraint.regex(pattern).compile() }

@Suite struct GrammarTests {
    /// Every scalar of a range encodes (by Swift's own UTF-8) to a byte sequence one of the
    /// compiled sequences matches, and no scalar next to the range does.
    @Test func utf8RangesCoverExactlyTheirScalars() {
        var random = SplitMix64(seed: 3)
        let edges: [UInt32] = [0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF]
        var ranges: [(UInt32, UInt32)] = [(0, 0x10FFFF), (0x41, 0x5A), (0xD000, 0xE100), (0x7F0, 0x820)]
        for _ in 0..<40 {
            let a = edges.randomElement(using: &random).map { min($0 &+ UInt32(random.next() % 300), 0x10FFFF) } ?? 0
            let b = min(a + UInt32(random.next() % 5000), 0x10FFFF)
            ranges.append((a, b))
        }
        for (low, high) in ranges {
            let sequences = UTF8Ranges.sequences(low, high)
            func matched(_ value: UInt32) -> Bool {
                guard let scalar = Unicode.Scalar(value) else { return false }
                let bytes = Array(String(Character(scalar)).utf8)
                return sequences.contains { $0.count == bytes.count && zip($0, bytes).allSatisfy { $0.contains($1) } }
            }
            var probes = Array(low...min(high, low + 300)) + Array(max(low, high >= 300 ? high - 300 : 0)...high)
            probes += (0..<200).map { _ in low + UInt32(random.next() % UInt64(high - low + 1)) }
            for value in probes {
                let valid = Unicode.Scalar(value) != nil
                #expect(matched(value) == valid, "\(String(value, radix: 16)) in \(low)...\(high)")
            }
            for value in [low &- 1, high + 1] where value <= 0x10FFFF && value != UInt32.max {
                #expect(!matched(value), "\(String(value, radix: 16)) outside \(low)...\(high)")
            }
        }
    }

    /// Integer bounds: exactly the integers of the range, written without leading zeros.
    @Test(arguments: [
        (Int64(-1000), Int64(1000)), (0, 9), (18, 213), (-7, -7), (-120, 35), (1900, 2030), (99, 101), (-1, 0)
    ])
    func integerRangesAcceptExactlyTheirIntegers(low: Int64, high: Int64) throws {
        let grammar = try JSONSchemaCompiler.compile(["type": "integer", "minimum": .int(Int(low)), "maximum": .int(Int(high))])
        for value in (low - 60)...(high + 60) {
            #expect(accepts(grammar, String(value)) == (low...high).contains(value), "\(value) in \(low)...\(high)")
        }
        #expect(!accepts(grammar, "0\(max(low, 1))"))
        #expect(!accepts(grammar, "-0"))
    }

    @Test func halfOpenIntegerBounds() throws {
        let atLeast = try JSONSchemaCompiler.compile(["type": "integer", "exclusiveMinimum": 17])
        let atMost = try JSONSchemaCompiler.compile(["type": "integer", "maximum": -7])
        for value in Int64(-300)...300 {
            #expect(accepts(atLeast, String(value)) == (value > 17), "\(value)")
            #expect(accepts(atMost, String(value)) == (value <= -7), "\(value)")
        }
        #expect(accepts(atLeast, "123456789012345"))
        #expect(accepts(atMost, "-123456789012345"))
    }

    @Test func regularExpressions() throws {
        #expect(accepts(try regex(#"\(\d{3}\) \d{3}-\d{4}"#), "(555) 123-4567"))
        #expect(!accepts(try regex(#"\(\d{3}\) \d{3}-\d{4}"#), "555 123-4567"))
        #expect(accepts(try regex("(ab|cd)*e"), "abcdabe"))
        #expect(!accepts(try regex("(ab|cd)*e"), "abce"))
        #expect(accepts(try regex("[^a-c]+"), "zé😀"))
        #expect(!accepts(try regex("[^a-c]+"), "zb"))
        #expect(accepts(try regex("a{2,3}"), "aaa"))
        #expect(!accepts(try regex("a{2,3}"), "aaaa"))
        #expect(accepts(try regex("x{2}y{1,}"), "xxyyy"))
        #expect(accepts(try regex("a{,2}"), "aa"))
        #expect(accepts(try regex("a{x}"), "a{x}"))  // not a quantifier: literal braces
        for bad in ["(a", "a)", "*a", "[a-", "a(?=b)", "\\1", "a{3,1}", "a{5000}"] {
            #expect(throws: GrammarError.self, "\(bad)") { try regex(bad) }
        }
    }

    /// An enum (or a `guided_choice`, or a long list of words in GBNF or a regular expression) is a
    /// trie of its values: with 2,000 values that share their first letters the matcher keeps one
    /// stack per possible next byte, where one alternative per value left more than
    /// `maximumStacks` open after the first byte and refused every value.
    @Test func largeAlternationsStayWithinTheStackLimit() throws {
        var random = SplitMix64(seed: 3)
        let values = (0..<2000).map { index in "a" + String((0..<6).map { _ in Character(UnicodeScalar(UInt8(97 + random.next() % 3))) }) + "\(index)"
        }
        let grammar = try JSONSchemaCompiler.compile(["enum": .array(values.map { .string($0) } + [.int(12), .int(1)])])
        #expect(!GrammarMatcher(grammar: grammar).accept(Array("\"a\"".utf8)))  // a prefix of values, not one
        for value in values.prefix(50) + ["12", "1"] {
            let text = value.first == "a" ? "\"\(value)\"" : value
            let matcher = GrammarMatcher(grammar: grammar)
            // Inside the value (before its last byte: after it, trailing whitespace may follow) the
            // open stacks are the next bytes the values allow: a, b, c, the digits and the quote.
            var widest = 0
            for byte in text.utf8 {
                widest = max(widest, matcher.stacks.count)
                #expect(matcher.accept([byte]), "\(text)")
            }
            #expect(widest <= 14, "\(text)")
            #expect(matcher.isAccepting, "\(text)")
        }
        let choice = try OutputConstraint.choice(["yes", "yesterday", "no"]).compile()
        for (text, complete) in [("yes", true), ("yesterday", true), ("no", true), ("yest", false)] {
            let matcher = GrammarMatcher(grammar: choice)
            #expect(matcher.accept(Array(text.utf8)))
            #expect(matcher.isAccepting == complete, "\(text)")
        }
        #expect(!GrammarMatcher(grammar: choice).accept(Array("maybe".utf8)))
        // Long lists of words in GBNF and regular expressions take the same trie.
        let words = (0..<3000).map { "w\($0)" }
        let gbnf = try GBNFParser.parse("root ::= (" + words.map { "\"\($0)\"" }.joined(separator: " | ") + ") \".\"")
        let alternation = try regex("(" + words.joined(separator: "|") + ")x")
        for (grammar, end) in [(gbnf, "."), (alternation, "x")] {
            for word in ["w0", "w12", "w2999"] {
                let matcher = GrammarMatcher(grammar: grammar)
                #expect(matcher.accept(Array((word + end).utf8)), "\(word)")
                #expect(matcher.isAccepting)
            }
            #expect(!GrammarMatcher(grammar: grammar).accept(Array("w3000\(end)".utf8)))
        }
    }

    @Test func gbnfGrammars() throws {
        let grammar = try OutputConstraint.grammar(
            """
            # a list of words
            root ::= word ("," ws word)*
            word ::= [a-zA-Z]+ | "\\"" [^"]* "\\""
            ws   ::= " "?
            """
        ).compile()
        #expect(accepts(grammar, "a, b,c"))
        #expect(accepts(grammar, #"x, "y z""#))
        #expect(!accepts(grammar, "a,"))
        for (source, message) in [
            ("root ::= missing", "not defined"), ("root ::= root \"a\"", "left-recursive"),
            ("root ::= a\na ::= b \"x\"\nb ::= \"\" | a", "left-recursive"), ("root ::= *", "nothing to repeat"),
            ("start ::= \"a\"", "root"), ("root ::= \"a", "unterminated")
        ] {
            #expect(throws: GrammarError.self, "\(source)") { try GBNFParser.parse(source) }
            do { _ = try GBNFParser.parse(source) } catch { #expect(error.description.contains(message), "\(error)") }
        }
    }

    /// Right recursion runs in constant depth: a long repetition keeps one stack of fixed height.
    @Test func longRepetitionsKeepTheStateSmall() throws {
        let grammar = try regex("(ab)*c")
        let matcher = GrammarMatcher(grammar: grammar)
        for _ in 0..<50_000 where !matcher.accept(Array("ab".utf8)) {
            Issue.record("refused")
            break
        }
        #expect(matcher.stacks.count <= 2)
        #expect(matcher.key(of: matcher.stacks).count < 16)
        #expect(matcher.accept(Array("c".utf8)))
        #expect(matcher.isTerminated)
    }

    @Test func rollBackRestoresTheState() throws {
        let grammar = try JSONSchemaCompiler.compile(["type": "array", "items": ["type": "integer"], "maxItems": 3])
        let matcher = GrammarMatcher(grammar: grammar)
        for token in ["[", "1", ",", "2"] { #expect(matcher.accept(Array(token.utf8))) }
        let afterTwo = matcher.stacks
        #expect(matcher.accept(Array(",3]".utf8)))
        #expect(matcher.isTerminated)
        matcher.rollBack(toAcceptedCount: 4)
        #expect(matcher.stacks == afterTwo)
        #expect(matcher.acceptedCount == 4)
        #expect(!matcher.accept(Array("]]".utf8)))  // refused: the state stays, the token counts
        #expect(matcher.stacks == afterTwo)
        #expect(matcher.acceptedCount == 5)
    }

    /// The trie walk gives exactly the tokens whose bytes a fresh matcher accepts, state by state:
    /// a flat object and objects nested in arrays in objects, where the same string or number
    /// rule sits above different stacks and tokens like `"}]` close several levels at once.
    @Test(arguments: [
        (
            9,
            #"{"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "array", "items": {"type": "boolean"}}}, "#
                + #""required": ["a"]}"#
        ),
        (
            4,
            #"{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "object", "properties": "#
                + #"{"s": {"type": "string"}, "n": {"type": "integer"}}, "required": ["s"]}}, "b": {"type": "string"}}, "required": ["a"]}"#
        ),
        (5, #"{"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}, "minItems": 1}"#),
        (
            6,
            #"{"type": "object", "properties": {"s": {"type": "string", "maxLength": 6}, "n": {"type": "string", "format": "email"}, "#
                + #""a": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 3}, "maxItems": 4}}, "required": ["s", "a"]}"#
        ),
        (7, #"{"type": "array", "items": {"type": "string", "pattern": "^[a-c]{2,5}(x|yz)?$"}, "maxItems": 6}"#)
    ])
    func tokenMasksEqualTheBruteForceAnswer(seed: Int, schemaText: String) throws {
        var random = SplitMix64(seed: UInt64(seed))
        let pieces = [
            "{", "}", "\"", "\"a", "a", "ab", "\":", ":", ",", " ", "1", "12", "-", "tr", "true", "null", "[", "]", "é", "\u{1F600}", "\"}", "x\"",
            "0", "\n", "", "\"}]", "\"],", "\", \"", "\"]", "}]", "1}", "\"s\": \"", "\"n\":", "[\"", "[{", "\"a\": [", "\"]]",
            "@", ".", "bc", "abc", "yz", "yz\"", "\"ab", "b@c.de", ".com\"", "\"]}"
        ]
        var vocabulary = pieces.map { Array($0.utf8) }
        vocabulary.append([0xC3])  // half a character
        vocabulary += (0..<200).map { _ in (0..<Int(1 + random.next() % 4)).map { _ in UInt8(32 + random.next() % 90) } }
        let trie = TokenTrie(tokenBytes: vocabulary)
        let schema = try JSONValue.parse(Array(schemaText.utf8))
        let runtime = ConstraintRuntime(grammar: try JSONSchemaCompiler.compile(schema), trie: trie)
        // Several documents on one runtime: later ones meet states (and stack-set transitions)
        // that earlier matchers' walks computed.
        // A walker that must forget its sets every few transitions gives the same masks.
        var forgetful = MaskWalker(grammar: runtime.grammar, setLimit: 1, walkLimit: 3)
        for document in 0..<3 {
            let matcher = runtime.makeMatcher()
            var prefix: [[UInt8]] = []
            for step in 0..<60 {
                let mask = runtime.mask(for: matcher)
                #expect(forgetful.mask(from: matcher.stacks, in: matcher.arena, trie: trie) == mask)
                for (id, bytes) in vocabulary.enumerated() {
                    let reference = GrammarMatcher(grammar: runtime.grammar)
                    for token in prefix { reference.accept(token) }
                    let allowed = !bytes.isEmpty && reference.accept(bytes)
                    #expect(mask.contains(id) == allowed, "document \(document), step \(step), token \(id) \(bytes)")
                }
                let choices = vocabulary.indices.filter { mask.contains($0) }
                guard let choice = choices.randomElement(using: &random) else { break }
                matcher.accept(vocabulary[choice])
                prefix.append(vocabulary[choice])
            }
        }
        #expect(runtime.cacheStatistics.misses > 0)
    }

    /// Found by scripts/check_structured.py: an additional property named like a declared one
    /// ("value": 0 where "value" must be a boolean) let an invalid document through.
    @Test func additionalPropertyKeysNeverSpellADeclaredName() throws {
        let grammar = try JSONSchemaCompiler.compile([
            "type": "object", "properties": ["value": ["type": "boolean"], "va": ["type": "null"]], "required": [],
            "additionalProperties": ["type": "integer"]
        ])
        for (text, expected) in [
            (#"{"value":0}"#, false), (#"{"va":3}"#, false), (#"{"v\u0061":3}"#, false), (#"{"valu":0}"#, true),
            (#"{"values":1}"#, true), (#"{"":3}"#, true), (#"{"value":true,"x":2}"#, true)
        ] {
            #expect(accepts(grammar, text) == expected, "\(text)")
        }
    }

    /// Tool calls as a constraint: each call names one of the functions and its arguments follow
    /// that function's schema; several calls only when parallel; two schemas with the same `$defs`
    /// names do not mix.
    @Test func functionCallsFollowTheirSchemas() throws {
        let city: JSON.JSONValue = .object([
            ("type", "object"), ("properties", .object([("city", .object([("$ref", "#/$defs/name")]))])),
            ("required", ["city"]), ("additionalProperties", false),
            ("$defs", .object([("name", .object([("type", "string"), ("maxLength", 5)]))]))
        ])
        let count: JSON.JSONValue = .object([
            ("type", "object"), ("properties", .object([("n", .object([("$ref", "#/$defs/name")]))])),
            ("required", ["n"]), ("additionalProperties", false),
            ("$defs", .object([("name", .object([("type", "integer")]))]))
        ])
        var shape = FunctionCallShape(functions: [.init(name: "weather", parameters: city), .init(name: "count", parameters: count)])
        shape.open = "<tool_call>\n"
        shape.close = "\n</tool_call>"
        shape.separator = "\n"
        let single = try OutputConstraint.functionCalls(shape).compile()
        let weather = "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"
        let counting = "<tool_call>\n{\"name\": \"count\", \"arguments\": {\"n\": 3}}\n</tool_call>"
        #expect(accepts(single, weather))
        #expect(accepts(single, counting))
        #expect(!accepts(single, weather + "\n" + counting))
        #expect(!accepts(single, weather.replacingOccurrences(of: "Paris", with: "Parisian")))  // maxLength 5
        #expect(!accepts(single, counting.replacingOccurrences(of: "3", with: "\"x\"")))  // the other schema's `name`
        #expect(!accepts(single, weather.replacingOccurrences(of: "weather", with: "forecast")))
        shape.parallel = true
        let several = try OutputConstraint.functionCalls(shape).compile()
        #expect(accepts(several, weather + "\n" + counting + "\n" + weather))
        shape.functions = []
        #expect(throws: GrammarError.self) { try OutputConstraint.functionCalls(shape).compile() }
    }

    @Test func schemaKeywordsItCannotHonourAreNamed() {
        let cases: [(JSONValue, String)] = [
            (["type": "object", "patternProperties": [:]], "patternProperties"), (["type": "number", "multipleOf": 2], "multipleOf"),
            (["type": "number", "maximum": 3.5], "maximum"), (["type": "string", "format": "color"], "format"),
            (["oneOf": [["type": "string"], ["type": "string", "maxLength": 2]]], "oneOf"), (["$ref": "#/nowhere"], "nowhere"),
            (["type": "frog"], "frog"), (.bool(false), "false"), (["enum": []], "enum")
        ]
        for (schema, word) in cases {
            do {
                _ = try JSONSchemaCompiler.compile(schema)
                Issue.record("\(schema) compiled")
            } catch {
                #expect(error.description.contains(word), "\(error)")
            }
        }
    }

    @Test func hostileSizesAreRefusedOrBounded() throws {
        // Nested repetitions stay linear in size.
        _ = try regex("((a{4000}){4000}){4000}")
        // Deep nesting is refused, not a crash.
        var schema: JSONValue = ["type": "integer"]
        for _ in 0..<100 { schema = ["type": "array", "items": schema] }
        #expect(throws: GrammarError.self) { try JSONSchemaCompiler.compile(schema) }
        #expect(throws: GrammarError.self) { try regex(String(repeating: "(", count: 100) + String(repeating: ")", count: 100)) }
        // A chain of 5,000 rules is matched to a bounded depth, not through the thread's stack.
        var source = "root ::= r0\n"
        for i in 0..<5000 { source += "r\(i) ::= r\(i + 1)\n" }
        source += "r5000 ::= \"x\"\n"
        let chain = try GBNFParser.parse(source)
        #expect(!GrammarSampler.accepts(chain, Array("x".utf8)))
        let runtime = ConstraintRuntime(grammar: chain, trie: TokenTrie(tokenBytes: [Array("x".utf8)]))
        #expect(runtime.mask(for: runtime.makeMatcher()).population == 0)
    }
}

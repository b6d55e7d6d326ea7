import Testing

@testable import APIRequests
@testable import JSON

@Suite struct JSONParserTests {
    private func parse(_ text: String) throws -> JSONValue { try JSONValue.parse(Array(text.utf8)) }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" {"b": [1, -2.5e3, true, false, null], "a": "x\u00e9\ud83d\ude00\n", "c": {}} "#)
        #expect(
            value
                == .object([
                    ("b", .array([.int(1), .double(-2500), .bool(true), .bool(false), .null])),
                    ("a", .string("xé😀\n")),
                    ("c", .object([]))
                ]))
    }

    @Test func integersBeyondInt64BecomeDoublesAndNeverTrap() throws {
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("-9223372036854775808") == .int(.min))
        #expect(try parse("9223372036854775808") == .double(9223372036854775808))
        #expect(try parse("9223372036854775808").integer == nil)
        #expect(try parse("1e308") == .double(1e308))
    }

    @Test(arguments: [
        "", " ", "nul", "[1,]", "{\"a\" 1}", "{\"a\":1,}", "01", "1.", "-", ".5", "1e", "\"\\x\"", "\"a",
        "NaN", "Infinity", "-Infinity", "1e400", "[1] 2", "\"\u{01}\"", "{1: 2}", "'a'", "[\"\\u12\"]"
    ])
    func rejectsMalformedInput(_ text: String) {
        #expect(throws: JSONParseError.self) { try parse(text) }
    }

    @Test func nestingIsLimitedBeforeRecursing() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try parse(deep) }
        let allowed = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(try parse(allowed) != .null)
        let objects = String(repeating: "{\"a\":", count: 65) + "1" + String(repeating: "}", count: 65)
        #expect(throws: JSONParseError.self) { try parse(objects) }
    }

    @Test func duplicateKeysKeepTheLastAndLoneSurrogatesAreReplaced() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#) == .object([("a", .int(2))]))
        #expect(try parse(#""\ud800x""#) == .string("\u{FFFD}x"))
        #expect(try parse(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try parse(#""\udc00""#) == .string("\u{FFFD}"))
    }

    @Test func invalidUTF8IsReplacedNotTrapped() throws {
        let bytes: [UInt8] = [0x22, 0xFF, 0xC3, 0x22]
        #expect(try JSONValue.parse(bytes) == .string("\u{FFFD}\u{FFFD}"))
    }

    @Test func serializedValuesParseBack() throws {
        let value: JSONValue = ["s": "a\"\\\u{1}\u{7f}é", "n": [1, -0.5, 1e300, .null], "t": true]
        #expect(
            try JSONValue.parse(Array(value.serialized.utf8))
                == .object([
                    ("s", "a\"\\\u{1}\u{7f}é"), ("n", [1, -0.5, 1e300, .null]), ("t", true)
                ]))
    }
}

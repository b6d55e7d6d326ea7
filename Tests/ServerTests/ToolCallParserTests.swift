import Testing

@testable import Server

/// The reply parser for each tool-call syntax, fed as a stream would feed it.
@Suite struct ToolCallParserTests {
    /// Feeds `pieces` and then finishes; returns the content and the calls, in order.
    private func parse(_ format: ToolCallFormat, _ pieces: [String]) -> [ToolCallParser.Event] {
        var parser = ToolCallParser(format: format)
        var events: [ToolCallParser.Event] = []
        for piece in pieces { events += parser.feed(piece) }
        events += parser.finish()
        // Adjacent content pieces are one piece of text.
        return events.reduce(into: []) { merged, event in
            if case .content(let text) = event, case .content(let previous)? = merged.last {
                merged[merged.count - 1] = .content(previous + text)
            } else {
                merged.append(event)
            }
        }
    }

    /// Splits `text` into pieces of `size` characters, as tokens arrive.
    private func pieces(_ text: String, size: Int) -> [String] {
        stride(from: 0, to: text.count, by: size).map { start in
            let from = text.index(text.startIndex, offsetBy: start)
            return String(text[from..<(text.index(from, offsetBy: size, limitedBy: text.endIndex) ?? text.endIndex)])
        }
    }

    @Test(arguments: [1, 2, 3, 7, 1000])
    func hermesBlocksBecomeCallsWhateverTheSplit(size: Int) {
        let reply =
            "Let me check.\n<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
            + "<tool_call>\n{\"name\": \"time\", \"arguments\": {}}\n</tool_call>"
        #expect(
            parse(.hermes, pieces(reply, size: size)) == [
                .content("Let me check.\n"), .call(.init(name: "weather", arguments: #"{"city":"Paris"}"#)),
                .call(.init(name: "time", arguments: "{}"))
            ])
    }

    @Test func hermesContentStreamsAtOnceButHoldsAPossibleMarker() {
        var parser = ToolCallParser(format: .hermes)
        #expect(parser.feed("Hello <to") == [.content("Hello ")])
        #expect(parser.feed("day") == [.content("<today")])
        #expect(parser.feed(" a < b") == [.content(" a < b")])
        #expect(parser.feed("<tool_call>{\"name\":") == [])
        #expect(parser.finish() == [.content("<tool_call>{\"name\":")])  // cut off by max_tokens: text
    }

    @Test func textThatIsNotACallStaysText() {
        let broken = "<tool_call>\n{\"name\": 5}\n</tool_call>"
        #expect(parse(.hermes, [broken]) == [.content(broken)])
        #expect(parse(.hermes, ["<tool_call>not json</tool_call> after"]) == [.content("<tool_call>not json</tool_call> after")])
        #expect(parse(.llama3, ["{\"answer\": 42}"]) == [.content("{\"answer\": 42}")])
        #expect(parse(.mistral, ["[1, 2]"]) == [.content("[1, 2]")])
    }

    @Test func llama3RepliesThatAreOneObject() {
        #expect(
            parse(.llama3, [" {\"name\": \"weather\", ", "\"parameters\": {\"city\": \"Oslo\"}}"]) == [
                .call(.init(name: "weather", arguments: #"{"city":"Oslo"}"#))
            ])
        #expect(parse(.llama3, ["It is ", "sunny."]) == [.content("It is sunny.")])
    }

    @Test func mistralListsOfCalls() {
        #expect(
            parse(.mistral, ["[{\"name\": \"a\", \"arguments\": {\"x\": 1}}, ", "{\"name\": \"b\", \"arguments\": \"{}\"}]"]) == [
                .call(.init(name: "a", arguments: #"{"x":1}"#)), .call(.init(name: "b", arguments: "{}"))
            ])
    }

    @Test func formatsAreReadFromTemplates() {
        #expect(ToolCallFormat.of(templateSource: nil) == (.hermes, false))
        #expect(ToolCallFormat.of(templateSource: "{{ messages }}") == (.hermes, false))
        #expect(ToolCallFormat.of(templateSource: "{% if tools %}<tool_call>{% endif %}") == (.hermes, true))
        #expect(ToolCallFormat.of(templateSource: "{% if tools %}[TOOL_CALLS]{% endif %}") == (.mistral, true))
        #expect(ToolCallFormat.of(templateSource: #"{% if tools %}{"name": x, "parameters": y}{% endif %}"#) == (.llama3, true))
    }
}

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

    /// A block that stays open for a long reply is not searched again from its start at every
    /// token: the cost per piece with 16 times more pieces stays within 3 times (it was 16 times,
    /// quadratic). A close tag split over pieces, and non-ASCII text, are still found.
    @Test func aLongOpenBlockCostsLinearTime() {
        func secondsPerPiece(_ count: Int) -> Double {
            var parser = ToolCallParser(format: .hermes)
            let start = ContinuousClock.now
            _ = parser.feed("<tool_call>{\"name\": \"echo\", \"arguments\": {\"text\": \"")
            for _ in 0..<count { _ = parser.feed("été ") }
            let events = parser.feed("\"}}</tool") + parser.feed("_call>")
            let elapsed = ContinuousClock.now - start
            #expect(events.count == 1)
            if case .call(let call)? = events.first { #expect(call.name == "echo" && call.arguments.count > 4 * count) }
            let (seconds, attoseconds) = elapsed.components
            return (Double(seconds) + Double(attoseconds) * 1e-18) / Double(count)
        }
        _ = secondsPerPiece(500)  // warm up
        // The fastest of three each: the machines are shared.
        let small = (0..<3).map { _ in secondsPerPiece(1000) }.min() ?? 0
        let large = (0..<3).map { _ in secondsPerPiece(16000) }.min() ?? 0
        #expect(large / small < 3, "per piece: \(small * 1e6) µs for 1000 pieces, \(large * 1e6) µs for 16000")
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

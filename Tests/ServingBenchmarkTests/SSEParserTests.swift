import Testing

@testable import ServingBenchmark

struct SSEParserTests {
    static let stream =
        "data: {\"choices\":[{\"text\":\"héllo\"}]}\n\n"
        + ": keep-alive ping\r\n\r\n"
        + "event: message\r\ndata: first line\r\ndata:second line\r\n\r\n"
        + "id: 7\rdata: cr only\r\r"
        + "data: [DONE]\n\n"
    static let expected = ["{\"choices\":[{\"text\":\"héllo\"}]}", "first line\nsecond line", "cr only", "[DONE]"]

    @Test func parsesWholeStream() {
        var parser = SSEParser()
        let events = parser.feed(Array(Self.stream.utf8)) + parser.finish()
        #expect(events == Self.expected)
    }

    @Test func parsesEverySplitIntoTwoPieces() {
        let bytes = Array(Self.stream.utf8)
        for cut in 0...bytes.count {
            var parser = SSEParser()
            let events = parser.feed(bytes[..<cut]) + parser.feed(bytes[cut...]) + parser.finish()
            #expect(events == Self.expected, "split at \(cut)")
        }
    }

    @Test func parsesByteByByte() {
        var parser = SSEParser()
        var events: [String] = []
        for byte in Self.stream.utf8 { events += parser.feed([byte]) }
        #expect(events + parser.finish() == Self.expected)
    }

    @Test func deliversUnterminatedLastEventOnFinish() {
        var parser = SSEParser()
        #expect(parser.feed(Array("data: [DONE]".utf8)).isEmpty)
        #expect(parser.finish() == ["[DONE]"])
    }

    @Test func accumulatorTimesTokenChunksOnly() throws {
        var accumulator = StreamAccumulator()
        try accumulator.consume("{\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}", at: 0.01)
        try accumulator.consume("{\"choices\":[{\"text\":\"a\"}]}", at: 0.2)
        try accumulator.consume("{\"choices\":[{\"text\":\"\"}]}", at: 0.22)
        try accumulator.consume("{\"choices\":[{\"text\":\"b\"}]}", at: 0.25)
        try accumulator.consume("{\"choices\":[{\"text\":\"c\",\"finish_reason\":\"length\"}]}", at: 0.35)
        try accumulator.consume("{\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":4}}", at: 0.36)
        try accumulator.consume("[DONE]", at: 0.37)
        let record = accumulator.record(promptTokens: 99)
        #expect(record.success)
        #expect(record.timeToFirstToken == 0.2)
        #expect(record.interTokenLatencies.count == 2)
        #expect(abs(record.interTokenLatencies[0] - 0.05) < 1e-12)
        #expect(abs(record.interTokenLatencies[1] - 0.10) < 1e-12)
        #expect(record.latency == 0.35)
        #expect(record.promptTokens == 12)
        #expect(record.outputTokens == 4)
    }

    @Test func accumulatorCountsChunksWithoutUsage() throws {
        var accumulator = StreamAccumulator()
        for (index, time) in [0.1, 0.2, 0.3].enumerated() {
            try accumulator.consume("{\"choices\":[{\"delta\":{\"content\":\"t\(index)\"}}]}", at: time)
        }
        try accumulator.consume("[DONE]", at: 0.31)
        let record = accumulator.record(promptTokens: 7)
        #expect(record.outputTokens == 3)
        #expect(record.promptTokens == 7)
    }

    @Test func accumulatorReportsFailures() throws {
        var cut = StreamAccumulator()
        try cut.consume("{\"choices\":[{\"text\":\"a\"}]}", at: 0.1)
        #expect(!cut.record(promptTokens: 1).success)

        #expect(!StreamAccumulator().record(promptTokens: 1).success)

        var malformed = StreamAccumulator()
        #expect(throws: StreamAccumulator.StreamError.self) { try malformed.consume("{not json", at: 0) }
        var serverError = StreamAccumulator()
        #expect(throws: StreamAccumulator.StreamError.self) {
            try serverError.consume("{\"error\":{\"message\":\"out of memory\"}}", at: 0)
        }
    }
}

import Engine
import Foundation
import Hummingbird
import Tokenizer

/// One generation request in flight: merges its choices' engine streams and turns them into an
/// OpenAI response body or SSE chunks; aborts the engine requests if the client goes away.
final class GenerationRun: Sendable {
    let job: GenerationJob
    let server: OpenAIServer
    let tokenizer: Tokenizer
    let engine: Engine
    let streams: [AsyncStream<GenerationEvent>]
    /// Seconds after which unfinished choices are aborted (nil: no deadline).
    let deadline: Double?
    private let started = DispatchTime.now().uptimeNanoseconds

    init(
        job: GenerationJob, server: OpenAIServer, tokenizer: Tokenizer, engine: Engine, streams: [AsyncStream<GenerationEvent>],
        deadline: Double?
    ) {
        self.job = job
        self.server = server
        self.tokenizer = tokenizer
        self.engine = engine
        self.streams = streams
        self.deadline = deadline
    }

    /// The choices' events, interleaved as they come. Ending the iteration early cancels the
    /// forwarding tasks, which aborts the engine requests.
    private func merged() -> AsyncStream<(Int, GenerationEvent)> {
        let (output, continuation) = AsyncStream<(Int, GenerationEvent)>.makeStream()
        let tasks = streams.enumerated().map { index, stream in
            Task { for await event in stream { continuation.yield((index, event)) } }
        }
        let closer = Task {
            for task in tasks { await task.value }
            continuation.finish()
        }
        // The request deadline: aborted choices end with finish reason `abort`.
        let timer = deadline.map { seconds in
            Task { [engine, job] in
                try await Task.sleep(for: .seconds(seconds))
                for request in job.requests { engine.abort(id: request.id) }
            }
        }
        continuation.onTermination = { _ in
            for task in tasks { task.cancel() }
            closer.cancel()
            timer?.cancel()
        }
        return output
    }

    /// What one event added to a choice.
    private struct Delta {
        var text = ""
        var logprobs: [(TokenLogprob, offset: Int)] = []
        var finished: FinishReason?
        /// With tools: the content and the calls the text completed.
        var parsed: [ToolCallParser.Event] = []
    }

    private func apply(_ event: GenerationEvent, to choice: inout ChoiceProgress, index: Int) -> Delta {
        let id = job.requests[index].id
        var delta = Delta()
        switch event {
        case .output(let output):
            let now = DispatchTime.now().uptimeNanoseconds
            if choice.lastToken == nil { server.state.started(id) }
            if !output.tokenIDs.isEmpty {
                if let last = choice.lastToken { server.metrics.interToken(Double(now - last) / 1e9) }
                choice.lastToken = now
            }
            for logprob in output.logprobs {
                delta.logprobs.append((logprob, offset: choice.textLength))
            }
            choice.logprobs += delta.logprobs
            choice.text += output.text
            choice.textLength += output.text.unicodeScalars.count
            delta.text = output.text
            if choice.toolCalls != nil { delta.parsed = choice.toolCalls?.feed(output.text) ?? [] }
        case .finished(let reason, let usage):
            choice.finishReason = reason
            choice.usage = usage
            delta.finished = reason
            if choice.toolCalls != nil { delta.parsed = choice.toolCalls?.finish() ?? [] }
            server.state.finished([id])
            server.metrics.requestFinished(reason: reason, usage: usage)
        }
        for event in delta.parsed {
            switch event {
            case .content(let text): choice.content += text
            case .call(let call): choice.calls.append((id: "call_" + OpenAIServer.randomID().prefix(24), call: call))
            }
        }
        return delta
    }

    private func initialChoices() -> [ChoiceProgress] {
        var choice = ChoiceProgress()
        choice.toolCalls = job.toolFormat.map { ToolCallParser(format: $0) }
        if let echo = job.echo {
            choice.text = echo
            choice.textLength = echo.unicodeScalars.count
        }
        return Array(repeating: choice, count: job.requests.count)
    }

    /// Aborts unfinished choices (client gone, or an error while writing).
    private func abandon(_ choices: [ChoiceProgress]) {
        let unfinished = job.requests.indices.filter { choices[$0].finishReason == nil }.map { job.requests[$0].id }
        guard !unfinished.isEmpty else { return }
        for id in unfinished { engine.abort(id: id) }
        server.state.finished(unfinished)
        server.logger.info("client disconnected; request aborted", metadata: ["id": "\(job.id)"])
    }

    /// Waits for every choice and returns the complete response.
    func collect() async -> JSONValue {
        var choices = initialChoices()
        for await (index, event) in merged() {
            _ = apply(event, to: &choices[index], index: index)
        }
        abandon(choices)
        log(choices)
        let items: [JSONValue] = choices.enumerated().map { index, choice in
            var pairs: [(String, JSONValue)] = [("index", .int(index))]
            switch job.endpoint {
            case .completions:
                pairs.append(("text", .string(choice.text)))
                pairs.append(("logprobs", job.logprobs ? completionLogprobs(choice.logprobs) : .null))
            case .chat:
                pairs.append(("message", message(choice)))
                pairs.append(("logprobs", job.logprobs ? chatLogprobs(choice.logprobs) : .null))
            }
            pairs.append(("finish_reason", .string(choice.finishReasonText)))
            pairs.append(("stop_reason", .null))
            return .object(pairs)
        }
        return .object(header(object: job.endpoint.object) + [("choices", .array(items)), ("usage", usage(choices))])
    }

    /// Streams SSE chunks (`data: {json}`), then `data: [DONE]`.
    func stream(to writer: inout any ResponseBodyWriter) async throws {
        var choices = initialChoices()
        do {
            if job.endpoint == .chat {
                for index in choices.indices {
                    try await send(chunk(index: index, delta: .object([("role", "assistant"), ("content", "")])), to: &writer)
                }
            } else if let echo = job.echo {
                for index in choices.indices {
                    try await send(chunk(index: index, delta: .string(echo)), to: &writer)
                }
            }
            for await (index, event) in merged() {
                let delta = apply(event, to: &choices[index], index: index)
                if choices[index].toolCalls != nil {
                    try await sendParsed(delta, choice: choices[index], index: index, to: &writer)
                } else if !delta.text.isEmpty || !delta.logprobs.isEmpty {
                    let content: JSONValue = job.endpoint == .chat ? .object([("content", .string(delta.text))]) : .string(delta.text)
                    let logprobs: JSONValue =
                        !job.logprobs
                        ? .null
                        : job.endpoint == .chat ? chatLogprobs(delta.logprobs) : completionLogprobs(delta.logprobs)
                    try await send(chunk(index: index, delta: content, logprobs: logprobs), to: &writer)
                }
                if delta.finished != nil {
                    let empty: JSONValue = job.endpoint == .chat ? .object([]) : .string("")
                    try await send(chunk(index: index, delta: empty, finishReason: choices[index].finishReasonText), to: &writer)
                }
            }
            if job.includeUsage {
                try await send(
                    .object(header(object: job.endpoint.chunkObject) + [("choices", .array([])), ("usage", usage(choices))]),
                    to: &writer)
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        } catch {
            abandon(choices)
            log(choices)
            throw error
        }
        log(choices)
    }

    private func send(_ value: JSONValue, to writer: inout any ResponseBodyWriter) async throws {
        var text = "data: "
        value.write(to: &text)
        text += "\n\n"
        try await writer.write(ByteBuffer(string: text))
    }

    private func header(object: String) -> [(String, JSONValue)] {
        [("id", .string(job.id)), ("object", .string(object)), ("created", .int(job.created)), ("model", .string(job.modelName))]
    }

    private func chunk(index: Int, delta: JSONValue, logprobs: JSONValue = .null, finishReason: String? = nil) -> JSONValue {
        var choice: [(String, JSONValue)] = [("index", .int(index))]
        choice.append((job.endpoint == .chat ? "delta" : "text", delta))
        choice.append(("logprobs", logprobs))
        choice.append(("finish_reason", finishReason.map { .string($0) } ?? .null))
        return .object(header(object: job.endpoint.chunkObject) + [("choices", [.object(choice)])])
    }

    /// A chat reply with tools: its content (null when it only made calls) and `tool_calls`.
    private func message(_ choice: ChoiceProgress) -> JSONValue {
        guard choice.toolCalls != nil else { return .object([("role", "assistant"), ("content", .string(choice.text))]) }
        let onlyCalls = !choice.calls.isEmpty && choice.content.allSatisfy(\.isWhitespace)
        var pairs: [(String, JSONValue)] = [("role", "assistant"), ("content", onlyCalls ? .null : .string(choice.content))]
        if !choice.calls.isEmpty {
            pairs.append(("tool_calls", .array(choice.calls.map { Self.toolCall($0.id, $0.call) })))
        }
        return .object(pairs)
    }

    private static func toolCall(_ id: String, _ call: ParsedToolCall) -> JSONValue {
        .object([
            ("id", .string(id)), ("type", "function"),
            ("function", .object([("name", .string(call.name)), ("arguments", .string(call.arguments))]))
        ])
    }

    /// Streams what the parser completed as OpenAI streams it: content deltas, and each call as a
    /// chunk with its id and name (empty arguments) followed by a chunk with its arguments.
    private func sendParsed(_ delta: Delta, choice: ChoiceProgress, index: Int, to writer: inout any ResponseBodyWriter) async throws {
        var callIndex = choice.calls.count - delta.parsed.filter { if case .call = $0 { true } else { false } }.count
        for event in delta.parsed {
            switch event {
            case .content(let text):
                guard !text.isEmpty else { continue }
                try await send(chunk(index: index, delta: .object([("content", .string(text))])), to: &writer)
            case .call(let call):
                let id = choice.calls[callIndex].id
                let start: JSONValue = .object([
                    ("index", .int(callIndex)), ("id", .string(id)), ("type", "function"),
                    ("function", .object([("name", .string(call.name)), ("arguments", "")]))
                ])
                try await send(chunk(index: index, delta: .object([("tool_calls", [start])])), to: &writer)
                let arguments: JSONValue = .object([("index", .int(callIndex)), ("function", .object([("arguments", .string(call.arguments))]))])
                try await send(chunk(index: index, delta: .object([("tool_calls", [arguments])])), to: &writer)
                callIndex += 1
            }
        }
    }

    private func usage(_ choices: [ChoiceProgress]) -> JSONValue {
        let prompt = job.promptTokens.count
        let completion = choices.reduce(0) { $0 + ($1.usage?.completionTokens ?? 0) }
        return .object([
            ("prompt_tokens", .int(prompt)), ("total_tokens", .int(prompt + completion)),
            ("completion_tokens", .int(completion))
        ])
    }

    private func tokenText(_ id: Int32) -> String { String(decoding: tokenizer.bytes(of: id), as: UTF8.self) }

    /// The completions form: parallel lists plus a dictionary of alternatives per token.
    private func completionLogprobs(_ items: [(TokenLogprob, offset: Int)]) -> JSONValue {
        .object([
            ("text_offset", .array(items.map { .int($0.offset) })),
            ("token_logprobs", .array(items.map { .double(Double($0.0.logprob)) })),
            ("tokens", .array(items.map { .string(tokenText($0.0.token)) })),
            (
                "top_logprobs",
                .array(
                    items.map { item in
                        .object(item.0.top.map { (tokenText($0.token), .double(Double($0.logprob))) })
                    })
            )
        ])
    }

    /// The chat form: one entry per token with its bytes and alternatives.
    private func chatLogprobs(_ items: [(TokenLogprob, offset: Int)]) -> JSONValue {
        func entry(_ token: Int32, _ logprob: Float) -> [(String, JSONValue)] {
            [
                ("token", .string(tokenText(token))), ("logprob", .double(Double(logprob))),
                ("bytes", .array(tokenizer.bytes(of: token).map { .int(Int($0)) }))
            ]
        }
        return .object([
            (
                "content",
                .array(
                    items.map { item in
                        .object(
                            entry(item.0.token, item.0.logprob)
                                + [("top_logprobs", .array(item.0.top.map { .object(entry($0.token, $0.logprob)) }))])
                    })
            )
        ])
    }

    /// One info line per request.
    private func log(_ choices: [ChoiceProgress]) {
        let output = choices.reduce(0) { $0 + ($1.usage?.completionTokens ?? 0) }
        let ttft = choices.compactMap { $0.usage?.timeToFirstTokenSeconds }.min()
        let duration = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        let reasons = choices.map { ($0.finishReason ?? .abort).rawValue }
        server.logger.info(
            "request finished",
            metadata: [
                "id": "\(job.id)",
                "prompt_tokens": "\(job.promptTokens.count)",
                "output_tokens": "\(output)",
                "ttft_s": "\(ttft.map { String(format: "%.3f", $0) } ?? "-")",
                "duration_s": "\(String(format: "%.3f", duration))",
                "finish_reason": "\(Set(reasons).sorted().joined(separator: ","))"
            ])
    }
}

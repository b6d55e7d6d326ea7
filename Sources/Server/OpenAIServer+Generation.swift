import Engine
import Foundation
import Hummingbird
import NIOCore
import Tokenizer

/// Which endpoint a generation request came from (the response shapes differ).
enum Endpoint {
    case completions
    case chat

    var idPrefix: String { self == .chat ? "chatcmpl-" : "cmpl-" }
    var object: String { self == .chat ? "chat.completion" : "text_completion" }
    var chunkObject: String { self == .chat ? "chat.completion.chunk" : "text_completion" }
}

/// The progress of one choice (one engine request).
struct ChoiceProgress {
    var text = ""
    /// Length of the text so far (with the echoed prompt) in Unicode scalars, for `text_offset`.
    var textLength = 0
    var logprobs: [(TokenLogprob, offset: Int)] = []
    var finishReason: FinishReason?
    var usage: GenerationUsage?
    var lastToken: UInt64?
    /// With tools: reads the reply into content and calls.
    var toolCalls: ToolCallParser?
    var content = ""
    var calls: [(id: String, call: ParsedToolCall)] = []

    /// OpenAI's finish reason: `tool_calls` when the reply made calls.
    var finishReasonText: String { calls.isEmpty ? (finishReason ?? .abort).rawValue : "tool_calls" }
}

/// A validated generation request, ready to run.
struct GenerationJob: Sendable {
    let endpoint: Endpoint
    let id: String
    let created: Int
    let modelName: String
    let promptTokens: [Int32]
    /// Completions with `echo`: the prompt text put in front of each choice.
    let echo: String?
    let stream: Bool
    let includeUsage: Bool
    let logprobs: Bool
    let requests: [GenerationRequest]
    /// Chat requests with tools: the syntax in which the replies' tool calls are read.
    var toolFormat: ToolCallFormat?
}

extension OpenAIServer {
    func completions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let bytes = try await body(of: request)
        let model = try readyModel()
        let completion = try CompletionRequest(body: bytes, limits: model.limits)
        try checkModel(completion.options.model)
        let tokens: [Int32]
        var promptText: String?
        switch completion.prompt {
        case .text(let text):
            promptText = text
            tokens = model.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case .tokens(let ids):
            tokens = ids
        }
        let echo = completion.options.echo ? (promptText ?? model.tokenizer.decode(tokens)) : nil
        let job = try makeJob(.completions, tokens: tokens, echo: echo, options: completion.options, model: model)
        return try await respond(job, model: model, connection: context.channel)
    }

    func chatCompletions(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let bytes = try await body(of: request)
        let model = try readyModel()
        let chat = try ChatCompletionRequest(body: bytes, limits: model.limits)
        try checkModel(chat.options.model)
        let tokens = try Self.chatTokens(
            chat.messages, model: model, addGenerationPrompt: chat.addGenerationPrompt,
            variables: chat.templateVariables, tools: chat.tools?.tools ?? [])
        var options = chat.options
        var toolFormat: ToolCallFormat?
        if let tools = chat.tools, case .success(let renderer) = model.chat {
            toolFormat = renderer.toolFormat
            // `required` or a named function: the reply is constrained to calls, so they parse and
            // their arguments validate.
            if let constraint = renderer.toolFormat.constraint(for: tools) {
                options.constraint = constraint
                options.constraintField = "tools"
            }
        }
        // A thinking model's constraint starts after its `</think>`, unless the prompt already closed
        // the thinking section (Qwen3 with enable_thinking false).
        var thinkingEnd: Int32?
        if case .success(let renderer) = model.chat, renderer.thinks, options.constraint != nil,
            let end = model.tokenizer.token(for: "</think>"), !tokens.suffix(8).contains(end)
        {
            thinkingEnd = end
        }
        var job = try makeJob(.chat, tokens: tokens, echo: nil, options: options, model: model, constraintStartsAfter: thinkingEnd)
        job.toolFormat = toolFormat
        return try await respond(job, model: model, connection: context.channel)
    }

    /// Checks lengths and the queue, and builds the engine requests (one per choice).
    func makeJob(
        _ endpoint: Endpoint, tokens: [Int32], echo: String?, options: GenerationOptions,
        model: ServedModel, constraintStartsAfter: Int32? = nil
    ) throws(APIError) -> GenerationJob {
        guard !tokens.isEmpty else { throw .badRequest("the prompt is empty", param: endpoint == .chat ? "messages" : "prompt") }
        let limit = model.engine.maxSequenceLength
        let maxTokens = options.maxTokens ?? (limit - tokens.count)
        // Both are at most `limit` here (the validation layer bounds max_tokens), so nothing overflows.
        guard maxTokens >= 1, maxTokens <= limit - tokens.count else {
            throw .badRequest(
                "This model's maximum context length is \(limit) tokens. However, you requested "
                    + "\(tokens.count + max(maxTokens, 1)) tokens (\(tokens.count) in the prompt, \(max(maxTokens, 1)) for the completion). "
                    + "Please reduce the length of the prompt or the completion.",
                param: options.maxTokens == nil || tokens.count >= limit
                    ? (endpoint == .chat ? "messages" : "prompt") : options.maxTokensField,
                code: "context_length_exceeded")
        }
        let waiting = max(state.waitingCount, model.engine.currentStatistics.waitingRequests)
        if waiting >= configuration.maxWaiting {
            throw APIError(
                status: .tooManyRequests, message: "the server is busy (\(waiting) requests waiting); retry later",
                type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: 1)
        }
        var constraint: ConstraintRuntime?
        if let output = options.constraint {
            do {
                constraint = try model.engine.constraint(output)
            } catch {
                let field = options.constraintField ?? "response_format"
                throw .badRequest("'\(field)': \(error.description)", param: field, code: "invalid_constraint")
            }
        }
        let id = endpoint.idPrefix + Self.randomID()
        var requests: [GenerationRequest] = []
        for index in 0..<options.n {
            var sampling = options.sampling
            if let seed = sampling.seed { sampling.seed = seed &+ UInt64(index) }
            requests.append(
                GenerationRequest(
                    id: "\(id)-\(index)", promptTokens: tokens, sampling: sampling, maxTokens: maxTokens,
                    ignoreEOS: options.ignoreEOS, stopTokenIDs: Set(options.stopTokenIDs), stopStrings: options.stop,
                    topLogprobs: options.logprobs, constraint: constraint))
            requests[requests.count - 1].constraintStartsAfter = constraintStartsAfter
            requests[requests.count - 1].speculative = options.speculative
        }
        return GenerationJob(
            endpoint: endpoint, id: id, created: Int(Date().timeIntervalSince1970),
            modelName: options.model ?? configuration.servedModelName, promptTokens: tokens, echo: echo,
            stream: options.stream, includeUsage: options.includeUsage,
            logprobs: options.logprobs != nil, requests: requests)
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<3).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }

    /// Submits the job's requests and answers with a JSON body or an SSE stream.
    func respond(_ job: GenerationJob, model: ServedModel, connection: any Channel) async throws(APIError) -> Response {
        let ids = job.requests.map(\.id)
        let shuttingDown = APIError.unavailable("the server is shutting down")
        guard state.register(ids) else { throw shuttingDown }
        var streams: [AsyncStream<GenerationEvent>] = []
        do {
            for request in job.requests { streams.append(try model.engine.submit(request)) }
        } catch {
            for id in ids { model.engine.abort(id: id) }
            state.finished(ids)
            if case .shuttingDown = error { throw shuttingDown }
            throw APIError.badRequest(error.description)
        }
        // A client that goes away aborts its requests within one engine step, streaming or not
        // (a stream would only notice at its next write; a request still queued never writes).
        disconnects.watch(connection, key: job.id) { [engine = model.engine] in
            for id in ids { engine.abort(id: id) }
        }
        let run = GenerationRun(
            job: job, server: self, tokenizer: model.tokenizer, engine: model.engine, streams: streams,
            deadline: configuration.requestTimeout)
        if job.stream {
            return Response(
                status: .ok,
                headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                body: ResponseBody { [disconnects] writer in
                    defer { disconnects.unwatch(connection, key: job.id) }
                    try await run.stream(to: &writer)
                })
        }
        defer { disconnects.unwatch(connection, key: job.id) }
        return Self.json(await run.collect())
    }
}

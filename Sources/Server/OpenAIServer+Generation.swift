import Engine
import Foundation
import Hummingbird
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
}

extension OpenAIServer {
    func completions(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let options = try GenerationOptions(fields, chat: false, configuration: configuration)
        try checkModel(options.model)
        let model = try readyModel()
        guard let prompt = fields.value("prompt") else { throw APIError.badRequest("'prompt' is required", param: "prompt") }
        let tokens: [Int32]
        var promptText: String?
        switch prompt {
        case .string(let text):
            promptText = text
            tokens = model.tokenizer.encode(text, addSpecial: true, parseSpecial: true)
        case .array(let items) where items.count == 1 && items[0].string != nil:
            promptText = items[0].string
            tokens = model.tokenizer.encode(items[0].string ?? "", addSpecial: true, parseSpecial: true)
        case .array(let items) where items.count == 1 && items[0].array != nil:
            tokens = try Self.tokenIDs(items[0], key: "prompt", vocabularySize: model.tokenizer.vocabularySize)
        case .array(let items) where items.allSatisfy({ $0.string != nil }) && items.count > 1:
            throw APIError.badRequest("batched prompts (a list of several prompts) are not supported; send one request per prompt", param: "prompt")
        case .array:
            tokens = try Self.tokenIDs(prompt, key: "prompt", vocabularySize: model.tokenizer.vocabularySize)
        default:
            throw APIError.badRequest("'prompt' must be a string or a list of token ids", param: "prompt")
        }
        let echo = options.echo ? (promptText ?? model.tokenizer.decode(tokens)) : nil
        let job = try makeJob(.completions, tokens: tokens, echo: echo, options: options, model: model)
        return try await respond(job, model: model)
    }

    func chatCompletions(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let options = try GenerationOptions(fields, chat: true, configuration: configuration)
        try checkModel(options.model)
        let model = try readyModel()
        let messages = try Self.messages(fields)
        let tokens = try Self.chatTokens(messages, model: model)
        let job = try makeJob(.chat, tokens: tokens, echo: nil, options: options, model: model)
        return try await respond(job, model: model)
    }

    /// Checks lengths and the queue, and builds the engine requests (one per choice).
    func makeJob(_ endpoint: Endpoint, tokens: [Int32], echo: String?, options: GenerationOptions,
                 model: ServedModel) throws(APIError) -> GenerationJob {
        guard !tokens.isEmpty else { throw .badRequest("the prompt is empty", param: endpoint == .chat ? "messages" : "prompt") }
        let limit = model.engine.maxSequenceLength
        let maxTokens = options.maxTokens ?? (limit - tokens.count)
        guard tokens.count + maxTokens <= limit, maxTokens >= 1 else {
            throw .badRequest("This model's maximum context length is \(limit) tokens. However, you requested "
                              + "\(tokens.count + max(maxTokens, 1)) tokens (\(tokens.count) in the prompt, \(max(maxTokens, 1)) for the completion). "
                              + "Please reduce the length of the prompt or the completion.",
                              param: options.maxTokens == nil ? (endpoint == .chat ? "messages" : "prompt") : "max_tokens",
                              code: "context_length_exceeded")
        }
        let waiting = max(state.waitingCount, model.engine.currentStatistics.waitingRequests)
        if waiting >= configuration.maxWaiting {
            throw APIError(status: .tooManyRequests, message: "the server is busy (\(waiting) requests waiting); retry later",
                           type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: 1)
        }
        let id = endpoint.idPrefix + Self.randomID()
        var requests: [GenerationRequest] = []
        for index in 0..<options.n {
            var sampling = options.sampling
            if let seed = sampling.seed { sampling.seed = seed &+ UInt64(index) }
            requests.append(GenerationRequest(
                id: "\(id)-\(index)", promptTokens: tokens, sampling: sampling, maxTokens: maxTokens,
                ignoreEOS: options.ignoreEOS, stopStrings: options.stop, topLogprobs: options.logprobs))
        }
        return GenerationJob(endpoint: endpoint, id: id, created: Int(Date().timeIntervalSince1970),
                             modelName: configuration.servedModelName, promptTokens: tokens, echo: echo,
                             stream: options.stream, includeUsage: options.includeUsage,
                             logprobs: options.logprobs != nil, requests: requests)
    }

    static func randomID() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<3).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }

    /// Submits the job's requests and answers with a JSON body or an SSE stream.
    func respond(_ job: GenerationJob, model: ServedModel) async throws -> Response {
        let ids = job.requests.map(\.id)
        guard state.register(ids) else {
            throw APIError(status: .serviceUnavailable, message: "the server is shutting down", type: "server_error", retryAfter: 1)
        }
        var streams: [AsyncStream<GenerationEvent>] = []
        do {
            for request in job.requests { streams.append(try model.engine.submit(request)) }
        } catch {
            for id in ids { model.engine.abort(id: id) }
            state.finished(ids)
            if case .shuttingDown = error {
                throw APIError(status: .serviceUnavailable, message: error.description, type: "server_error", retryAfter: 1)
            }
            throw APIError.badRequest(error.description)
        }
        let run = GenerationRun(job: job, server: self, tokenizer: model.tokenizer, engine: model.engine, streams: streams)
        if job.stream {
            return Response(status: .ok,
                            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
                            body: ResponseBody { writer in try await run.stream(to: &writer) })
        }
        return Self.json(await run.collect())
    }
}

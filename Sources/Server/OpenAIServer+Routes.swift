import Engine
import Foundation
import Hummingbird
import NIOCore
import Tokenizer

extension OpenAIServer {
    /// The routes: OpenAI's `/v1/*`, vLLM's `/tokenize`, `/detokenize`, `/health` and `/metrics`,
    /// and the worker endpoints routers call (`addWorkerRoutes`).
    func makeRouter() -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.middlewares.add(
            ErrorMiddleware(
                apiKey: configuration.apiKey,
                publicPaths: ErrorMiddleware.apiPublicPaths.union(configuration.serveChatPage ? Set(ChatPage.assets.keys) : [])))
        if configuration.serveChatPage { ChatPage.addRoutes(to: router) }
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: self.metrics.scrape(engine: self.state.model?.engine))))
        }
        router.get("/v1/models") { _, _ in try self.models() }
        router.post("/v1/completions") { request, context in try await self.completions(request, context: context) }
        router.post("/v1/chat/completions") { request, context in try await self.chatCompletions(request, context: context) }
        router.post("/tokenize") { request, _ in try await self.tokenize(request) }
        router.post("/detokenize") { request, _ in try await self.detokenize(request) }
        addWorkerRoutes(to: router)
        return router
    }

    /// 200 when requests are taken: 503 while the model loads and once shutdown began (so that
    /// routers and readiness probes stop sending before the server closes).
    func health() -> Response {
        do {
            _ = try readyModel()
        } catch {
            return error.response
        }
        guard !state.isDraining else { return APIError.unavailable("the server is shutting down").response }
        return Response(status: .ok)
    }

    /// The loaded model, or 503 while it loads (or when it failed to).
    func readyModel() throws(APIError) -> ServedModel {
        switch state.phase {
        case .ready(let model): return model
        case .loading: throw .unavailable("the model is loading")
        case .failed(let message): throw .unavailable("the model failed to load: \(message)", retryAfter: nil)
        }
    }

    func models() throws -> Response {
        let model = try readyModel()
        let created = Int(Date().timeIntervalSince1970)
        let entries: [JSONValue] = configuration.servedModelNames.map { name in
            .object([
                ("id", .string(name)),
                ("object", "model"),
                ("created", .int(created)),
                ("owned_by", "tandem"),
                ("root", .string(configuration.servedModelName)),
                ("parent", .null),
                ("max_model_len", .int(model.engine.maxSequenceLength))
            ])
        }
        return Self.json(["object": "list", "data": .array(entries)])
    }

    /// Reads a request body (413 over the limit, 408 when the client stops sending).
    func body(of request: Request) async throws(APIError) -> [UInt8] {
        do {
            let buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
            return Array(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, message: "the request body exceeds \(configuration.maxBodyBytes) bytes")
        } catch {
            throw APIError(status: .requestTimeout, message: "the request body could not be read: \(error)")
        }
    }

    /// Checks `model` against the served names (404 for any other).
    func checkModel(_ name: String?) throws(APIError) {
        if let name, !configuration.servedModelNames.contains(name) {
            throw APIError(
                status: .notFound, message: "the model '\(name.prefix(256))' does not exist", param: "model",
                code: "model_not_found")
        }
    }

    /// Renders and tokenizes a chat; a template error (e.g. `raise_exception`) is a 400 with its message,
    /// a template that could not be parsed at load a 500 that says so.
    static func chatTokens(
        _ messages: [ChatMessage], model: ServedModel, addGenerationPrompt: Bool = true,
        variables: [(String, JSONValue)] = [], tools: [ToolDefinition] = []
    ) throws(APIError) -> [Int32] {
        let renderer: ChatPromptRenderer
        switch model.chat {
        case .success(let value): renderer = value
        case .failure(let error):
            throw APIError(
                status: .internalServerError, message: "the model's chat template cannot be used: \(error)",
                type: "server_error", code: "chat_template_error")
        }
        do {
            return try renderer.tokens(for: messages, addGenerationPrompt: addGenerationPrompt, variables: variables, tools: tools)
        } catch {
            throw .badRequest("chat template error: \(error)", param: "messages")
        }
    }

    func tokenize(_ request: Request) async throws -> Response {
        let bytes = try await body(of: request)
        let model = try readyModel()
        let tokenize = try TokenizeRequest(body: bytes, limits: model.limits)
        try checkModel(tokenize.model)
        let tokens: [Int32]
        switch tokenize.input {
        case .chat(let messages, let addGenerationPrompt, let variables):
            tokens = try Self.chatTokens(messages, model: model, addGenerationPrompt: addGenerationPrompt, variables: variables)
        case .prompt(let prompt, let addSpecialTokens):
            tokens = model.tokenizer.encode(prompt, addSpecial: addSpecialTokens, parseSpecial: true)
        }
        let strings: JSONValue =
            tokenize.returnTokenStrings
            ? .array(tokens.map { .string(String(decoding: model.tokenizer.bytes(of: $0), as: UTF8.self)) }) : .null
        return Self.json([
            "count": .int(tokens.count),
            "max_model_len": .int(model.engine.maxSequenceLength),
            "tokens": .array(tokens.map { .int(Int($0)) }),
            "token_strs": strings
        ])
    }

    func detokenize(_ request: Request) async throws -> Response {
        let bytes = try await body(of: request)
        let model = try readyModel()
        let detokenize = try DetokenizeRequest(body: bytes, limits: model.limits)
        try checkModel(detokenize.model)
        return Self.json(["prompt": .string(model.tokenizer.decode(detokenize.tokens))])
    }

    /// A 200 JSON response.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}

/// Checks the API key and turns every error into OpenAI-style JSON (a client's mistake never
/// becomes a 500).
///
/// With an API key, every request needs it except a GET (or HEAD) whose path is exactly one of
/// `publicPaths`: whatever the spelling of a path (`//v1/models`, `/v1/./models`, `/V1/models`,
/// percent-escapes), it is public only when it is byte for byte `/health` or `/metrics` (or, with
/// the chat page on, one of its asset paths).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let apiKey: String?
    /// The paths a GET may reach without the key.
    var publicPaths: Set<String> = apiPublicPaths
    static let apiPublicPaths: Set<String> = ["/health", "/metrics"]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let isPublic = publicPaths.contains(request.uri.path) && (request.method == .get || request.method == .head)
        if let apiKey, !isPublic {
            let header = request.headers[.authorization] ?? ""
            guard Self.constantTimeEqual(header, "Bearer " + apiKey) else {
                return APIError(status: .unauthorized, message: "invalid or missing API key", code: "invalid_api_key").response
            }
        }
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as HTTPError {
            let message = error.body ?? (error.status == .notFound ? "no route for \(request.method) \(request.uri.path)" : error.status.reasonPhrase)
            return APIError(status: error.status, message: message, type: error.status.code >= 500 ? "server_error" : "invalid_request_error")
                .response
        } catch let error as any HTTPResponseError {
            return APIError(status: error.status, message: error.status.reasonPhrase).response
        } catch {
            return APIError(status: .internalServerError, message: "internal error: \(error)", type: "server_error").response
        }
    }

    private static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<min(x.count, y.count) { difference |= x[i] ^ y[i] }
        return difference == 0
    }
}

extension APIError {
    /// 503: the server cannot take requests now (loading, shutting down); retry after a second.
    static func unavailable(_ message: String, retryAfter: Int? = 1) -> APIError {
        APIError(status: .serviceUnavailable, message: message, type: "server_error", retryAfter: retryAfter)
    }

    /// The HTTP response: the error's JSON, with `Retry-After` for 429 and 503.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: json.serialized)))
    }
}

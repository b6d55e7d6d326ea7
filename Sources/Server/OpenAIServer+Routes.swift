import Engine
import Foundation
import Hummingbird
import Tokenizer

extension OpenAIServer {
    /// The routes: OpenAI's `/v1/*`, vLLM's `/tokenize`, `/detokenize`, `/health` and `/metrics`.
    func makeRouter() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(ErrorMiddleware(apiKey: configuration.apiKey))
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.scrape(engine: self.state.model?.engine))))
        }
        router.get("/v1/models") { _, _ in try self.models() }
        router.post("/v1/completions") { request, _ in try await self.completions(request) }
        router.post("/v1/chat/completions") { request, _ in try await self.chatCompletions(request) }
        router.post("/tokenize") { request, _ in try await self.tokenize(request) }
        router.post("/detokenize") { request, _ in try await self.detokenize(request) }
        return router
    }

    func health() -> Response {
        switch state.phase {
        case .ready: return Response(status: .ok)
        case .loading: return APIError(status: .serviceUnavailable, message: "the model is loading", type: "server_error", retryAfter: 1).response
        case .failed(let message): return APIError(status: .serviceUnavailable, message: "the model failed to load: \(message)", type: "server_error").response
        }
    }

    /// The loaded model, or 503 while it loads.
    func readyModel() throws(APIError) -> ServedModel {
        switch state.phase {
        case .ready(let model): return model
        case .loading: throw APIError(status: .serviceUnavailable, message: "the model is loading", type: "server_error", retryAfter: 1)
        case .failed(let message): throw APIError(status: .serviceUnavailable, message: "the model failed to load: \(message)", type: "server_error")
        }
    }

    func models() throws -> Response {
        let model = try readyModel()
        let entry: JSONValue = .object([
            ("id", .string(configuration.servedModelName)),
            ("object", "model"),
            ("created", .int(Int(Date().timeIntervalSince1970))),
            ("owned_by", "tandem"),
            ("root", .string(configuration.servedModelName)),
            ("parent", .null),
            ("max_model_len", .int(model.engine.maxSequenceLength)),
        ])
        return Self.json(["object": "list", "data": [entry]])
    }

    /// Reads and parses a JSON request body (413 over the limit, 400 when malformed).
    func body(of request: Request) async throws(APIError) -> RequestFields {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
        } catch {
            throw APIError(status: .contentTooLarge, message: "the request body exceeds \(configuration.maxBodyBytes) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue.parse(Array(buffer.readableBytesView))
        } catch {
            throw .badRequest("the request body is not valid JSON")
        }
        return try RequestFields(value)
    }

    /// Checks `model` against the served name (404 when it differs).
    func checkModel(_ name: String?) throws(APIError) {
        if let name, name != configuration.servedModelName {
            throw APIError(status: .notFound, message: "the model '\(name)' does not exist", param: "model", code: "model_not_found")
        }
    }

    /// Token ids from a JSON array, checked against the vocabulary.
    static func tokenIDs(_ value: JSONValue, key: String, vocabularySize: Int) throws(APIError) -> [Int32] {
        guard let items = value.array else { throw .badRequest("'\(key)' must be a list of token ids", param: key) }
        var ids: [Int32] = []
        ids.reserveCapacity(items.count)
        for item in items {
            guard let id = item.integer else { throw .badRequest("'\(key)' must be a list of integer token ids", param: key) }
            guard id >= 0, id < vocabularySize else {
                throw .badRequest("token id \(id) is outside the vocabulary (0..<\(vocabularySize))", param: key)
            }
            ids.append(Int32(id))
        }
        return ids
    }

    /// Chat messages from `messages` (roles system/user/assistant; content a string or text parts).
    static func messages(_ fields: RequestFields) throws(APIError) -> [ChatMessage] {
        guard let value = fields.value("messages") else { throw .badRequest("'messages' is required", param: "messages") }
        guard let items = value.array, !items.isEmpty else {
            throw .badRequest("'messages' must be a non-empty list", param: "messages")
        }
        var messages: [ChatMessage] = []
        for item in items {
            guard case .object = item, let role = item["role"]?.string else {
                throw .badRequest("each message must be an object with a string 'role'", param: "messages")
            }
            guard ["system", "user", "assistant", "developer"].contains(role) else {
                throw .badRequest("unsupported message role '\(role)'", param: "messages")
            }
            let content: String
            switch item["content"] ?? .null {
            case .string(let text): content = text
            case .null: content = ""
            case .array(let parts):
                var texts: [String] = []
                for part in parts {
                    guard part["type"]?.string == "text", let text = part["text"]?.string else {
                        throw .badRequest("only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", param: "messages")
                    }
                    texts.append(text)
                }
                content = texts.joined(separator: "\n")
            default:
                throw .badRequest("message content must be a string or a list of text parts", param: "messages")
            }
            messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: content))
        }
        return messages
    }

    /// Renders and tokenizes a chat; a template error (e.g. `raise_exception`) is a 400 with its message.
    static func chatTokens(_ messages: [ChatMessage], model: ServedModel, addGenerationPrompt: Bool = true) throws(APIError) -> [Int32] {
        do {
            return try model.chat.tokens(for: messages, addGenerationPrompt: addGenerationPrompt)
        } catch {
            throw .badRequest("chat template error: \(error)", param: "messages")
        }
    }

    func tokenize(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let model = try readyModel()
        try checkModel(try fields.string("model"))
        let tokens: [Int32]
        if fields.value("messages") != nil {
            let messages = try Self.messages(fields)
            let addGenerationPrompt = try fields.bool("add_generation_prompt") ?? true
            tokens = try Self.chatTokens(messages, model: model, addGenerationPrompt: addGenerationPrompt)
        } else if let prompt = try fields.string("prompt") {
            let addSpecial = try fields.bool("add_special_tokens") ?? true
            tokens = model.tokenizer.encode(prompt, addSpecial: addSpecial, parseSpecial: true)
        } else {
            throw APIError.badRequest("'prompt' (a string) or 'messages' is required", param: "prompt")
        }
        return Self.json([
            "count": .int(tokens.count),
            "max_model_len": .int(model.engine.maxSequenceLength),
            "tokens": .array(tokens.map { .int(Int($0)) }),
            "token_strs": .null,
        ])
    }

    func detokenize(_ request: Request) async throws -> Response {
        let fields = try await body(of: request)
        let model = try readyModel()
        try checkModel(try fields.string("model"))
        guard let value = fields.value("tokens") else { throw APIError.badRequest("'tokens' is required", param: "tokens") }
        let tokens = try Self.tokenIDs(value, key: "tokens", vocabularySize: model.tokenizer.vocabularySize)
        return Self.json(["prompt": .string(model.tokenizer.decode(tokens))])
    }

    /// A 200 JSON response.
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"],
                 body: .init(byteBuffer: ByteBuffer(string: value.serialized)))
    }
}

/// Checks the API key on `/v1/*` and turns every error into OpenAI-style JSON (a client's
/// mistake never becomes a 500).
struct ErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let apiKey: String?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let apiKey, request.uri.path.hasPrefix("/v1") {
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
            return APIError(status: error.status, message: message, type: error.status.code >= 500 ? "server_error" : "invalid_request_error").response
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

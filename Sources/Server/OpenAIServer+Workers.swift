import Engine
import Hummingbird

/// The endpoints that routers call on their workers (SGLang's router, vLLM's router): load,
/// server and model descriptions, and dropping the prefix cache. docs/deploy.md says which router
/// reads what.
extension OpenAIServer {
    func addWorkerRoutes(to router: Router<ServerRequestContext>) {
        router.get("/get_load") { _, _ in try self.load() }
        for path in ["/server_info", "/get_server_info"] {
            router.get(RouterPath(path)) { _, _ in try self.serverInfo() }
        }
        for path in ["/model_info", "/get_model_info"] {
            router.get(RouterPath(path)) { _, _ in try self.modelInfo() }
        }
        // SGLang's router POSTs; SGLang's own server also takes GET.
        router.post("/flush_cache") { _, _ in try self.flushCache() }
        router.get("/flush_cache") { _, _ in try self.flushCache() }
    }

    /// How busy the server is (requests in flight: running, and waiting to start or to be taken in),
    /// in the shape `configuration.loadReportFormat` names.
    func load() throws -> Response {
        let engine = try readyModel().engine
        let statistics = engine.currentStatistics
        // The server's count is exact now; the engine's is as of its last step, which may be a long
        // prefill behind: requests it has not taken in yet count as waiting.
        let inFlight = state.inFlightCount
        let running = min(statistics.runningRequests, inFlight)
        let tokens = Int((statistics.kvCacheUsage * Double(engine.cacheLayout.capacity)).rounded())
        let counts: [(String, JSONValue)] = [
            ("num_reqs", .int(running)), ("num_waiting_reqs", .int(inFlight - running)), ("num_tokens", .int(tokens))
        ]
        switch configuration.loadReportFormat {
        case .object: return Self.json(.object([("load", .int(inFlight))] + counts))
        case .sglang: return Self.json([.object([("dp_rank", 0)] + counts)])
        }
    }

    /// The serving limits and names (the fields SGLang's `/server_info` has that routers read).
    func serverInfo() throws -> Response {
        let model = try readyModel()
        let engine = model.engine
        let names: [JSONValue] = configuration.servedModelNames.map { .string($0) }
        return Self.json([
            "model_path": model.file.map { .string($0.path) } ?? .null,
            "served_model_name": .string(configuration.servedModelName),
            "served_model_names": .array(names),
            "dp_size": 1,
            "tp_size": 1,
            "max_total_tokens": .int(engine.cacheLayout.capacity),
            "max_running_requests": .int(engine.configuration.maxSequences),
            "max_prefill_tokens": .int(engine.configuration.maxBatchTokens),
            "context_length": .int(engine.maxSequenceLength),
            "page_size": .int(engine.cacheLayout.blockSize),
            "kv_cache_dtype": .string(engine.cacheLayout.elementType),
            "schedule": .string(engine.configuration.asynchronous ? "asynchronous" : "synchronous"),
            "speculative_decoding": .string(engine.configuration.speculation == nil ? "off" : "ngram"),
            "enable_prefix_caching": true
        ])
    }

    /// The model (the fields of SGLang's `/model_info`). `tokenizer_path` is null: the tokenizer is
    /// inside the GGUF file, where a router cannot load it from.
    func modelInfo() throws -> Response {
        let model = try readyModel()
        let architectures: JSONValue = model.file?.transformersClass.map { .array([.string($0)]) } ?? .null
        return Self.json([
            "model_path": model.file.map { .string($0.path) } ?? .null,
            "tokenizer_path": .null,
            "is_generation": true,
            "model_type": model.file.map { .string($0.architecture) } ?? .null,
            "architectures": architectures,
            "max_model_len": .int(model.engine.maxSequenceLength),
            "vocab_size": .int(model.tokenizer.vocabularySize)
        ])
    }

    /// Drops the prefix cache: requests that arrive afterwards find no cached prefix.
    func flushCache() throws -> Response {
        try readyModel().engine.resetPrefixCache()
        return Self.json(["success": true, "message": "the prefix cache was dropped"])
    }
}

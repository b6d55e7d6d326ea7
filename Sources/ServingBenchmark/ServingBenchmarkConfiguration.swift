/// Settings of a serving benchmark; the names follow `vllm bench serve`'s options.
public struct ServingBenchmarkConfiguration: Sendable, Equatable {
    /// The server's root URL, e.g. `http://127.0.0.1:8000` (no `/v1`).
    public var baseURL: String
    /// The streaming endpoint: `/v1/completions` or `/v1/chat/completions`.
    public var endpoint: String = "/v1/completions"
    /// The model name to send; `nil` asks the server (`GET /v1/models`, first entry).
    public var model: String?
    /// Number of requests.
    public var numPrompts: Int = 100
    /// Requests per second; `.infinity` sends all at once.
    public var requestRate: Double = .infinity
    /// Gamma shape of the inter-arrival times (1 = Poisson).
    public var burstiness: Double = 1
    /// Most requests in flight at once; `nil` for no limit.
    public var maxConcurrency: Int?
    /// Prompt length in tokens.
    public var inputLength: Int = 128
    /// `max_tokens` of each request.
    public var outputLength: Int = 128
    /// Distinct shared prefixes (system prompts); each request starts with one of them, every
    /// prefix used by as many requests as the count allows (SGLang's generated-shared-prefix
    /// workload). 0: prompts share nothing.
    public var sharedPrefixes: Int = 0
    /// Length of each shared prefix in tokens (with `sharedPrefixes` > 0).
    public var sharedPrefixLength: Int = 0
    /// Send `ignore_eos: true` so every request generates exactly `outputLength` tokens.
    public var ignoreEOS: Bool = false
    /// Seed for prompts and arrival times.
    public var seed: UInt64 = 0
    /// Goodput objectives.
    public var objectives = ServiceLevelObjectives()
    /// Calibrate prompt lengths with the server's tokenizer when it offers one.
    public var calibratePrompts: Bool = true
    /// Send one short request first and stop if it fails (vLLM's "initial test run").
    public var warmUp: Bool = true
    /// Longest wait for a TCP connection, in seconds (the client retries refused connections until then).
    public var connectTimeout: Double = 30
    /// Longest a single request may take, in seconds.
    public var requestTimeout: Double = 6 * 3600
    /// Sent as `Authorization: Bearer …` when set.
    public var apiKey: String?

    /// Creates a configuration for the server at `baseURL`, with defaults elsewhere.
    public init(baseURL: String) {
        self.baseURL = baseURL
    }

    /// Checks ranges; throws on the first problem.
    public func validate() throws(ServingBenchmarkError) {
        guard baseURL.hasPrefix("http://") || baseURL.hasPrefix("https://") else {
            throw .invalidArgument("base URL '\(baseURL)' must start with http:// or https://")
        }
        guard endpoint.hasPrefix("/") else { throw .invalidArgument("endpoint must start with /") }
        guard numPrompts > 0 else { throw .invalidArgument("num-prompts must be positive") }
        guard requestRate > 0, !requestRate.isNaN else { throw .invalidArgument("request-rate must be positive or inf") }
        guard burstiness > 0, burstiness.isFinite else { throw .invalidArgument("burstiness must be positive") }
        if let maxConcurrency, maxConcurrency <= 0 { throw .invalidArgument("max-concurrency must be positive") }
        guard inputLength > 0, outputLength > 0 else { throw .invalidArgument("input and output lengths must be positive") }
        guard sharedPrefixes >= 0, sharedPrefixes <= numPrompts else {
            throw .invalidArgument("shared-prefixes must be in 0...num-prompts")
        }
        guard (sharedPrefixes == 0) == (sharedPrefixLength == 0), sharedPrefixLength >= 0 else {
            throw .invalidArgument("shared-prefixes and shared-prefix-len go together, both positive")
        }
        guard requestTimeout > 0, connectTimeout > 0 else { throw .invalidArgument("request timeout must be positive") }
    }

    /// Whether the endpoint is the chat-completions API (messages and `delta.content`).
    public var isChat: Bool { endpoint.hasSuffix("chat/completions") }
}

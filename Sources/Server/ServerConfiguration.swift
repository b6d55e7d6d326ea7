/// Settings of an `OpenAIServer`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one (see `OpenAIServer.boundPort`).
    public var port = 8080
    /// The names clients may use for the model (aliases); the first is the one `/v1/models`,
    /// `/server_info` and the metrics' `model_name` give. Requests naming another model get 404.
    public var servedModelNames = ["tandem"]
    /// What `GET /get_load` answers (the routers that poll it read different shapes).
    public var loadReportFormat = LoadReportFormat.object
    /// When set, every request but `GET /health`, `GET /metrics` and the chat page's assets must send `Authorization: Bearer <key>`.
    public var apiKey: String?
    /// Requests waiting for their first token at which new ones are refused with 429.
    public var maxWaiting = 512
    /// Seconds in-flight requests may keep running after SIGTERM/SIGINT before they are aborted.
    public var shutdownGrace: Double = 30
    /// Largest request body accepted (413 above).
    public var maxBodyBytes = 4 << 20
    /// Largest `n` accepted.
    public var maxChoices = 16
    /// Largest `logprobs` / `top_logprobs` accepted.
    public var maxLogprobs = 20
    /// Seconds a connection may stay idle: before a request's head arrives (slow headers included)
    /// and between keep-alive requests.
    public var idleTimeout: Double = 60
    /// Seconds from a request's head to the end of its body.
    public var bodyTimeout: Double = 60
    /// Most open connections; further ones wait in the listen backlog until one closes.
    public var maxConnections = 1024
    /// Seconds a generation request may run before its unfinished choices are aborted (nil: none).
    public var requestTimeout: Double?
    /// Whether `/` serves the chat page (`ChatPage`; `tandem serve --no-ui` turns it off).
    public var serveChatPage = true

    public init() {}

    /// The primary served name.
    public var servedModelName: String { servedModelNames.first ?? "tandem" }
}

/// The shape of `GET /get_load`'s answer.
public enum LoadReportFormat: String, Sendable, CaseIterable {
    /// `{"load": n, ...}`: what vllm-router (and SGLang's routers before 0.2) read; `load` is the
    /// requests running plus waiting.
    case object
    /// `[{"dp_rank": 0, "num_reqs", "num_waiting_reqs", "num_tokens"}]`, one entry per data-parallel
    /// rank, as SGLang's own server answers: what sglang-router 0.2 and later read (it sums
    /// `num_tokens`, the KV-cache tokens in use).
    case sglang
}

/// Settings of an `OpenAIServer`.
public struct ServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// TCP port; 0 picks a free one (see `OpenAIServer.boundPort`).
    public var port = 8080
    /// The model name clients use; requests naming another model get 404.
    public var servedModelName = "tandem"
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
}

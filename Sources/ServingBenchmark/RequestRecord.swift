/// What the client observed for one request. Times are in seconds, measured from the moment the
/// request was sent (after any wait for a `--max-concurrency` slot, as in vLLM).
public struct RequestRecord: Sendable, Equatable {
    /// Whether the request streamed at least one token and ended without an error.
    public var success: Bool
    /// Prompt tokens: the server's `usage.prompt_tokens` when it sends usage, else the
    /// benchmark's own count for the prompt it built.
    public var promptTokens: Int
    /// Generated tokens: the server's `usage.completion_tokens` when it sends usage, else the
    /// number of streamed chunks that carried text.
    public var outputTokens: Int
    /// Time to first token: until the first streamed chunk with non-empty text.
    public var timeToFirstToken: Double
    /// Inter-token latencies: the gaps between successive chunks with text, after the first.
    public var interTokenLatencies: [Double]
    /// End-to-end latency: until the last chunk with text.
    public var latency: Double
    /// Why the request failed, if it did.
    public var error: String?

    /// Creates a record.
    public init(
        success: Bool, promptTokens: Int, outputTokens: Int, timeToFirstToken: Double = 0,
        interTokenLatencies: [Double] = [], latency: Double = 0, error: String? = nil
    ) {
        self.success = success
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.timeToFirstToken = timeToFirstToken
        self.interTokenLatencies = interTokenLatencies
        self.latency = latency
        self.error = error
    }

    /// A failed request.
    public static func failure(_ error: String, promptTokens: Int) -> RequestRecord {
        RequestRecord(success: false, promptTokens: promptTokens, outputTokens: 0, error: error)
    }
}

/// Why a sequence stopped generating (the OpenAI API's `finish_reason`).
public enum FinishReason: String, Sendable, Codable {
    /// An end-of-generation token, a stop token or a stop string.
    case stop
    /// `max_tokens` reached (or the context is full).
    case length
    /// Aborted by the client or by shutdown.
    case abort
}

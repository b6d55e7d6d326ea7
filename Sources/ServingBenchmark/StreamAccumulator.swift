import Foundation

/// Turns the events of one streamed response, with the times they arrived, into a `RequestRecord`.
///
/// A "token chunk" is a chunk whose first choice carries non-empty text (`text` for completions,
/// `delta.content` or `delta.reasoning_content` for chat). Chunks without text (a chat role
/// header, an empty held-back piece, the final usage-only chunk) neither start the TTFT clock nor
/// produce an ITL gap; this is how vLLM's benchmark long treated them (it tests `if text:`), and
/// it keeps servers that send an early role chunk before prefill from reporting a tiny TTFT.
public struct StreamAccumulator: Sendable {
    /// A failure found in the stream.
    public struct StreamError: Error, CustomStringConvertible {
        public let description: String
    }

    private var firstTokenTime: Double?
    private var lastTokenTime: Double?
    private var interTokenLatencies: [Double] = []
    private var textChunks = 0
    private var usagePromptTokens: Int?
    private var usageCompletionTokens: Int?
    private var finished = false

    /// Creates an empty accumulator.
    public init() {}

    /// Consumes one event's data that arrived `time` seconds after the request was sent.
    public mutating func consume(_ data: String, at time: Double) throws(StreamError) {
        let payload = data.trimmingCharacters(in: .whitespaces)
        if payload == "[DONE]" {
            finished = true
            return
        }
        if payload.isEmpty { return }
        let chunk: StreamChunk
        do {
            chunk = try JSONDecoder().decode(StreamChunk.self, from: Data(payload.utf8))
        } catch {
            throw StreamError(description: "malformed stream chunk: \(payload.prefix(200))")
        }
        if let error = chunk.error {
            throw StreamError(description: "server error in stream: \(error.message ?? payload)")
        }
        if let usage = chunk.usage {
            usagePromptTokens = usage.promptTokens ?? usagePromptTokens
            usageCompletionTokens = usage.completionTokens ?? usageCompletionTokens
        }
        if chunk.choices?.contains(where: { $0.finishReason != nil }) == true { finished = true }
        guard let text = chunk.text, !text.isEmpty else { return }
        if let lastTokenTime {
            interTokenLatencies.append(time - lastTokenTime)
        } else {
            firstTokenTime = time
        }
        lastTokenTime = time
        textChunks += 1
    }

    /// The request's record. `promptTokens` is used when the server sent no usage.
    /// A stream that never produced text, or that ended without `[DONE]` or a finish reason
    /// (cut off), is a failure.
    public func record(promptTokens: Int) -> RequestRecord {
        let prompt = usagePromptTokens ?? promptTokens
        guard let firstTokenTime, let lastTokenTime else {
            return .failure("the stream ended without any token", promptTokens: prompt)
        }
        guard finished else {
            return .failure("the stream was cut off (no [DONE] and no finish_reason)", promptTokens: prompt)
        }
        return RequestRecord(
            success: true, promptTokens: prompt,
            outputTokens: usageCompletionTokens ?? textChunks,
            timeToFirstToken: firstTokenTime, interTokenLatencies: interTokenLatencies,
            latency: lastTokenTime)
    }
}

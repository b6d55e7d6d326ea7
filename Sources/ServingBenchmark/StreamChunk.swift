import Foundation

/// The parts of one streamed OpenAI completion or chat-completion chunk that the benchmark uses.
struct StreamChunk: Decodable {
    struct Choice: Decodable {
        struct Delta: Decodable {
            var content: String?
            var reasoningContent: String?
            enum CodingKeys: String, CodingKey {
                case content
                case reasoningContent = "reasoning_content"
            }
        }
        /// `/v1/completions` text.
        var text: String?
        /// `/v1/chat/completions` delta.
        var delta: Delta?
        /// Set on the chunk that ends the choice.
        var finishReason: String?
        enum CodingKeys: String, CodingKey {
            case text, delta
            case finishReason = "finish_reason"
        }
    }
    struct Usage: Decodable {
        var promptTokens: Int?
        var completionTokens: Int?
        enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
            case completionTokens = "completion_tokens"
        }
    }
    struct ErrorBody: Decodable {
        var message: String?
    }

    var choices: [Choice]?
    var usage: Usage?
    var error: ErrorBody?

    /// The text this chunk adds (completion text, chat content or reasoning content), if any.
    var text: String? {
        guard let choice = choices?.first else { return nil }
        if let text = choice.text { return text }
        if let content = choice.delta?.content, !content.isEmpty { return content }
        return choice.delta?.reasoningContent ?? choice.delta?.content
    }
}

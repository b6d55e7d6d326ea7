import ChatTemplate
import Tokenizer

/// One chat message: a role (`system`, `user`, `assistant`) and its text.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// Turns chat messages into prompt tokens with the model's own chat template (ChatML when the
/// model has none): rendered with `add_generation_prompt`, then tokenized with special tokens
/// parsed and without adding BOS (the template adds it when the model wants it).
public struct ChatPromptRenderer: Sendable {
    /// The ChatML template, used for models without `tokenizer.chat_template`.
    public static let chatML = """
        {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    public let template: ChatTemplate
    public let tokenizer: Tokenizer
    private let bosToken: String
    private let eosToken: String

    /// - Parameter templateSource: the model's `tokenizer.chat_template`, or nil for ChatML.
    /// - Throws: `TemplateError` when the template does not parse.
    public init(templateSource: String?, tokenizer: Tokenizer) throws {
        template = try ChatTemplate(templateSource ?? Self.chatML)
        self.tokenizer = tokenizer
        bosToken = tokenizer.bos.flatMap { tokenizer.text(of: $0) } ?? ""
        eosToken = tokenizer.eos.flatMap { tokenizer.text(of: $0) } ?? ""
    }

    /// The prompt text for `messages`. Throws `TemplateError` (e.g. the template's `raise_exception`).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> String {
        let values: [TemplateValue] = messages.map {
            .object([("role", .string($0.role)), ("content", .string($0.content))])
        }
        return try template.render(messages: values, addGenerationPrompt: addGenerationPrompt,
                                   bosToken: bosToken, eosToken: eosToken)
    }

    /// The prompt tokens for `messages`.
    public func tokens(for messages: [ChatMessage], addGenerationPrompt: Bool = true) throws -> [Int32] {
        tokenizer.encode(try render(messages, addGenerationPrompt: addGenerationPrompt), addSpecial: false, parseSpecial: true)
    }
}

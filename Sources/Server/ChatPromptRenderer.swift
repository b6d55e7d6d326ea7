import ChatTemplate
import Tokenizer

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
    /// Whether the template is a thinking model's (it writes `<think>` sections): a structured-output
    /// constraint then starts after the model's `</think>`.
    public let thinks: Bool
    private let bosToken: String
    private let eosToken: String

    /// - Parameter templateSource: the model's `tokenizer.chat_template`, or nil for ChatML.
    /// - Throws: `TemplateError` when the template does not parse.
    public init(templateSource: String?, tokenizer: Tokenizer) throws {
        template = try ChatTemplate(templateSource ?? Self.chatML)
        self.tokenizer = tokenizer
        thinks = templateSource?.contains("<think>") ?? false
        bosToken = tokenizer.bos.flatMap { tokenizer.text(of: $0) } ?? ""
        eosToken = tokenizer.eos.flatMap { tokenizer.text(of: $0) } ?? ""
    }

    /// The prompt text for `messages`, with `variables` (a request's `chat_template_kwargs`) added to
    /// the template's context. Throws `TemplateError` (e.g. the template's `raise_exception`).
    public func render(
        _ messages: [ChatMessage], addGenerationPrompt: Bool = true,
        variables: [(String, JSONValue)] = []
    ) throws -> String {
        let values: [TemplateValue] = messages.map {
            .object([("role", .string($0.role)), ("content", .string($0.content))])
        }
        var extra: [String: TemplateValue] = [:]
        for (key, value) in variables { extra[key] = Self.templateValue(value) }
        return try template.render(
            messages: values, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, extra: extra)
    }

    /// The prompt tokens for `messages`.
    public func tokens(
        for messages: [ChatMessage], addGenerationPrompt: Bool = true,
        variables: [(String, JSONValue)] = []
    ) throws -> [Int32] {
        let text = try render(messages, addGenerationPrompt: addGenerationPrompt, variables: variables)
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }

    /// A JSON value as the template sees it (request JSON is at most 64 levels deep).
    static func templateValue(_ value: JSONValue) -> TemplateValue {
        switch value {
        case .null: return .none
        case .bool(let flag): return .bool(flag)
        case .int(let number): return .int(number)
        case .double(let number): return .double(number)
        case .string(let text): return .string(text)
        case .array(let items): return .array(items.map(templateValue))
        case .object(let pairs): return .object(pairs.map { ($0.0, templateValue($0.1)) })
        }
    }
}

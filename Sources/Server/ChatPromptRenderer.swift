import APIRequests
import ChatTemplate
import Tokenizer

/// Turns chat messages into prompt tokens with the model's own chat template (when the file has
/// none, the turn format its vocabulary's special tokens name: Gemma's, Llama 3's, else ChatML):
/// rendered with `add_generation_prompt`, then tokenized with special tokens parsed and without
/// adding BOS (the template adds it when the model wants it).
public struct ChatPromptRenderer: Sendable {
    /// The ChatML template, for models without `tokenizer.chat_template` whose vocabulary names no
    /// other turn format.
    public static let chatML = """
        {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
        """

    /// Gemma's turns (`<start_of_turn>user` / `model`), a system message folded into the first user
    /// turn as Gemma 3's own template does: for Gemma files without `tokenizer.chat_template`.
    public static let gemma = """
        {{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set prefix = messages[0]['content'] + '\\n\\n' %}{% set turns = messages[1:] %}{% else %}{% set prefix = '' %}{% set turns = messages %}{% endif %}{% for message in turns %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' + (prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}
        """

    /// Llama 3's headers, for Llama 3 files without `tokenizer.chat_template`.
    public static let llama3 = """
        {{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}
        """

    /// The template for a model without one of its own: the turn format whose special tokens the
    /// vocabulary has (ChatML when none matches).
    public static func fallbackTemplate(for tokenizer: Tokenizer) -> String {
        func has(_ texts: String...) -> Bool { texts.allSatisfy { tokenizer.token(for: $0) != nil } }
        if has("<start_of_turn>", "<end_of_turn>") { return gemma }
        if has("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>") { return llama3 }
        return chatML
    }

    public let template: ChatTemplate
    public let tokenizer: Tokenizer
    /// Whether the template is a thinking model's (it writes `<think>` sections): a structured-output
    /// constraint then starts after the model's `</think>`.
    public let thinks: Bool
    /// The syntax the model writes tool calls in.
    public let toolFormat: ToolCallFormat
    /// Whether the template renders `tools`, tool calls and tool results itself; if not, the
    /// renderer describes the tools in a system message and writes calls and results as text.
    public let rendersTools: Bool
    private let bosToken: String
    private let eosToken: String

    /// - Parameter templateSource: the model's `tokenizer.chat_template`, or nil for the fallback
    ///   its vocabulary names (`fallbackTemplate(for:)`).
    /// - Throws: `TemplateError` when the template does not parse.
    public init(templateSource: String?, tokenizer: Tokenizer) throws {
        template = try ChatTemplate(templateSource ?? Self.fallbackTemplate(for: tokenizer))
        self.tokenizer = tokenizer
        thinks = templateSource?.contains("<think>") ?? false
        (toolFormat, rendersTools) = ToolCallFormat.of(templateSource: templateSource)
        bosToken = tokenizer.bos.flatMap { tokenizer.text(of: $0) } ?? ""
        eosToken = tokenizer.eos.flatMap { tokenizer.text(of: $0) } ?? ""
    }

    /// The prompt text for `messages`, with `variables` (a request's `chat_template_kwargs`) added to
    /// the template's context and `tools` shown to the model. Throws `TemplateError` (e.g. the
    /// template's `raise_exception`).
    public func render(
        _ messages: [ChatMessage], addGenerationPrompt: Bool = true,
        variables: [(String, JSONValue)] = [], tools: [ToolDefinition] = []
    ) throws -> String {
        var extra: [String: TemplateValue] = [:]
        let values: [TemplateValue]
        if rendersTools {
            values = messages.map(Self.templateMessage)
            if !tools.isEmpty { extra["tools"] = .array(tools.map { Self.templateValue($0.json) }) }
        } else {
            values = Self.withToolsAsText(messages, tools: tools).map(Self.templateMessage)
        }
        for (key, value) in variables { extra[key] = Self.templateValue(value) }
        return try template.render(
            messages: values, addGenerationPrompt: addGenerationPrompt,
            bosToken: bosToken, eosToken: eosToken, extra: extra)
    }

    /// The prompt tokens for `messages`.
    public func tokens(
        for messages: [ChatMessage], addGenerationPrompt: Bool = true,
        variables: [(String, JSONValue)] = [], tools: [ToolDefinition] = []
    ) throws -> [Int32] {
        let text = try render(messages, addGenerationPrompt: addGenerationPrompt, variables: variables, tools: tools)
        return tokenizer.encode(text, addSpecial: false, parseSpecial: true)
    }

    /// A message as templates that know tools read it: `tool_calls` with each call's arguments as
    /// an object (as transformers passes them; the text when it is not JSON), and `tool_call_id`.
    static func templateMessage(_ message: ChatMessage) -> TemplateValue {
        var pairs: [(String, TemplateValue)] = [("role", .string(message.role)), ("content", .string(message.content))]
        if !message.toolCalls.isEmpty {
            let calls: [TemplateValue] = message.toolCalls.map { call in
                let arguments = (try? JSONValue.parse(Array(call.arguments.utf8))).map(templateValue) ?? .string(call.arguments)
                let function: TemplateValue = .object([("name", .string(call.name)), ("arguments", arguments)])
                return .object([("id", .string(call.id)), ("type", .string("function")), ("function", function)])
            }
            pairs.append(("tool_calls", .array(calls)))
        }
        if let id = message.toolCallID { pairs.append(("tool_call_id", .string(id))) }
        return .object(pairs)
    }

    /// For a template without tools: the tools described in the system message, calls written as
    /// `<tool_call>` blocks in the assistant's text, and results as user messages in
    /// `<tool_response>` blocks (consecutive results in one message), as Hermes-style models read them.
    static func withToolsAsText(_ messages: [ChatMessage], tools: [ToolDefinition]) -> [ChatMessage] {
        var result: [ChatMessage] = []
        if !tools.isEmpty {
            let instructions = ToolCallFormat.instructions(for: tools)
            if let first = messages.first, first.role == "system" {
                result.append(ChatMessage(role: "system", content: first.content + "\n\n" + instructions))
            } else {
                result.append(ChatMessage(role: "system", content: instructions))
            }
        }
        for (index, message) in messages.enumerated() where !(index == 0 && message.role == "system" && !tools.isEmpty) {
            switch message.role {
            case "assistant" where !message.toolCalls.isEmpty:
                let blocks = message.toolCalls.map { call in
                    let arguments = (try? JSONValue.parse(Array(call.arguments.utf8)))?.serialized ?? JSONValue.string(call.arguments).serialized
                    return "<tool_call>\n{\"name\": \(JSONValue.string(call.name).serialized), \"arguments\": \(arguments)}\n</tool_call>"
                }
                let text = ([message.content].filter { !$0.isEmpty } + blocks).joined(separator: "\n")
                result.append(ChatMessage(role: "assistant", content: text))
            case "tool":
                let block = "<tool_response>\n\(message.content)\n</tool_response>"
                if let last = result.last, last.role == "user", last.content.hasSuffix("</tool_response>") {
                    result[result.count - 1].content += "\n" + block
                } else {
                    result.append(ChatMessage(role: "user", content: block))
                }
            default:
                result.append(ChatMessage(role: message.role, content: message.content))
            }
        }
        return result
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

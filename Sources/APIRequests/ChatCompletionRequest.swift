/// A checked `/v1/chat/completions` request.
public struct ChatCompletionRequest: Sendable {
    public var messages: [ChatMessage]
    public var options: GenerationOptions
    /// Whether the template adds the assistant turn's opening (vLLM's `add_generation_prompt`).
    public var addGenerationPrompt: Bool
    /// Extra variables for the chat template (vLLM's `chat_template_kwargs`, e.g. `enable_thinking`).
    public var templateVariables: [(String, JSONValue)]
    /// The tools the model may call (nil: none, or `tool_choice` `none`).
    public var tools: ToolOptions?

    static let fields = GenerationOptions.commonFields.union([
        "messages", "max_completion_tokens", "top_logprobs", "add_generation_prompt", "continue_final_message",
        "chat_template_kwargs", "modalities", "reasoning_effort", "prediction", "audio", "separate_reasoning",
        "stream_reasoning", "include_reasoning"
    ])

    public init(body: [UInt8], limits: RequestLimits) throws(APIError) {
        try self.init(try RequestBody.fields(body), limits: limits)
    }

    public init(_ fields: RequestFields, limits: RequestLimits) throws(APIError) {
        try fields.rejectUnknown(Self.fields)
        options = try GenerationOptions(fields, chat: true, limits: limits)
        messages = try ChatMessage.list(fields, limits: limits)
        addGenerationPrompt = try fields.bool("add_generation_prompt") ?? true
        templateVariables = try Self.templateVariables(fields, limits: limits)
        tools = try ToolOptions.read(fields)
        if let tools, tools.choice != .auto, let field = options.constraintField {
            throw .badRequest(
                "'tool_choice' \(tools.choice == .required ? "'required'" : "naming a function") constrains the output; it cannot be combined with '\(field)'",
                param: "tool_choice")
        }
        if try fields.bool("continue_final_message") == true { throw GenerationOptions.unsupported("continue_final_message") }
        // SGLang's and vLLM's reasoning switches (their routers send them on every chat request).
        // They act only with a reasoning parser, which Tandem does not have: a model's thinking
        // stays in `content`, as those servers answer without one.
        for key in ["separate_reasoning", "stream_reasoning", "include_reasoning"] { _ = try fields.bool(key) }
        if let modalities = try fields.array("modalities", maxCount: 8), modalities != ["text"] {
            throw GenerationOptions.unsupported("modalities", "only [\"text\"]")
        }
        for key in ["reasoning_effort", "prediction", "audio"] where fields.value(key) != nil {
            throw GenerationOptions.unsupported(key)
        }
    }

    /// `chat_template_kwargs`: an object of at most `maxObjectKeys` variables.
    static func templateVariables(_ fields: RequestFields, limits: RequestLimits) throws(APIError) -> [(String, JSONValue)] {
        guard let kwargs = try fields.fields("chat_template_kwargs") else { return [] }
        guard kwargs.keys.count <= limits.maxObjectKeys else {
            throw .badRequest("'chat_template_kwargs' may have at most \(limits.maxObjectKeys) keys", param: "chat_template_kwargs")
        }
        let reserved: Set<String> = ["messages", "add_generation_prompt", "bos_token", "eos_token"]
        if let clash = kwargs.keys.first(where: reserved.contains) {
            throw .badRequest("'chat_template_kwargs' may not set '\(clash)'", param: "chat_template_kwargs")
        }
        return kwargs.keys.compactMap { key in kwargs.object[key].map { (key, $0) } }
    }
}

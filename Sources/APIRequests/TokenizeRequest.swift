/// A checked `/tokenize` request (vLLM's): a prompt, or chat messages rendered by the template.
public struct TokenizeRequest: Sendable {
    public enum Input: Sendable {
        case prompt(String, addSpecialTokens: Bool)
        case chat([ChatMessage], addGenerationPrompt: Bool, templateVariables: [(String, JSONValue)])
    }

    public var model: String?
    public var input: Input
    public var returnTokenStrings: Bool

    static let fields: Set<String> = [
        "model", "prompt", "messages", "add_special_tokens", "add_generation_prompt", "return_token_strs",
        "chat_template_kwargs", "continue_final_message"
    ]

    public init(body: [UInt8], limits: RequestLimits) throws(APIError) {
        let fields = try RequestBody.fields(body)
        try fields.rejectUnknown(Self.fields)
        model = try fields.string("model", maxBytes: 1024)
        returnTokenStrings = try fields.bool("return_token_strs") ?? false
        if try fields.bool("continue_final_message") == true { throw GenerationOptions.unsupported("continue_final_message") }
        if fields.value("messages") != nil {
            input = .chat(
                try ChatMessage.list(fields, limits: limits),
                addGenerationPrompt: try fields.bool("add_generation_prompt") ?? true,
                templateVariables: try ChatCompletionRequest.templateVariables(fields, limits: limits))
        } else if let prompt = try fields.string("prompt") {
            input = .prompt(prompt, addSpecialTokens: try fields.bool("add_special_tokens") ?? true)
        } else {
            throw .badRequest("'prompt' (a string) or 'messages' is required", param: "prompt")
        }
    }
}

/// A checked `/v1/completions` request.
public struct CompletionRequest: Sendable {
    /// The prompt: text to tokenize, or token ids.
    public enum Prompt: Sendable, Equatable {
        case text(String)
        case tokens([Int32])
    }

    public var prompt: Prompt
    public var options: GenerationOptions

    static let fields = GenerationOptions.commonFields.union(["prompt", "suffix", "best_of"])

    /// Decodes and checks a request body (400 naming the field for anything wrong).
    public init(body: [UInt8], limits: RequestLimits) throws(APIError) {
        try self.init(try RequestBody.fields(body), limits: limits)
    }

    public init(_ fields: RequestFields, limits: RequestLimits) throws(APIError) {
        try fields.rejectUnknown(Self.fields)
        options = try GenerationOptions(fields, chat: false, limits: limits)
        if try ToolOptions.read(fields) != nil {
            throw GenerationOptions.unsupported("tools", "tool calling is a /v1/chat/completions feature")
        }
        if let suffix = try fields.string("suffix"), !suffix.isEmpty { throw GenerationOptions.unsupported("suffix") }
        if let bestOf = try fields.integer("best_of"), bestOf != options.n {
            throw GenerationOptions.unsupported("best_of", "only best_of == n")
        }
        guard let prompt = fields.value("prompt") else { throw .badRequest("'prompt' is required", param: "prompt") }
        switch prompt {
        case .string(let text):
            self.prompt = .text(text)
        case .array(let items) where items.count == 1 && items[0].string != nil:
            self.prompt = .text(items[0].string ?? "")
        case .array(let items) where items.count == 1 && items[0].array != nil:
            self.prompt = .tokens(try TokenIDs.parse(items[0], key: "prompt", vocabularySize: limits.vocabularySize))
        case .array(let items) where items.count > 1 && items.allSatisfy({ $0.string != nil || $0.array != nil }):
            throw .badRequest("batched prompts (a list of several prompts) are not supported; send one request per prompt", param: "prompt")
        case .array:
            self.prompt = .tokens(try TokenIDs.parse(prompt, key: "prompt", vocabularySize: limits.vocabularySize))
        default:
            throw .badRequest("'prompt' must be a string or a list of token ids", param: "prompt")
        }
    }
}

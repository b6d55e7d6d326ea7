/// One chat message: a role (`system`, `user`, `assistant`) and its text.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }

    /// The messages of a chat request: roles system/user/assistant (`developer` is read as
    /// `system`), content a string, null or a list of text parts. Tool messages and tool calls are
    /// refused until tool calling is supported.
    static func list(_ fields: RequestFields, limits: RequestLimits) throws(APIError) -> [ChatMessage] {
        guard let items = try fields.array("messages", maxCount: limits.maxMessages) else {
            throw .badRequest("'messages' is required", param: "messages")
        }
        guard !items.isEmpty else { throw .badRequest("'messages' must be a non-empty list", param: "messages") }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(items.count)
        for item in items {
            guard case .object = item, let role = item["role"]?.string else {
                throw .badRequest("each message must be an object with a string 'role'", param: "messages")
            }
            guard ["system", "user", "assistant", "developer"].contains(role) else {
                throw .badRequest("unsupported message role '\(role)' (tool calling is not supported yet)", param: "messages")
            }
            if let calls = item["tool_calls"], calls != .null, calls != .array([]) {
                throw .badRequest("messages with 'tool_calls' are not supported yet", param: "messages")
            }
            let content: String
            switch item["content"] ?? .null {
            case .string(let text): content = text
            case .null: content = ""
            case .array(let parts):
                var texts: [String] = []
                for part in parts {
                    guard part["type"]?.string == "text", let text = part["text"]?.string else {
                        throw .badRequest("only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", param: "messages")
                    }
                    texts.append(text)
                }
                content = texts.joined(separator: "\n")
            default:
                throw .badRequest("message content must be a string or a list of text parts", param: "messages")
            }
            messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: content))
        }
        return messages
    }
}

import JSON

/// One chat message: a role (`system`, `user`, `assistant`, `tool`) and its text; an assistant
/// message may carry the tool calls it made, a tool message the id of the call it answers.
public struct ChatMessage: Sendable, Equatable {
    /// A call the assistant made, as the client sends it back in the history.
    public struct ToolCall: Sendable, Equatable {
        public var id: String
        public var name: String
        /// The arguments' JSON text, as OpenAI's `function.arguments`.
        public var arguments: String

        public init(id: String, name: String, arguments: String) {
            self.id = id
            self.name = name
            self.arguments = arguments
        }
    }

    public var role: String
    public var content: String
    public var toolCalls: [ToolCall]
    /// For a `tool` message: the call it answers.
    public var toolCallID: String?

    public init(role: String, content: String, toolCalls: [ToolCall] = [], toolCallID: String? = nil) {
        self.role = role
        self.content = content
        self.toolCalls = toolCalls
        self.toolCallID = toolCallID
    }

    /// The messages of a chat request: roles system/user/assistant/tool (`developer` is read as
    /// `system`), content a string, null or a list of text parts; assistant `tool_calls` and a tool
    /// message's `tool_call_id`.
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
            guard ["system", "user", "assistant", "developer", "tool"].contains(role) else {
                throw .badRequest("unsupported message role '\(role)'", param: "messages")
            }
            var message = ChatMessage(role: role == "developer" ? "system" : role, content: try content(item["content"] ?? .null))
            if let calls = item["tool_calls"], calls != .null {
                guard role == "assistant" else { throw .badRequest("only assistant messages may have 'tool_calls'", param: "messages") }
                message.toolCalls = try toolCalls(calls)
            }
            if role == "tool" {
                guard let id = item["tool_call_id"]?.string, id.utf8.count <= 256 else {
                    throw .badRequest("a tool message needs a string 'tool_call_id'", param: "messages")
                }
                message.toolCallID = id
            }
            messages.append(message)
        }
        return messages
    }

    private static func content(_ value: JSONValue) throws(APIError) -> String {
        switch value {
        case .string(let text): return text
        case .null: return ""
        case .array(let parts):
            var texts: [String] = []
            for part in parts {
                guard part["type"]?.string == "text", let text = part["text"]?.string else {
                    throw .badRequest("only text content parts ({\"type\": \"text\", \"text\": ...}) are supported", param: "messages")
                }
                texts.append(text)
            }
            return texts.joined(separator: "\n")
        default:
            throw .badRequest("message content must be a string or a list of text parts", param: "messages")
        }
    }

    private static func toolCalls(_ value: JSONValue) throws(APIError) -> [ToolCall] {
        let shape =
            "each of 'tool_calls' must be {\"id\": ..., \"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": \"<JSON text>\"}}"
        guard let items = value.array, items.count <= 128 else { throw .badRequest(shape, param: "messages") }
        var calls: [ToolCall] = []
        for item in items {
            guard let function = item["function"], let name = function["name"]?.string, ToolOptions.isValidName(name),
                item["type"]?.string ?? "function" == "function"
            else { throw .badRequest(shape, param: "messages") }
            // Clients send the arguments as JSON text; some send the object itself.
            let arguments: String
            switch function["arguments"] ?? .null {
            case .string(let text): arguments = text
            case .null: arguments = "{}"
            case let object: arguments = object.serialized
            }
            calls.append(ToolCall(id: item["id"]?.string ?? "call_\(calls.count)", name: name, arguments: arguments))
        }
        return calls
    }
}

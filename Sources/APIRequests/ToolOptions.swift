import JSON

/// A function the client offers the model (one item of `tools`).
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    public var description: String?
    /// The JSON Schema of its arguments (an empty object schema when the client gave none).
    public var parameters: JSONValue
    /// The tool as the chat template sees it: `{"type": "function", "function": {...}}`.
    public var json: JSONValue
}

/// `tool_choice`: whether and which function the model must call.
public enum ToolChoice: Sendable, Equatable {
    /// No call: the tools are not shown to the model.
    case none
    /// The model decides; calls it writes are returned as `tool_calls`.
    case auto
    /// At least one call, of any tool (the output is constrained to calls).
    case required
    /// One call of this function (constrained).
    case function(String)
}

/// The tool-calling fields of a chat request: `tools`, `tool_choice`, `parallel_tool_calls`.
public struct ToolOptions: Sendable, Equatable {
    public var tools: [ToolDefinition]
    public var choice: ToolChoice
    /// Whether several calls may come in one reply (OpenAI's default: true).
    public var parallel: Bool

    /// OpenAI's rule for function names.
    static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.utf8.count)
            && name.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
    }

    /// Reads the fields; nil when the request has no tools (or `tool_choice` `none` only).
    static func read(_ fields: RequestFields) throws(APIError) -> ToolOptions? {
        for key in ["functions", "function_call"] where fields.value(key) != nil {
            throw GenerationOptions.unsupported(key, "the deprecated function-calling fields; use 'tools' and 'tool_choice'")
        }
        let parallel = try fields.bool("parallel_tool_calls") ?? true
        var tools: [ToolDefinition] = []
        for (index, item) in (try fields.array("tools", maxCount: 128) ?? []).enumerated() {
            tools.append(try tool(item, index: index))
        }
        if let duplicate = Dictionary(grouping: tools, by: \.name).first(where: { $0.value.count > 1 })?.key {
            throw .badRequest("'tools' has two functions named '\(duplicate)'", param: "tools")
        }
        let choice = try self.choice(fields.value("tool_choice"), tools: tools)
        guard !tools.isEmpty, choice != .none else { return nil }
        return ToolOptions(tools: tools, choice: choice, parallel: parallel)
    }

    private static func tool(_ item: JSONValue, index: Int) throws(APIError) -> ToolDefinition {
        let param = "tools"
        let tool = try RequestFields(item, what: "'tools[\(index)]'", owner: param)
        try tool.rejectUnknown(["type", "function"], prefix: "tools[\(index)].")
        guard try tool.string("type") == "function" else {
            throw .badRequest("'tools[\(index)].type' must be 'function'", param: param)
        }
        guard let function = try tool.fields("function") else {
            throw .badRequest("'tools[\(index)].function' is required", param: param)
        }
        try function.rejectUnknown(["name", "description", "parameters", "strict"], prefix: "tools[\(index)].function.")
        guard let name = try function.string("name"), isValidName(name) else {
            throw .badRequest(
                "'tools[\(index)].function.name' must be 1 to 64 letters, digits, underscores or dashes", param: param)
        }
        let description = try function.string("description", maxBytes: 16_384)
        _ = try function.bool("strict")
        let parameters = function.value("parameters") ?? .object([("type", "object"), ("properties", .object([]))])
        guard case .object = parameters else {
            throw .badRequest("'tools[\(index)].function.parameters' must be a JSON Schema object", param: param)
        }
        var described: [(String, JSONValue)] = [("name", .string(name))]
        if let description { described.append(("description", .string(description))) }
        described.append(("parameters", parameters))
        return ToolDefinition(
            name: name, description: description, parameters: parameters,
            json: .object([("type", "function"), ("function", .object(described))]))
    }

    private static func choice(_ value: JSONValue?, tools: [ToolDefinition]) throws(APIError) -> ToolChoice {
        let param = "tool_choice"
        switch value {
        case nil: return tools.isEmpty ? .none : .auto
        case .string("none")?: return .none
        case .string("auto")?: return .auto
        case .string("required")?:
            guard !tools.isEmpty else { throw .badRequest("'tool_choice' 'required' needs 'tools'", param: param) }
            return .required
        case .object?:
            let named = try RequestFields(value ?? .null, what: "'tool_choice'", owner: param)
            try named.rejectUnknown(["type", "function"], prefix: "tool_choice.")
            guard try named.string("type") == "function", let function = try named.fields("function"),
                let name = try function.string("name")
            else {
                throw .badRequest(
                    "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}", param: param)
            }
            guard tools.contains(where: { $0.name == name }) else {
                throw .badRequest("'tool_choice' names the function '\(name)', which is not in 'tools'", param: param)
            }
            return .function(name)
        default:
            throw .badRequest(
                "'tool_choice' must be 'none', 'auto', 'required' or {\"type\": \"function\", \"function\": {\"name\": ...}}", param: param)
        }
    }
}

import APIRequests
import Grammar

/// The syntax a model writes tool calls in, read from its chat template, and what Tandem does to
/// show it the tools and read its calls back.
///
/// - `hermes`: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>` blocks (Hermes, Qwen 2.5
///   and 3, and the format Tandem teaches a model whose template has no tools);
/// - `llama3`: the whole reply one JSON object `{"name": …, "parameters": {…}}` (Llama 3.1 / 3.2;
///   the `<|python_tag|>` token is special and never reaches the text);
/// - `mistral`: a JSON list of `{"name": …, "arguments": {…}}` after the special `[TOOL_CALLS]`
///   token, which the text does not show either.
public enum ToolCallFormat: Sendable, Equatable {
    case hermes
    case llama3
    case mistral

    /// The format a template writes, and whether the template renders `tools` itself (else
    /// Tandem describes them in a system message and renders calls and results as text).
    public static func of(templateSource: String?) -> (format: ToolCallFormat, native: Bool) {
        guard let source = templateSource, source.contains("tools") else { return (.hermes, false) }
        if source.contains("[TOOL_CALLS]") { return (.mistral, true) }
        if source.contains("<tool_call>") { return (.hermes, true) }
        if source.contains("\"parameters\": ") || source.contains("<|python_tag|>") { return (.llama3, true) }
        return (.hermes, true)
    }

    /// The constraint for `tool_choice` `required` (any tool, several calls when `parallel`) or
    /// a named function (one call of it).
    public func constraint(for options: ToolOptions) -> OutputConstraint? {
        let functions: [ToolDefinition]
        switch options.choice {
        case .none, .auto: return nil
        case .required: functions = options.tools
        case .function(let name): functions = options.tools.filter { $0.name == name }
        }
        var shape = FunctionCallShape(functions: functions.map { .init(name: $0.name, parameters: $0.parameters) })
        let parallel = options.parallel && options.choice == .required
        switch self {
        case .hermes:
            shape.open = "<tool_call>\n"
            shape.close = "\n</tool_call>"
            shape.separator = "\n"
            shape.parallel = parallel
        case .llama3:
            shape.argumentsKey = "parameters"
        case .mistral:
            shape.prefix = "["
            shape.suffix = "]"
            shape.separator = ", "
            shape.parallel = parallel
        }
        return .functionCalls(shape)
    }

    /// The system-message text that describes `tools` to a model whose template cannot.
    static func instructions(for tools: [ToolDefinition]) -> String {
        var text = """
            You may call one or more functions to answer the user. The functions are described by these JSON \
            signatures within <tools></tools> tags:
            <tools>

            """
        for tool in tools { text += tool.json.serialized + "\n" }
        text += """
            </tools>
            To call a function, reply with a JSON object holding the function's name and arguments within \
            <tool_call></tool_call> tags, one block per call:
            <tool_call>
            {"name": <function name>, "arguments": <arguments as a JSON object>}
            </tool_call>
            """
        return text
    }
}

import JSON

/// How a model writes calls of the functions it is given (a tool-call syntax), as a constraint:
/// `prefix`, then one call or (with `parallel`) several separated by `separator`, then `suffix`;
/// each call is `open {"name": "<name>", "<argumentsKey>": <arguments>} close`, where the name is
/// one of `functions` and the arguments are valid under that function's JSON Schema.
///
/// The same shape describes Hermes / Qwen (`<tool_call>` blocks), Llama 3 (one bare JSON object
/// with `parameters`) and Mistral (a JSON list after `[TOOL_CALLS]`).
public struct FunctionCallShape: Sendable, Equatable {
    /// A function the model may call: its name and its parameters' schema.
    public struct Function: Sendable, Equatable {
        public var name: String
        public var parameters: JSONValue

        public init(name: String, parameters: JSONValue) {
            self.name = name
            self.parameters = parameters
        }
    }

    public var functions: [Function]
    public var prefix = ""
    public var open = ""
    public var argumentsKey = "arguments"
    public var close = ""
    public var separator = ""
    public var suffix = ""
    /// Whether several calls may follow one another.
    public var parallel = false

    public init(functions: [Function]) {
        self.functions = functions
    }

    /// The grammar of the calls; throws for a parameters schema it cannot honour.
    func compile() throws(GrammarError) -> Grammar {
        guard !functions.isEmpty else { throw GrammarError("no function to call") }
        var builder = GrammarBuilder()
        var alternatives: GrammarBuilder.Alternatives = []
        for (index, function) in functions.enumerated() {
            let arguments: [GrammarBuilder.Symbol]
            do {
                arguments = try JSONSchemaCompiler.symbols(for: function.parameters, namespace: "f\(index)", in: &builder)
            } catch {
                throw GrammarError("the parameters of function '\(function.name)': \(error.description)")
            }
            let head = #"{"name": "# + JSONText.serialize(.string(function.name)) + #", "# + JSONText.serialize(.string(argumentsKey)) + ": "
            alternatives.append(GrammarBuilder.literal(open + head) + arguments + GrammarBuilder.literal("}" + close))
        }
        let call = builder.add(alternatives, name: "call")
        let more = parallel ? builder.repeated(GrammarBuilder.literal(separator) + [.rule(call)], minimum: 0, maximum: nil) : []
        let root = builder.add([GrammarBuilder.literal(prefix) + [.rule(call)] + more + GrammarBuilder.literal(suffix)], name: "root")
        return try builder.build(root: root)
    }
}

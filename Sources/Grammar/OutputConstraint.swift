import JSON

/// What a request's output must match, in any of the forms clients send.
public enum OutputConstraint: Sendable, Equatable {
    /// Any JSON object (`response_format: {"type": "json_object"}`).
    case jsonObject
    /// A document valid under a JSON Schema (`response_format` `json_schema`, `guided_json`,
    /// llama.cpp's `json_schema`).
    case jsonSchema(JSONValue)
    /// Text matching a regular expression in full (`guided_regex`).
    case regex(String)
    /// Exactly one of the strings (`guided_choice`).
    case choice([String])
    /// A GBNF grammar (`guided_grammar`, llama.cpp's `grammar`).
    case grammar(String)
    /// Calls of the given functions in a model's tool-call syntax (`tool_choice` `required` or a
    /// named function).
    case functionCalls(FunctionCallShape)

    /// Compiles the constraint; throws for a schema, expression or grammar it cannot honour.
    public func compile() throws(GrammarError) -> Grammar {
        switch self {
        case .jsonObject: return JSONSchemaCompiler.anyObject()
        case .jsonSchema(let schema): return try JSONSchemaCompiler.compile(schema)
        case .regex(let pattern):
            var builder = GrammarBuilder()
            let body = try builder.regularExpression(pattern, encoding: .raw)
            let root = builder.add([body], name: "root")
            return try builder.build(root: root)
        case .choice(let options):
            guard !options.isEmpty else { throw GrammarError("guided_choice needs at least one choice") }
            var builder = GrammarBuilder()
            let root = builder.add(builder.factored(options.map { GrammarBuilder.literal($0) }, name: "choice"), name: "root")
            return try builder.build(root: root)
        case .grammar(let source): return try GBNFParser.parse(source)
        case .functionCalls(let shape): return try shape.compile()
        }
    }

    /// A key that is equal for equal constraints (for caches of compiled grammars).
    public var cacheKey: String {
        switch self {
        case .jsonObject: return "object"
        case .jsonSchema(let schema): return "schema:" + JSONText.serialize(schema)
        case .regex(let pattern): return "regex:" + pattern
        case .choice(let options): return "choice:" + JSONText.serialize(.array(options.map { .string($0) }))
        case .grammar(let source): return "gbnf:" + source
        case .functionCalls(let shape):
            let functions = shape.functions.map { JSONValue.array([.string($0.name), $0.parameters]) }
            let syntax = [shape.prefix, shape.open, shape.argumentsKey, shape.close, shape.separator, shape.suffix, shape.parallel ? "+" : "1"]
            return "calls:" + JSONText.serialize(.array(syntax.map { .string($0) } + functions))
        }
    }
}

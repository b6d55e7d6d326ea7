import Grammar
import JSON

/// The structured-output fields, in every form clients send them, read into one
/// `OutputConstraint` and compiled once here so that a schema, expression or grammar Tandem
/// cannot honour is a 400 naming its field:
///
/// - OpenAI: `response_format` `{"type": "json_object"}` or `{"type": "json_schema", "json_schema":
///   {"name", "schema", "strict"}}` (llama.cpp also reads a `schema` beside `json_object`);
/// - vLLM: `guided_json`, `guided_regex`, `guided_choice`, `guided_grammar`, and `structured_outputs`
///   with the keys `json`, `regex`, `choice`, `grammar`, `json_object`;
/// - llama.cpp: `grammar` (GBNF) and `json_schema`.
enum ConstraintFields {
    /// The request's constraint and the field it came from; at most one may be given.
    static func read(_ fields: RequestFields, limits: RequestLimits) throws(APIError) -> (OutputConstraint, field: String)? {
        var found: [(OutputConstraint, field: String)] = []
        if let format = try fields.fields("response_format") {
            try format.rejectUnknown(["type", "json_schema", "schema"], prefix: "response_format.")
            switch try format.string("type") {
            case "text"?: break
            case "json_object"?:
                if let schema = format.value("schema") {
                    found.append((.jsonSchema(schema), "response_format"))
                } else {
                    found.append((.jsonObject, "response_format"))
                }
            case "json_schema"?:
                guard let description = try format.fields("json_schema") else {
                    throw .badRequest("'response_format.json_schema' is required for type json_schema", param: "response_format")
                }
                try description.rejectUnknown(["name", "schema", "strict", "description"], prefix: "response_format.json_schema.")
                _ = try description.string("name", maxBytes: 256)
                _ = try description.string("description", maxBytes: 4096)
                _ = try description.bool("strict")
                found.append((description.value("schema").map { .jsonSchema($0) } ?? .jsonObject, "response_format"))
            case let other:
                throw .badRequest(
                    "'response_format.type' must be 'text', 'json_object' or 'json_schema', got '\(other ?? "nothing")'",
                    param: "response_format")
            }
        }
        if let constraint = try read(fields, prefix: "guided_", limits: limits) { found.append(constraint) }
        if let structured = try fields.fields("structured_outputs") {
            try structured.rejectUnknown(["json", "regex", "choice", "grammar", "json_object"], prefix: "structured_outputs.")
            if let constraint = try read(structured, prefix: "", limits: limits) { found.append((constraint.0, "structured_outputs")) }
            if try structured.bool("json_object") == true { found.append((.jsonObject, "structured_outputs")) }
        }
        if let source = try fields.string("grammar", maxBytes: limits.maxConstraintBytes) { found.append((.grammar(source), "grammar")) }
        if let schema = fields.value("json_schema") { found.append((.jsonSchema(schema), "json_schema")) }
        guard found.count <= 1 else {
            throw .badRequest(
                "only one structured-output constraint may be given, got \(found.map { "'\($0.field)'" }.joined(separator: " and "))",
                param: found[1].field)
        }
        guard let (constraint, field) = found.first else { return nil }
        do {
            _ = try constraint.compile()
        } catch {
            throw .badRequest("'\(field)': \(error.description)", param: field, code: "invalid_constraint")
        }
        return (constraint, field)
    }

    /// `json`, `regex`, `choice`, `grammar` under `prefix` (vLLM's `guided_*` or `structured_outputs`).
    private static func read(_ fields: RequestFields, prefix: String, limits: RequestLimits) throws(APIError) -> (OutputConstraint, field: String)? {
        var found: [(OutputConstraint, field: String)] = []
        if let schema = fields.value(prefix + "json") {
            // vLLM accepts the schema as an object or as its JSON text.
            if case .string(let text) = schema {
                guard text.utf8.count <= limits.maxConstraintBytes, let parsed = try? JSONValue.parse(Array(text.utf8)) else {
                    throw .badRequest("'\(prefix)json' must be a JSON schema", param: prefix + "json")
                }
                found.append((.jsonSchema(parsed), prefix + "json"))
            } else {
                found.append((.jsonSchema(schema), prefix + "json"))
            }
        }
        if let pattern = try fields.string(prefix + "regex", maxBytes: limits.maxConstraintBytes) {
            found.append((.regex(pattern), prefix + "regex"))
        }
        if let items = try fields.array(prefix + "choice", maxCount: limits.maxChoiceOptions) {
            var options: [String] = []
            for item in items {
                guard let text = item.string, text.utf8.count <= limits.maxConstraintBytes else {
                    throw .badRequest("'\(prefix)choice' must be a list of strings", param: prefix + "choice")
                }
                options.append(text)
            }
            found.append((.choice(options), prefix + "choice"))
        }
        if let source = try fields.string(prefix + "grammar", maxBytes: limits.maxConstraintBytes) {
            found.append((.grammar(source), prefix + "grammar"))
        }
        guard found.count <= 1 else {
            throw .badRequest("only one structured-output constraint may be given", param: found[1].field)
        }
        return found.first
    }
}

import Grammar
import Sampling

/// The generation parameters shared by `/v1/completions` and `/v1/chat/completions`, checked.
///
/// Every field has an explicit type and range (docs/api.md lists them). Sampling ranges are checked
/// by `SamplingParameters.validate`, the one place that knows them. Fields that would change the
/// output but are not implemented get a 400 naming them; fields that change nothing are accepted.
public struct GenerationOptions: Sendable {
    public var model: String?
    public var stream = false
    public var includeUsage = false
    /// Most generated tokens, at most the model's length (nil: what the context leaves).
    public var maxTokens: Int?
    /// The field `maxTokens` came from (`max_tokens` or `max_completion_tokens`).
    public var maxTokensField = "max_tokens"
    public var sampling = SamplingParameters()
    public var n = 1
    public var stop: [String] = []
    public var stopTokenIDs: [Int32] = []
    public var ignoreEOS = false
    /// Whether the server may speculate for this request (Tandem's `speculative`, default true;
    /// the output is the same either way).
    public var speculative = true
    /// Alternatives per token to report (nil: no log-probabilities).
    public var logprobs: Int?
    public var echo = false
    /// What the output must match, and the field that said so.
    public var constraint: OutputConstraint?
    public var constraintField: String?

    /// The fields both endpoints read.
    static let commonFields: Set<String> = [
        "model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k", "min_p", "n", "stop",
        "stop_token_ids", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty", "logit_bias",
        "ignore_eos", "logprobs", "user", "store", "metadata", "service_tier", "skip_special_tokens", "min_tokens",
        "include_stop_str_in_output", "response_format", "tools", "tool_choice", "parallel_tool_calls", "functions",
        "function_call", "guided_json", "guided_regex", "guided_choice", "guided_grammar", "guided_decoding_backend",
        "structured_outputs", "grammar", "json_schema", "echo", "speculative", "no_stop_trim", "return_hidden_states"
    ]

    /// Reads the common fields; `chat` selects the chat form of `logprobs` (a flag plus `top_logprobs`).
    public init(_ fields: RequestFields, chat: Bool, limits: RequestLimits) throws(APIError) {
        model = try fields.string("model", maxBytes: 1024)
        stream = try fields.bool("stream") ?? false
        if let options = try fields.fields("stream_options") {
            try options.rejectUnknown(["include_usage", "continuous_usage_stats"], prefix: "stream_options.")
            guard stream else { throw .badRequest("'stream_options' is only allowed when 'stream' is true", param: "stream_options") }
            includeUsage = try options.bool("include_usage") ?? false
            if try options.bool("continuous_usage_stats") == true {
                throw Self.unsupported("stream_options.continuous_usage_stats")
            }
        }
        let tokenRange = 1...max(limits.maxModelLength, 1)
        for key in chat ? ["max_tokens", "max_completion_tokens"] : ["max_tokens"] {
            // max_completion_tokens (the newer name) wins when both are given.
            if let value = try fields.integer(key, in: tokenRange) {
                maxTokens = value
                maxTokensField = key
            }
        }
        n = try fields.integer("n", in: 1...limits.maxChoices) ?? 1
        sampling = try Self.sampling(fields, limits: limits)

        if let stop = fields.value("stop") {
            let list: [JSONValue]
            switch stop {
            case .string: list = [stop]
            case .array(let items): list = items
            default: throw .badRequest("'stop' must be a string or a list of strings", param: "stop")
            }
            guard list.count <= limits.maxStopStrings else {
                throw .badRequest("at most \(limits.maxStopStrings) stop strings are supported", param: "stop")
            }
            for item in list {
                guard let text = item.string else { throw .badRequest("'stop' must be a string or a list of strings", param: "stop") }
                guard text.utf8.count <= limits.maxStopStringBytes else {
                    throw .badRequest("each stop string must be at most \(limits.maxStopStringBytes) bytes long", param: "stop")
                }
                if !text.isEmpty { self.stop.append(text) }
            }
        }
        if let ids = try fields.array("stop_token_ids", maxCount: limits.maxStopTokenIDs) {
            stopTokenIDs = try TokenIDs.parse(.array(ids), key: "stop_token_ids", vocabularySize: limits.vocabularySize)
        }
        ignoreEOS = try fields.bool("ignore_eos") ?? false
        speculative = try fields.bool("speculative") ?? true

        let range = 0...limits.maxLogprobs
        if chat {
            let top = try fields.integer("top_logprobs", in: range)
            if try fields.bool("logprobs") ?? false {
                logprobs = top ?? 0
            } else if top != nil {
                throw .badRequest("'top_logprobs' requires 'logprobs' to be true", param: "top_logprobs")
            }
            if try fields.bool("echo") == true { throw Self.unsupported("echo") }
        } else {
            if case .bool = fields.value("logprobs") ?? .null {
                throw .badRequest("'logprobs' must be an integer for completions", param: "logprobs")
            }
            logprobs = try fields.integer("logprobs", in: range)
            echo = try fields.bool("echo") ?? false
        }
        if let (constraint, field) = try ConstraintFields.read(fields, limits: limits) {
            self.constraint = constraint
            constraintField = field
        }
        try Self.checkNoOpFields(fields, limits: limits)
    }

    /// The sampling fields, range-checked by `SamplingParameters.validate`.
    static func sampling(_ fields: RequestFields, limits: RequestLimits) throws(APIError) -> SamplingParameters {
        /// A number in `key`'s range, checked as sent (before it is rounded to a Float).
        func number(_ key: String, _ value: JSONValue? = nil) throws(APIError) -> Float? {
            let number: Double
            if let value {
                guard let given = value.number else { throw .badRequest("'\(key)' values must be numbers", param: key) }
                number = given
            } else {
                guard let given = try fields.number(key) else { return nil }
                number = given
            }
            do { try SamplingParameters.check(key, number) } catch { throw .badRequest(error.message, param: key) }
            return Float(number)
        }
        var sampling = SamplingParameters()
        if let value = try number("temperature") { sampling.temperature = value }
        if let value = try number("top_p") { sampling.topP = value }
        if let value = try fields.integer("top_k") {
            guard value >= -1 else { throw .badRequest("'top_k' must be -1 or 0 (disabled) or positive, got \(value)", param: "top_k") }
            sampling.topK = max(value, 0)
        }
        if let value = try number("min_p") { sampling.minP = value }
        if let value = try number("presence_penalty") { sampling.presencePenalty = value }
        if let value = try number("frequency_penalty") { sampling.frequencyPenalty = value }
        if let value = try number("repetition_penalty") { sampling.repetitionPenalty = value }
        if let seed = try fields.integer("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        if let bias = try fields.fields("logit_bias") {
            guard bias.keys.count <= SamplingParameters.maxLogitBiasEntries else {
                throw .badRequest("'logit_bias' may have at most \(SamplingParameters.maxLogitBiasEntries) entries", param: "logit_bias")
            }
            for key in bias.keys {
                guard let token = Int32(key) else {
                    throw .badRequest("'logit_bias' keys must be token ids, got '\(key.prefix(32))'", param: "logit_bias")
                }
                sampling.logitBias[token] = try number("logit_bias", bias.object[key] ?? .null)
            }
        }
        do {
            try sampling.validate(vocabularySize: limits.vocabularySize)
        } catch {
            throw .badRequest(error.message, param: error.field)
        }
        return sampling
    }

    /// A 400 for a field that would change the output but is not implemented.
    static func unsupported(_ field: String, _ detail: String = "") -> APIError {
        .badRequest("'\(field)' is not supported\(detail.isEmpty ? "" : ": " + detail)", param: field, code: "unsupported_parameter")
    }

    /// Fields accepted only in the form that changes nothing (or not at all, until implemented).
    static func checkNoOpFields(_ fields: RequestFields, limits: RequestLimits) throws(APIError) {
        _ = try fields.string("user", maxBytes: 1024)
        _ = try fields.bool("store")
        _ = try fields.string("service_tier", maxBytes: 64)
        if let metadata = try fields.fields("metadata") {
            guard metadata.keys.count <= limits.maxObjectKeys else {
                throw .badRequest("'metadata' may have at most \(limits.maxObjectKeys) keys", param: "metadata")
            }
            for key in metadata.keys where metadata.object[key]?.string == nil || key.utf8.count > 64 {
                throw .badRequest("'metadata' must map keys of at most 64 bytes to strings", param: "metadata")
            }
        }
        if try fields.bool("skip_special_tokens") == false { throw unsupported("skip_special_tokens", "special tokens are always skipped") }
        if try fields.bool("include_stop_str_in_output") == true { throw unsupported("include_stop_str_in_output") }
        // SGLang's names, which SGLang's and vLLM's routers add to every request they forward.
        if try fields.bool("no_stop_trim") == true { throw unsupported("no_stop_trim", "stop strings are always trimmed") }
        if try fields.bool("return_hidden_states") == true { throw unsupported("return_hidden_states") }
        if let minTokens = try fields.integer("min_tokens"), minTokens != 0 { throw unsupported("min_tokens") }
        _ = try fields.string("guided_decoding_backend", maxBytes: 64)
    }
}

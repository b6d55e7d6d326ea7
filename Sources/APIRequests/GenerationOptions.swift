import Engine

/// The generation parameters shared by `/v1/completions` and `/v1/chat/completions`, checked.
struct GenerationOptions {
    var model: String?
    var stream = false
    var includeUsage = false
    var maxTokens: Int?
    var sampling = SamplingParameters()
    var n = 1
    var stop: [String] = []
    var ignoreEOS = false
    /// Alternatives per token to report (nil: no log-probabilities).
    var logprobs: Int?
    var echo = false

    /// Reads the common fields; `chat` selects the chat form of `logprobs` (a flag plus `top_logprobs`).
    init(_ fields: RequestFields, chat: Bool, configuration: ServerConfiguration) throws(APIError) {
        model = try fields.string("model")
        stream = try fields.bool("stream") ?? false
        if let options = fields.value("stream_options") {
            guard case .object = options else { throw .badRequest("'stream_options' must be an object", param: "stream_options") }
            includeUsage = try RequestFields(options).bool("include_usage") ?? false
        }
        let maxKey = fields.value("max_completion_tokens") != nil ? "max_completion_tokens" : "max_tokens"
        maxTokens = try fields.integer(maxKey)
        if let maxTokens, maxTokens < 1 {
            throw .badRequest("'\(maxKey)' must be at least 1, got \(maxTokens)", param: maxKey)
        }
        n = try fields.integer("n") ?? 1
        guard (1...configuration.maxChoices).contains(n) else {
            throw .badRequest("'n' must be in [1, \(configuration.maxChoices)], got \(n)", param: "n")
        }

        var sampling = SamplingParameters()
        if let value = try fields.number("temperature") {
            guard value >= 0 else { throw .badRequest("'temperature' must be >= 0, got \(value)", param: "temperature") }
            sampling.temperature = Float(value)
        }
        if let value = try fields.number("top_p") {
            guard value > 0, value <= 1 else { throw .badRequest("'top_p' must be in (0, 1], got \(value)", param: "top_p") }
            sampling.topP = Float(value)
        }
        if let value = try fields.integer("top_k") {
            guard value >= -1 else { throw .badRequest("'top_k' must be -1 (disabled) or positive, got \(value)", param: "top_k") }
            sampling.topK = max(value, 0)
        }
        if let value = try fields.number("min_p") {
            guard (0...1).contains(value) else { throw .badRequest("'min_p' must be in [0, 1], got \(value)", param: "min_p") }
            sampling.minP = Float(value)
        }
        for key in ["presence_penalty", "frequency_penalty"] {
            guard let value = try fields.number(key) else { continue }
            guard (-2...2).contains(value) else { throw .badRequest("'\(key)' must be in [-2, 2], got \(value)", param: key) }
            if key == "presence_penalty" { sampling.presencePenalty = Float(value) } else { sampling.frequencyPenalty = Float(value) }
        }
        if let value = try fields.number("repetition_penalty") {
            guard value > 0 else { throw .badRequest("'repetition_penalty' must be > 0, got \(value)", param: "repetition_penalty") }
            sampling.repetitionPenalty = Float(value)
        }
        if let seed = try fields.integer("seed") { sampling.seed = UInt64(bitPattern: Int64(seed)) }
        self.sampling = sampling

        if let stop = fields.value("stop") {
            switch stop {
            case .string(let text): self.stop = [text]
            case .array(let items):
                self.stop = try items.map { (item: JSONValue) throws(APIError) -> String in
                    guard let text = item.string else { throw .badRequest("'stop' must be a string or a list of strings", param: "stop") }
                    return text
                }
            default: throw .badRequest("'stop' must be a string or a list of strings", param: "stop")
            }
            self.stop = self.stop.filter { !$0.isEmpty }
            guard self.stop.count <= 16 else { throw .badRequest("at most 16 stop strings are supported", param: "stop") }
        }
        ignoreEOS = try fields.bool("ignore_eos") ?? false

        let range = 0...configuration.maxLogprobs
        if chat {
            let top = try fields.integer("top_logprobs", in: range)
            if try fields.bool("logprobs") ?? false {
                logprobs = top ?? 0
            } else if top != nil {
                throw .badRequest("'top_logprobs' requires 'logprobs' to be true", param: "top_logprobs")
            }
        } else {
            if case .bool = fields.value("logprobs") ?? .null {
                throw .badRequest("'logprobs' must be an integer for completions", param: "logprobs")
            }
            logprobs = try fields.integer("logprobs", in: range)
            echo = try fields.bool("echo") ?? false
        }
    }
}

/// How the next token is chosen from a sequence's logits.
///
/// The defaults sample from the full distribution at temperature 1; `temperature == 0` is greedy.
/// Penalties follow the OpenAI/vLLM definitions: `repetitionPenalty` divides positive logits (and
/// multiplies negative ones) of tokens seen in the prompt or output; `presencePenalty` subtracts a
/// constant from tokens seen in the output; `frequencyPenalty` subtracts per occurrence in the output.
/// `logitBias` is added to the named tokens' logits before anything else (OpenAI's `logit_bias`).
///
/// `validate(vocabularySize:)` is the one place where these ranges are checked: the server, the
/// CLI and the engine all call it, and `SamplingParameters.ranges` documents them.
public struct SamplingParameters: Sendable, Hashable {
    public var temperature: Float
    /// Keep only the `topK` most likely tokens; 0 or less (or the vocabulary size or more) disables.
    public var topK: Int
    /// Keep the smallest set of tokens whose probability mass reaches `topP`; 1 disables.
    public var topP: Float
    /// Drop tokens whose probability is below `minP` times the most likely token's; 0 disables.
    public var minP: Float
    public var repetitionPenalty: Float
    public var presencePenalty: Float
    public var frequencyPenalty: Float
    /// Added to the logits of the given token ids before penalties and sampling.
    public var logitBias: [Int32: Float]
    /// Seed of the sequence's random generator; nil draws one at random.
    public var seed: UInt64?

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        repetitionPenalty: Float = 1, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
        logitBias: [Int32: Float] = [:], seed: UInt64? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.seed = seed
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0)

    public var isGreedy: Bool { temperature <= 0 || topK == 1 }

    /// The valid ranges, by API field name (closed intervals; `top_p` excludes 0).
    public static let ranges: [(field: String, range: ClosedRange<Double>)] = [
        ("temperature", 0...100),
        ("top_p", 0...1),
        ("min_p", 0...1),
        ("repetition_penalty", 0.01...100),
        ("presence_penalty", -2...2),
        ("frequency_penalty", -2...2),
        ("logit_bias", -100...100)
    ]

    /// Most entries in `logitBias`.
    public static let maxLogitBiasEntries = 1024

    /// Checks that every value is in its valid range (NaN and infinities never are); the error names
    /// the first offending field. With `vocabularySize`, `logitBias` keys must be token ids.
    public func validate(vocabularySize: Int? = nil) throws(SamplingError) {
        try Self.check("temperature", temperature)
        try Self.check("top_p", topP)
        try Self.check("min_p", minP)
        try Self.check("repetition_penalty", repetitionPenalty)
        try Self.check("presence_penalty", presencePenalty)
        try Self.check("frequency_penalty", frequencyPenalty)
        guard logitBias.count <= Self.maxLogitBiasEntries else {
            throw SamplingError(
                field: "logit_bias", message: "logit_bias has \(logitBias.count) entries; at most \(Self.maxLogitBiasEntries) are allowed")
        }
        for (token, bias) in logitBias {
            try Self.check("logit_bias", bias)
            if let vocabularySize, token < 0 || Int(token) >= vocabularySize {
                throw SamplingError(field: "logit_bias", message: "logit_bias token id \(token) is outside the vocabulary (0..<\(vocabularySize))")
            }
        }
    }

    /// Checks one value against `field`'s range in the value's own precision: a request's Double
    /// 100.000001 is out of range for `temperature` although it rounds to the Float 100, and the
    /// Float nearest 0.01 is in range for `repetition_penalty` although it lies below the Double 0.01.
    /// `top_p` excludes 0; NaN and infinities are never in range.
    public static func check<Value: BinaryFloatingPoint>(_ field: String, _ value: Value) throws(SamplingError) {
        guard let range = ranges.first(where: { $0.field == field })?.range else { return }
        let low = Value(range.lowerBound), high = Value(range.upperBound)
        let excludesLow = field == "top_p"
        guard value.isFinite, value >= low, value <= high, !(excludesLow && value == low) else {
            let interval = (excludesLow ? "(" : "[") + "\(range.lowerBound), \(range.upperBound)]"
            throw SamplingError(field: field, message: "\(field) must be in \(interval), got \(value)")
        }
    }
}

/// A sampling parameter outside its valid range.
public struct SamplingError: Error, Equatable, CustomStringConvertible {
    /// The API name of the offending field (e.g. `top_p`).
    public var field: String
    /// What is wrong, starting with the field's name.
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}

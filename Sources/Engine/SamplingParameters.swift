/// How the next token is chosen from a sequence's logits.
///
/// The defaults sample from the full distribution at temperature 1; `temperature == 0` is greedy.
/// Penalties follow the OpenAI/vLLM definitions: `repetitionPenalty` divides positive logits (and
/// multiplies negative ones) of tokens seen in the prompt or output; `presencePenalty` subtracts a
/// constant from tokens seen in the output; `frequencyPenalty` subtracts per occurrence in the output.
public struct SamplingParameters: Sendable, Hashable {
    public var temperature: Float
    /// Keep only the `topK` most likely tokens; 0 or less disables.
    public var topK: Int
    /// Keep the smallest set of tokens whose probability mass reaches `topP`; 1 disables.
    public var topP: Float
    /// Drop tokens whose probability is below `minP` times the most likely token's; 0 disables.
    public var minP: Float
    public var repetitionPenalty: Float
    public var presencePenalty: Float
    public var frequencyPenalty: Float
    /// Seed of the sequence's random generator; nil draws one at random.
    public var seed: UInt64?

    public init(
        temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
        repetitionPenalty: Float = 1, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
        seed: UInt64? = nil
    ) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.seed = seed
    }

    /// Greedy decoding: always the most likely token.
    public static let greedy = SamplingParameters(temperature: 0)

    public var isGreedy: Bool { temperature <= 0 || topK == 1 }

    /// Checks that every value is in its valid range; the message names the first offending field.
    public func validate() throws(SamplingError) {
        guard temperature.isFinite, temperature >= 0 else { throw .outOfRange("temperature must be >= 0, got \(temperature)") }
        guard topP.isFinite, topP > 0, topP <= 1 else { throw .outOfRange("top_p must be in (0, 1], got \(topP)") }
        guard minP.isFinite, minP >= 0, minP <= 1 else { throw .outOfRange("min_p must be in [0, 1], got \(minP)") }
        guard repetitionPenalty.isFinite, repetitionPenalty > 0 else {
            throw .outOfRange("repetition_penalty must be > 0, got \(repetitionPenalty)")
        }
        guard presencePenalty.isFinite, abs(presencePenalty) <= 2 else {
            throw .outOfRange("presence_penalty must be in [-2, 2], got \(presencePenalty)")
        }
        guard frequencyPenalty.isFinite, abs(frequencyPenalty) <= 2 else {
            throw .outOfRange("frequency_penalty must be in [-2, 2], got \(frequencyPenalty)")
        }
    }
}

/// A sampling parameter outside its valid range.
public enum SamplingError: Error, Equatable, CustomStringConvertible {
    case outOfRange(String)
    public var description: String {
        switch self { case .outOfRange(let message): return message }
    }
}

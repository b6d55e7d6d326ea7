import Grammar

/// One request to the engine: a prompt, how to sample, and when to stop.
public struct GenerationRequest: Sendable {
    /// Caller-chosen identifier, used to abort the request.
    public var id: String
    public var promptTokens: [Int32]
    public var sampling: SamplingParameters
    /// Maximum number of generated tokens (at least 1); prompt + maxTokens must fit the context and the KV cache.
    public var maxTokens: Int
    /// Generate through end-of-generation tokens (EOS, end of turn) until `maxTokens`.
    public var ignoreEOS: Bool
    /// Token ids that end generation; the stop token itself is not part of the output.
    public var stopTokenIDs: Set<Int32>
    /// Strings that end generation; the match and anything after it never reach the output.
    public var stopStrings: [String]
    /// Number of most likely alternatives to report with each token's log-probability
    /// (nil: no log-probabilities).
    public var topLogprobs: Int?
    /// What the output must match (compiled by `Engine.constraint(_:)`); nil: anything.
    public var constraint: ConstraintRuntime?
    /// A thinking model's end-of-thinking token: the constraint applies only once it was generated.
    public var constraintStartsAfter: Int32?
    /// Whether the engine may speculate for this request when speculative decoding is on (the
    /// output is the same either way; only its speed differs).
    public var speculative = true

    public init(
        id: String, promptTokens: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int = 16,
        ignoreEOS: Bool = false, stopTokenIDs: Set<Int32> = [], stopStrings: [String] = [],
        topLogprobs: Int? = nil, constraint: ConstraintRuntime? = nil
    ) {
        self.id = id
        self.promptTokens = promptTokens
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.ignoreEOS = ignoreEOS
        self.stopTokenIDs = stopTokenIDs
        self.stopStrings = stopStrings
        self.topLogprobs = topLogprobs
        self.constraint = constraint
    }
}

/// What a request's stream yields.
public enum GenerationEvent: Sendable {
    /// Newly generated tokens and the text they completed (text may lag behind tokens while a
    /// multi-byte character or a possible stop string is incomplete).
    case output(GenerationOutput)
    /// The request ended; no more events follow.
    case finished(FinishReason, GenerationUsage)
}

/// A piece of a request's output.
public struct GenerationOutput: Sendable {
    public var tokenIDs: [Int32]
    public var text: String
    /// Log-probabilities of `tokenIDs` (when requested), one per token.
    public var logprobs: [TokenLogprob]
}

/// A generated token's log-probability and the most likely alternatives at its position.
public struct TokenLogprob: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public var top: [(token: Int32, logprob: Float)]

    public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
        a.token == b.token && a.logprob == b.logprob && a.top.elementsEqual(b.top) { $0 == $1 }
    }
}

/// Token counts and timing of a finished request.
public struct GenerationUsage: Sendable, Equatable {
    public var promptTokens: Int
    public var completionTokens: Int
    /// Prompt tokens whose keys and values came from the prefix cache.
    public var cachedPromptTokens: Int
    /// Seconds from submission to the first scheduled step.
    public var queueSeconds: Double
    /// Seconds from submission to the first output token (nil if none was produced).
    public var timeToFirstTokenSeconds: Double?
    /// Seconds from submission to the end.
    public var totalSeconds: Double
}

/// A request the engine refuses at submission.
public enum EngineError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    case invalidMaxTokens(Int)
    case tooLong(promptTokens: Int, maxTokens: Int, limit: Int, what: String)
    case invalidToken(Int32, vocabularySize: Int)
    case invalidSampling(String)
    case duplicateRequestID(String)
    case shuttingDown

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case .invalidMaxTokens(let n): return "max_tokens must be at least 1, got \(n)"
        case .tooLong(let prompt, let maxTokens, let limit, let what):
            return "the prompt (\(prompt) tokens) plus max_tokens (\(maxTokens)) exceeds the \(what) of \(limit) tokens"
        case .invalidToken(let token, let vocabularySize):
            return "token id \(token) is outside the vocabulary (0..<\(vocabularySize))"
        case .invalidSampling(let message): return message
        case .duplicateRequestID(let id): return "a request with id '\(id)' is already running"
        case .shuttingDown: return "the engine is shutting down"
        }
    }
}

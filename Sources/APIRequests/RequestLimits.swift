/// What a request is checked against: the model's vocabulary and context, and the server's caps.
public struct RequestLimits: Sendable {
    /// Token ids must be in `0..<vocabularySize`.
    public var vocabularySize: Int
    /// Largest prompt + completion, in tokens (`max_tokens` may not exceed it).
    public var maxModelLength: Int
    /// Largest `n`.
    public var maxChoices = 16
    /// Largest `logprobs` / `top_logprobs`.
    public var maxLogprobs = 20
    /// Most stop strings, and the longest one in UTF-8 bytes.
    public var maxStopStrings = 16
    public var maxStopStringBytes = 1024
    /// Most `stop_token_ids`.
    public var maxStopTokenIDs = 64
    /// Most chat messages in one request.
    public var maxMessages = 4096
    /// Most keys in `chat_template_kwargs` and `metadata`.
    public var maxObjectKeys = 64
    /// Longest regular expression, grammar or choice text (schemas are bounded by the body size).
    public var maxConstraintBytes = 65_536
    /// Most `guided_choice` options.
    public var maxChoiceOptions = 1024

    public init(vocabularySize: Int, maxModelLength: Int) {
        self.vocabularySize = vocabularySize
        self.maxModelLength = maxModelLength
    }
}

/// What the engine must know of the model it serves: the limits it checks requests against.
public struct ModelLimits: Sendable, Equatable {
    /// Positions the model was built for; prompt + max_tokens must fit.
    public var contextLength: Int
    /// Token ids run from 0 to `vocabularySize - 1`.
    public var vocabularySize: Int

    public init(contextLength: Int, vocabularySize: Int) {
        self.contextLength = contextLength
        self.vocabularySize = vocabularySize
    }
}

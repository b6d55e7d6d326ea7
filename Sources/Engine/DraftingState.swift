/// A decoding state that also drafts: any other state (sampling, constrained) plus an
/// `NGramDrafter` over the prompt and the accepted tokens.
///
/// The device asks it for drafts when it builds a step, appends them to the sequence's input, and
/// verifies them row by row with the wrapped state itself: each row is masked and chosen exactly as
/// a step without drafts would choose it, and the draft is kept only while it equals the choice.
/// For a deterministic drafter this is the standard acceptance rule (rejection sampling against a
/// one-hot draft distribution): the output has the target distribution, and with a seed it is the
/// very output of decoding without drafts.
public struct DraftingState: DecodingState {
    private var base: any DecodingState
    private var drafter: NGramDrafter

    /// Wraps `base` for a sequence whose prompt is `promptTokens`, drafting with n-grams of `sizes`.
    public init(base: any DecodingState, promptTokens: [Int32], sizes: ClosedRange<Int>) {
        self.base = base
        drafter = NGramDrafter(prompt: promptTokens, sizes: sizes)
    }

    public var lastToken: Int32? { base.lastToken }
    public var acceptedCount: Int { base.acceptedCount }

    public func mask(_ logits: UnsafeMutableBufferPointer<Float>) { base.mask(logits) }

    public mutating func choose(from logits: UnsafeMutableBufferPointer<Float>) -> Int32 { base.choose(from: logits) }

    public mutating func accept(_ token: Int32) {
        base.accept(token)
        drafter.append(token)
    }

    public mutating func rollBack(toAcceptedCount count: Int) {
        base.rollBack(toAcceptedCount: count)
        drafter.rollBack(toOutputCount: count)
    }

    public func draft(limit: Int) -> [Int32] { drafter.propose(limit: limit) }
}

extension DecodingState {
    /// Chooses a sequence's tokens from the logit rows of a step that verified `drafts`: row `i`
    /// (the logits after the input and the first `i` drafts) is masked, chosen and accepted exactly
    /// as a step without drafts would, and the next row counts only while the choice equals the
    /// draft. Calls `chosen` with each token and its row; returns how many drafts were accepted.
    public mutating func chooseVerifying(
        drafts: [Int32], row: (Int) -> UnsafeMutableBufferPointer<Float>,
        chosen: (Int32, UnsafeMutableBufferPointer<Float>) -> Void
    ) -> Int {
        var accepted = 0
        while true {
            let logits = row(accepted)
            mask(logits)
            let token = choose(from: logits)
            accept(token)
            chosen(token, logits)
            guard accepted < drafts.count, drafts[accepted] == token else { return accepted }
            accepted += 1
        }
    }
}

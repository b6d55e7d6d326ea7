/// Speculative decoding: each decoding sequence's device state drafts tokens from n-gram matches
/// in its prompt and output (`DraftingState`), and the next step verifies them as extra positions
/// of the sequence, so one read of the weights can yield several tokens.
///
/// Drafting pays only where a step is bound by reading the weights. A step that verifies `k > 0`
/// drafts takes `1 + draftCost + tokenCost·k` times a one-token step (`tandem bench verify`
/// measures both; `Speculation.measuredCosts` does at start), and a sequence whose drafts are each
/// accepted with probability `rate` yields `E(k) = 1 + rate + ... + rate^k` tokens. For a step of
/// `B` decodes the scheduler gives a sequence the `k` that maximizes the step's tokens per time,
/// `(B - 1 + E(k)) / (1 + tokenCost (B - 1) + [k > 0] draftCost + tokenCost k)`: none when the batch
/// is large (the step is bound by computing, not reading) or the drafts are rarely accepted.
public struct Speculation: Sendable, Equatable {
    /// The n-gram sizes the drafter matches, longest first.
    public var ngramSizes: ClosedRange<Int> = 2...5
    /// Drafts one sequence verifies in one step at most.
    public var maxDraftTokens = 8
    /// What verifying any drafts adds to a one-token step beyond their tokens, as a fraction of
    /// that step (a second logit row, kernels for several tokens).
    public var draftCost = 0.1
    /// What one more token adds to a one-token decode step, as a fraction of that step.
    public var tokenCost = 0.3

    public init() {}

    /// How many drafts a sequence whose drafts are accepted at `rate` verifies in a step with
    /// `decodingSequences` decodes.
    func draftLength(acceptanceRate rate: Double, decodingSequences: Int) -> Int {
        let others = Double(max(decodingSequences, 1) - 1)
        let base = 1 + tokenCost * others
        var best = 0
        var bestRate = (others + 1) / base
        var expected = 1.0, power = 1.0
        for k in stride(from: 1, through: maxDraftTokens, by: 1) {
            power *= rate
            expected += power
            let tokensPerTime = (others + expected) / (base + draftCost + tokenCost * Double(k))
            if tokensPerTime > bestRate {
                best = k
                bestRate = tokensPerTime
            }
        }
        return best
    }
}

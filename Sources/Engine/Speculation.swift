import Foundation

/// Speculative decoding: each decoding sequence's device state drafts tokens from n-gram matches
/// in its prompt and output (`DraftingState`), and the next step verifies them as extra positions
/// of the sequence, so one read of the weights can yield several tokens.
///
/// Drafting pays only where a step is bound by reading the weights. The scheduler asks for draft
/// `j` of a sequence only while its expected worth, the probability that drafts 1...j are all
/// accepted, `rate^j`, exceeds what one more token costs: `share = c·B / (1 + c·B)`, the fraction of
/// the step's time a token takes, with `c = tokenCost` and `B` the step's decoding sequences. A
/// large batch is compute-bound (`share` near 1) and drafts nothing.
public struct Speculation: Sendable, Equatable {
    /// The n-gram sizes the drafter matches, longest first.
    public var ngramSizes: ClosedRange<Int> = 2...4
    /// Drafts one sequence verifies in one step at most.
    public var maxDraftTokens = 8
    /// What one more token adds to a one-token decode step, as a fraction of that step
    /// (`tandem bench verify` measures it for a model).
    public var tokenCost = 0.05

    public init() {}

    /// How many drafts a sequence whose drafts are accepted at `rate` verifies in a step with
    /// `decodingSequences` decodes.
    func draftLength(acceptanceRate rate: Double, decodingSequences: Int) -> Int {
        let cost = tokenCost * Double(max(decodingSequences, 1))
        let share = cost / (1 + cost)
        guard rate > share else { return 0 }
        guard rate < 1, share > 0 else { return maxDraftTokens }
        return min(maxDraftTokens, max(0, Int((log(share) / log(rate)).rounded(.down))))
    }
}

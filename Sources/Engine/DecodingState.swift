/// What a device keeps for one sequence between steps, besides its KV cache: everything that
/// decides the sequence's next token from its logits.
///
/// The engine creates a sequence's state when the sequence first samples and hands it to the
/// device inside that step (`DeviceStep.Entry.newState`); from then on only the device touches it,
/// so a step never waits for the host to choose a token. Per sampled position the device calls
/// `mask`, then `choose`, then `accept`. When a preempted sequence is readmitted the device rolls
/// the state back to the tokens the host collected, and it drops the state when the engine
/// releases the sequence.
///
/// `SamplingState` (penalties, seeded generator, last token) is the implementation every request
/// gets today. Structured output wraps it with a grammar whose `mask` forbids tokens the grammar
/// cannot accept and whose `accept` advances the grammar; `DraftingState` adds drafts for
/// speculative decoding, verified in the next step as extra positions of the sequence.
/// Invariant "per-sequence device state travels with the sampler".
public protocol DecodingState: Sendable {
    /// The token accepted most recently: the input of the sequence's next decode.
    var lastToken: Int32? { get }
    /// Tokens accepted so far.
    var acceptedCount: Int { get }
    /// Restricts the next token's logits in place (e.g. sets forbidden tokens to -infinity).
    func mask(_ logits: UnsafeMutableBufferPointer<Float>)
    /// Chooses the next token from the (masked) logits. The row holds the same values afterwards.
    mutating func choose(from logits: UnsafeMutableBufferPointer<Float>) -> Int32
    /// Advances past a token that became part of the output.
    mutating func accept(_ token: Int32)
    /// Returns to the state right after the first `count` accepted tokens (no change if `count`
    /// is not below `acceptedCount`): later choices are then those of a state that never saw the
    /// forgotten tokens.
    mutating func rollBack(toAcceptedCount count: Int)
    /// Up to `limit` tokens this state expects to follow the accepted ones (speculative decoding's
    /// drafts, which the step then verifies); empty when it has no guess.
    func draft(limit: Int) -> [Int32]
}

extension DecodingState {
    /// No restriction: every token may follow.
    public func mask(_ logits: UnsafeMutableBufferPointer<Float>) {}

    /// No drafts: one token per step.
    public func draft(limit: Int) -> [Int32] { [] }
}

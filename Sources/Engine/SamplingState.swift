/// The decoding state of a plain request: its `Sampler` (logit bias, penalties over the prompt and
/// the accepted tokens, seeded generator) and the tokens it accepted.
///
/// Rolling back replays the kept tokens into a copy of the initial sampler and moves its
/// generator to where it stood after the last kept token, so the choices that follow are exactly
/// those of a state that never saw the forgotten tokens.
public struct SamplingState: DecodingState {
    private let initial: Sampler
    private var sampler: Sampler
    private var accepted: [Int32] = []
    /// The sampler's draw count after each accepted token.
    private var drawsAfter: [Int] = []

    public init(parameters: SamplingParameters, promptTokens: [Int32]) {
        initial = Sampler(parameters: parameters, promptTokens: promptTokens)
        sampler = initial
    }

    public var lastToken: Int32? { accepted.last }
    public var acceptedCount: Int { accepted.count }

    public mutating func choose(from logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        sampler.sample(logits)
    }

    public mutating func accept(_ token: Int32) {
        sampler.accept(token)
        accepted.append(token)
        drawsAfter.append(sampler.draws)
    }

    public mutating func rollBack(toAcceptedCount count: Int) {
        guard count >= 0, count < accepted.count else { return }
        sampler = initial
        for token in accepted[..<count] { sampler.accept(token) }
        sampler.skipDraws(count > 0 ? drawsAfter[count - 1] : 0)
        accepted.removeSubrange(count...)
        drawsAfter.removeSubrange(count...)
    }
}

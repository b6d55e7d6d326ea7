import Grammar

/// The decoding state of a request whose output must match a grammar: a `SamplingState` whose
/// choices are limited, token by token, to those the grammar accepts next.
///
/// `mask` sets every other token's logit to -infinity, so greedy, temperature, top-k/p/min-p and
/// the reported log-probabilities all see the masked distribution. End of text is allowed only
/// where the grammar accepts a complete document. The grammar's state advances here, on the
/// device side, with the sampled token: the host never waits for it.
public struct ConstrainedState: DecodingState {
    private var sampling: SamplingState
    private let runtime: ConstraintRuntime
    private let matcher: GrammarMatcher
    private let endOfText: Set<Int32>
    private let startsAfter: Int32?
    /// Tokens accepted before the grammar started (nil while a thinking model still thinks).
    private var grammarStart: Int?

    /// A state for a request sampled with `parameters` after `promptTokens`, whose output must
    /// match `runtime`'s grammar and then end with one of `endOfText`. With `startsAfter` (a
    /// thinking model's `</think>`), the output is free until that token and constrained after it.
    public init(
        parameters: SamplingParameters, promptTokens: [Int32], runtime: ConstraintRuntime, endOfText: Set<Int32>,
        startsAfter: Int32? = nil
    ) {
        sampling = SamplingState(parameters: parameters, promptTokens: promptTokens)
        self.runtime = runtime
        matcher = runtime.makeMatcher()
        self.endOfText = endOfText
        self.startsAfter = startsAfter
        grammarStart = startsAfter == nil ? 0 : nil
    }

    public var lastToken: Int32? { sampling.lastToken }
    public var acceptedCount: Int { sampling.acceptedCount }

    public func mask(_ logits: UnsafeMutableBufferPointer<Float>) {
        guard grammarStart != nil else { return }  // still thinking
        let allowed = runtime.mask(for: matcher)
        let accepting = matcher.isAccepting
        // A dead end (nothing allowed, document incomplete) cannot come from a valid grammar; end
        // the text there rather than choose a forbidden token.
        let ending = accepting || allowed.population == 0
        // End of text keeps its logit where it is allowed; the mask clears everything else.
        let kept = ending ? endOfText.filter { $0 >= 0 && Int($0) < logits.count }.map { ($0, logits[Int($0)]) } : []
        allowed.words.withUnsafeBufferPointer { words in
            // A word at a time: most words of a mask are all allowed or all forbidden.
            for word in 0..<((logits.count + 63) / 64) {
                let bits = word < words.count ? words[word] : 0
                let start = word * 64
                let end = min(start + 64, logits.count)
                if bits == ~0 { continue }
                if bits == 0 {
                    for index in start..<end { logits[index] = -.infinity }
                    continue
                }
                for index in start..<end where bits & (1 << UInt64(index & 63)) == 0 { logits[index] = -.infinity }
            }
        }
        for (token, logit) in kept { logits[Int(token)] = logit }
    }

    public mutating func choose(from logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        sampling.choose(from: logits)
    }

    public mutating func accept(_ token: Int32) {
        sampling.accept(token)
        guard grammarStart != nil else {
            if token == startsAfter { grammarStart = sampling.acceptedCount }
            return
        }
        let index = Int(token)
        let bytes = index >= 0 && index < runtime.trie.tokenBytes.count && !endOfText.contains(token) ? runtime.trie.tokenBytes[index] : []
        matcher.accept(bytes)
    }

    public mutating func rollBack(toAcceptedCount count: Int) {
        sampling.rollBack(toAcceptedCount: count)
        guard let start = grammarStart else { return }
        if count < start && startsAfter != nil {
            grammarStart = nil
            matcher.rollBack(toAcceptedCount: 0)
        } else {
            matcher.rollBack(toAcceptedCount: count - start)
        }
    }
}

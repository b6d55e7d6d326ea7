/// How likely one drafted token of a sequence is to be accepted, estimated from its recent steps.
///
/// Drafts are verified in order and the first rejection ends a step's run, so a step that accepted
/// `a` of `d` drafts saw `a` acceptances and, if `a < d`, one rejection. Both counts decay by
/// `decay` per step of the sequence (recent steps weigh more), and the estimate is their ratio with
/// a prior worth two observations at `prior` (about what n-gram drafts of ordinary text measured,
/// docs/benchmarks.md): a new sequence tries drafting, and one that stopped after a bad stretch
/// tries again some fifty steps later.
struct AcceptanceEstimate {
    static let decay = 0.95
    static let prior = 0.8
    private var acceptances = 0.0
    private var rejections = 0.0

    /// The probability that a drafted token is accepted, given the ones before it were.
    var rate: Double { (acceptances + 2 * Self.prior) / (acceptances + rejections + 2) }

    /// Records one step of the sequence (`drafted` 0: a step without drafts, which only decays).
    mutating func record(drafted: Int, accepted: Int) {
        acceptances = acceptances * Self.decay + Double(accepted)
        rejections = rejections * Self.decay + (accepted < drafted ? 1 : 0)
    }
}

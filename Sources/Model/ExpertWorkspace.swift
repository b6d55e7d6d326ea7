/// Work buffers of the mixture-of-experts feed-forward (``ExpertWeights/apply``), grown to the largest
/// step seen and reused.
///
/// `@unchecked Sendable`: used only by the serialized forward pass and its worker-pool jobs, which
/// write disjoint ranges.
final class ExpertWorkspace: @unchecked Sendable {
    /// Router logits, then probabilities: `tokens × experts`.
    private(set) var probabilities = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Per token and slot (`tokens × used`): the expert chosen, its weight, and the row of its
    /// output in `expertOutput` (rows are grouped by expert, tokens in batch order within one).
    private(set) var selected = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    private(set) var weights = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var outputRow = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    /// For each row of `expertOutput`, the token whose input it is (`tokens × used`).
    private(set) var rowToken = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    /// Rows per expert, and the first row of each expert (`experts + 1`).
    private(set) var counts = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    private(set) var starts = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    /// One expert's gathered input rows (`tokens × width`).
    private(set) var gathered = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// One expert's gate, up (`tokens × feed-forward` each), fused gate/up (`tokens × 2 feed-forward`)
    /// and gated product (`tokens × feed-forward`).
    private(set) var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var staging = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var product = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// Every expert's down output, one row per (token, slot) grouped by expert (`tokens × used × width`).
    private(set) var expertOutput = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// The weighted sum per token (`tokens × width`).
    private(set) var output = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private var tokenCapacity = 0
    private var shape = (experts: 0, used: 0, width: 0, feedForward: 0)

    deinit { deallocate() }

    private func deallocate() {
        probabilities.deallocate()
        selected.deallocate()
        weights.deallocate()
        outputRow.deallocate()
        rowToken.deallocate()
        counts.deallocate()
        starts.deallocate()
        for buffer in [gathered, gate, up, staging, product, expertOutput, output] { buffer.deallocate() }
    }

    /// Makes room for `tokens` tokens of a model with these shapes.
    func reserve(tokens: Int, experts: Int, used: Int, width: Int, feedForward: Int) {
        let wanted = (experts: experts, used: used, width: width, feedForward: feedForward)
        guard tokens > tokenCapacity || wanted != shape else { return }
        deallocate()
        let n = max(tokens, tokenCapacity * 2, 1)
        probabilities = .allocate(capacity: n * experts)
        selected = .allocate(capacity: n * used)
        weights = .allocate(capacity: n * used)
        outputRow = .allocate(capacity: n * used)
        rowToken = .allocate(capacity: n * used)
        counts = .allocate(capacity: experts + 1)
        starts = .allocate(capacity: experts + 1)
        gathered = .allocate(capacity: n * width)
        gate = .allocate(capacity: n * feedForward)
        up = .allocate(capacity: n * feedForward)
        staging = .allocate(capacity: n * 2 * feedForward)
        product = .allocate(capacity: n * feedForward)
        expertOutput = .allocate(capacity: n * used * width)
        output = .allocate(capacity: n * width)
        tokenCapacity = n
        shape = wanted
    }
}

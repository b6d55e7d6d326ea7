/// The host's view of one sequence: its tokens, how far its KV cache is computed, its blocks.
///
/// Counts include work that is submitted but not collected: `computedTokens` counts tokens whose
/// keys and values are written by a completed or an in-flight step, and `pendingSamples` the
/// in-flight steps that sample it, whose tokens the host has not seen yet. With speculative
/// decoding a step yields its sample and the drafts it accepted, which only the device knows until
/// the step is collected: while one is in flight, `computedTokens` and `pendingSamples` are lower
/// bounds and `pendingDrafts` bounds what they may add.
final class SequenceState {
    enum Status { case waiting, running, finished }

    let id: Int
    /// Order of arrival; the newest running sequence is preempted first.
    let arrival: Int
    let promptCount: Int
    let maxTokens: Int
    /// Prompt followed by the collected output tokens.
    private(set) var tokens: [Int32]
    var status: Status = .waiting
    var computedTokens = 0
    var pendingSamples = 0
    /// Drafts the in-flight steps may have accepted beyond their samples.
    var pendingDrafts = 0
    /// Whether the device drafts for this sequence (speculative decoding is on and the request allows it).
    var speculates = false
    /// How often this sequence's drafts are accepted (for choosing how many to verify).
    var acceptance = AcceptanceEstimate()
    /// Physical block of each logical block; `BlockManager.hole` before `firstHeldBlock`.
    var blockTable: [Int32] = []
    /// Blocks before this index were released: they lie before every position the sequence's
    /// next steps attend to (a sliding window on every layer). 0 without a window.
    var firstHeldBlock = 0
    /// With a split cache, the local layers' blocks for the same logical blocks, and the first
    /// one not released behind their window (`BlockManager.hole` before it). Empty otherwise.
    var localBlockTable: [Int32] = []
    var localFirstHeldBlock = 0
    /// Full blocks registered in the prefix cache, and the hash of the last of them.
    var registeredBlocks = 0
    var lastBlockHash: UInt64?
    /// Whether the device holds this sequence's `DecodingState`.
    var hasDecodingState = false
    /// Set when a preempted sequence is admitted again, until its next step is dispatched.
    var readmitted = false
    /// Prompt tokens served from the prefix cache at first admission.
    var cachedPromptTokens = 0
    var preemptions = 0

    init(id: Int, arrival: Int, prompt: [Int32], maxTokens: Int) {
        self.id = id
        self.arrival = arrival
        self.tokens = prompt
        self.promptCount = prompt.count
        self.maxTokens = maxTokens
    }

    var outputCount: Int { tokens.count - promptCount }

    /// Tokens the sequence will have once every in-flight sample is collected.
    var generatedIncludingPending: Int { outputCount + pendingSamples }

    /// Whether one more token may be sampled without exceeding `maxTokens`.
    /// Invariant "finish one step late": samples in flight count, so nothing runs past `maxTokens`.
    var canSample: Bool { generatedIncludingPending < maxTokens }

    /// Whether the sequence's next work is a decode: one token to compute, known or pending.
    var isDecoding: Bool { uncomputedTokens + pendingSamples == 1 && uncomputedTokens <= 1 }

    /// Known tokens whose keys and values are not computed yet.
    var uncomputedTokens: Int { tokens.count - computedTokens }

    /// Drops every block (the caller released them) and the progress they held.
    func clearBlocks() {
        blockTable = []
        firstHeldBlock = 0
        localBlockTable = []
        localFirstHeldBlock = 0
        computedTokens = 0
        registeredBlocks = 0
        lastBlockHash = nil
    }

    /// Appends a token collected from a step (its sample or an accepted draft).
    func appendCollected(_ token: Int32) {
        tokens.append(token)
    }

    /// Accounts for an in-flight step collected for this sequence: it had `draftLimit` draft slots,
    /// and the device accepted `accepted` drafts, whose keys and values it kept (unless the
    /// sequence was preempted since the step was planned with `preemptions`: its KV is gone).
    func stepCollected(draftLimit: Int, drafted: Int, accepted: Int, preemptions plannedPreemptions: Int) {
        pendingSamples -= 1
        pendingDrafts -= draftLimit
        if preemptions == plannedPreemptions { computedTokens += accepted }
        acceptance.record(drafted: drafted, accepted: accepted)
    }
}

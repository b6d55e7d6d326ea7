/// Decides what each step computes: decodes first, then prefill chunks in arrival order, within
/// a token budget and a sequence cap; admits waiting sequences when blocks allow and preempts the
/// newest running sequence when they run out.
///
/// A plain state machine over `SequenceState`s and a `BlockManager`: no threads, no model. In
/// asynchronous mode it schedules a decoding sequence whose last token is still being sampled by
/// an in-flight step, with a reference to that token instead of its value.
///
/// When every layer of the model attends only to a sliding window, a sequence's blocks that lie
/// entirely before the window of the first token it computes are released as it advances, so a
/// long sequence holds about `window / blockSize` blocks (`releaseBlocksOutsideWindow`,
/// `blocksHeld(window:chunk:blockSize:)`).
///
/// With a split cache (a model with interleaved local and global layers, `KVCacheLayout.localPool`)
/// each sequence has two block tables over two pools: the global table holds every block, the
/// local table the same logical blocks less those behind the local layers' window, released by
/// the same rule. A step reserves in both pools; a sequence is preempted when either runs short.
struct Scheduler {
    struct Configuration: Sendable {
        var maxBatchTokens: Int
        var maxSequences: Int
        var asynchronous: Bool
        /// The model's window when every layer has one (`KVCacheLayout.attentionWindow`), else nil.
        var attentionWindow: Int? = nil
        /// The local layers' window with a split cache (`KVCacheLayout.LocalPool.window`), else nil.
        var localWindow: Int? = nil
        /// Speculative decoding's draft policy; nil: off.
        var speculation: Speculation? = nil
    }

    /// One sequence's part of a scheduled step.
    struct Work {
        let sequence: SequenceState
        /// Known tokens to compute: `sequence.tokens[firstPosition ..< firstPosition + count]`.
        let knownTokens: Range<Int>
        /// Whether the input also includes the sample pending from the previous step.
        let usesPendingSample: Bool
        let samples: Bool
        /// Drafts the device may verify after the input (speculative decoding).
        var draftLimit = 0
        /// The sequence's preemptions when this was planned: KV a step computed for a sequence
        /// preempted since is gone.
        let preemptions: Int
        var firstPosition: Int { knownTokens.lowerBound }
        var tokenCount: Int { knownTokens.count + (usesPendingSample ? 1 : 0) }
        /// Tokens the step may compute for this sequence: its input and the drafts.
        var maxTokenCount: Int { tokenCount + draftLimit }
        /// The position after the last one the step may write, with the drafts the sequence's
        /// in-flight steps may have accepted before it.
        var reachEnd: Int { firstPosition + maxTokenCount + sequence.pendingDrafts }
        /// One token past the prompt: the next step of a generation.
        var isDecode: Bool { tokenCount == 1 && firstPosition >= sequence.promptCount }
    }

    let configuration: Configuration
    private(set) var blocks: BlockManager
    /// The local layers' pool of a split cache (its window is `configuration.localWindow`), else nil.
    private(set) var localBlocks: BlockManager?
    private(set) var waiting: [SequenceState] = []
    private(set) var running: [SequenceState] = []
    private(set) var preemptionCount = 0
    /// Blocks released because they fell out of the window of every layer (see `attentionWindow`),
    /// or, with a split cache, of the local layers' pool behind their window.
    private(set) var blocksReleasedBehindWindow = 0

    init(configuration: Configuration, blocks: BlockManager, localBlocks: BlockManager? = nil) {
        self.configuration = configuration
        self.blocks = blocks
        self.localBlocks = configuration.localWindow == nil ? nil : localBlocks
    }

    var hasUnfinishedSequences: Bool { !waiting.isEmpty || !running.isEmpty }

    mutating func add(_ sequence: SequenceState) {
        waiting.append(sequence)
    }

    /// Plans step `stepID`. `lastSubmittedStep` is the newest step that may still be computing:
    /// blocks given up now stay reserved until it completes.
    mutating func schedule(lastSubmittedStep: Int?) -> [Work] {
        var work: [Work] = []
        var budget = configuration.maxBatchTokens
        var scheduled = Set<Int>()

        // 1. Running sequences: decodes first, then unfinished prefills (a prefill chunk could
        // otherwise take the budget a decode needs), each group in running order.
        let decoding = running.filter(\.isDecoding)
        let decodesFirst = decoding + running.filter { !$0.isDecoding }
        for (index, sequence) in decodesFirst.enumerated() where budget > 0 {
            // Drafts never take the budget of a decode planned after this one.
            let laterDecodes = max(decoding.count - index - 1, 0)
            // Retry after each preemption; stop when scheduled, waiting for blocks, or preempted itself.
            while sequence.status == .running, var planned = plan(sequence, budget: budget) {
                planned.draftLimit = draftLimit(planned, budget: budget - laterDecodes, decodingSequences: decoding.count)
                var reserved = reserveBlocks(for: planned, lastSubmittedStep: lastSubmittedStep)
                if !reserved && planned.draftLimit > 0 {
                    planned.draftLimit = 0  // short of blocks: drafts are the first thing to go
                    reserved = reserveBlocks(for: planned, lastSubmittedStep: lastSubmittedStep)
                }
                if reserved {
                    commit(planned)
                    work.append(planned)
                    scheduled.insert(sequence.id)
                    budget -= planned.maxTokenCount
                    break
                }
                // Out of blocks. If steps in flight will return enough, wait for them; else preempt
                // the newest running sequence not scheduled in this step.
                let needed = blocks.blocksNeeded(forTokens: planned.reachEnd) - sequence.blockTable.count
                let short = [blocks, localBlocks].contains { $0.map { $0.freeBlockCount + $0.deferredBlockCount < needed } ?? false }
                guard short,
                    let victim = running.filter({ !scheduled.contains($0.id) }).max(by: { $0.arrival < $1.arrival })
                else { break }
                preempt(victim, lastSubmittedStep: lastSubmittedStep)
                running.removeAll { $0 === victim }
            }
        }

        // 2. Admit waiting sequences in arrival order while budget, sequence cap and blocks allow.
        while budget > 0, running.count < configuration.maxSequences, let sequence = waiting.first {
            // A preempted sequence waits until its in-flight samples are collected.
            guard sequence.pendingSamples == 0 else { break }
            // Under a window a hit needs only the cached blocks in the window of its end; the
            // blocks before it come back as holes.
            let shared = sequence.computedTokens == 0 && sequence.blockTable.isEmpty ? acquireCachedPrefix(sequence) : []
            if !shared.isEmpty {
                sequence.blockTable = shared
                sequence.firstHeldBlock = shared.firstIndex { $0 != BlockManager.hole } ?? shared.count
                sequence.localFirstHeldBlock =
                    sequence.localBlockTable.firstIndex { $0 != BlockManager.hole } ?? sequence.localBlockTable.count
                sequence.computedTokens = shared.count * blocks.blockSize
                sequence.registeredBlocks = shared.count
                sequence.lastBlockHash = blocks.blockHashes(Array(sequence.tokens.prefix(shared.count * blocks.blockSize))).last
            }
            if sequence.preemptions == 0 { sequence.cachedPromptTokens = sequence.computedTokens }
            guard let planned = plan(sequence, budget: budget),
                reserveBlocks(for: planned, lastSubmittedStep: lastSubmittedStep)
            else {
                blocks.release(sequence.blockTable, afterStep: nil)
                localBlocks?.release(sequence.localBlockTable, afterStep: nil)
                sequence.clearBlocks()
                break
            }
            waiting.removeFirst()
            sequence.status = .running
            sequence.readmitted = sequence.preemptions > 0
            running.append(sequence)
            // Committing now registers the chunk's full blocks, so a later admission in this same
            // step (e.g. another choice of the same prompt) shares them: each layer writes every
            // token's keys and values before any token attends.
            commit(planned)
            work.append(planned)
            budget -= planned.tokenCount
        }
        return work
    }

    /// Takes the longest cached prefix of a newly admitted `sequence`: its global blocks, and with
    /// a split cache its local ones into `localBlockTable`. A hit of `k` blocks then needs all `k`
    /// global blocks and the local blocks in the window of its end, so it is the longest for which
    /// both pools have them (a shorter global hit is always good; the local one is searched below it).
    private mutating func acquireCachedPrefix(_ sequence: SequenceState) -> [Int32] {
        guard localBlocks != nil, let localWindow = configuration.localWindow else {
            return blocks.acquireCachedPrefix(sequence.tokens, window: configuration.attentionWindow)
        }
        let global = blocks.cachedPrefixLength(sequence.tokens)
        let count = localBlocks?.cachedPrefixLength(sequence.tokens, window: localWindow, limit: global) ?? 0
        guard count > 0 else { return [] }
        sequence.localBlockTable = localBlocks?.acquireCachedPrefix(sequence.tokens, window: localWindow, limit: count) ?? []
        return blocks.acquireCachedPrefix(sequence.tokens, limit: count)
    }

    /// What `sequence` would compute this step, or nil if it has nothing to do now.
    private func plan(_ sequence: SequenceState, budget: Int) -> Work? {
        let start = sequence.computedTokens
        let known = sequence.uncomputedTokens
        if known > 0 {
            let count = min(known, budget)
            let reachesEnd = count == known
            let samples = reachesEnd && sequence.pendingSamples == 0 && sequence.canSample
            // A chunk that ends the known tokens without sampling is only useful mid-prefill.
            if reachesEnd && !samples && sequence.pendingSamples == 0 { return nil }
            return Work(
                sequence: sequence, knownTokens: start..<start + count, usesPendingSample: false,
                samples: samples, preemptions: sequence.preemptions)
        }
        // Every known token is computed: decode the pending sample if one more token is allowed.
        // Invariant "no host round trip": the input is a reference to a sample still in flight.
        guard configuration.asynchronous, sequence.pendingSamples == 1, sequence.canSample else { return nil }
        return Work(
            sequence: sequence, knownTokens: start..<start, usesPendingSample: true, samples: true, preemptions: sequence.preemptions)
    }

    /// How many drafts a decode verifies: none unless the sequence speculates; else what the
    /// policy finds worth its cost, within the token budget and the tokens the request may still
    /// generate (counting every draft in flight as accepted).
    private func draftLimit(_ item: Work, budget: Int, decodingSequences: Int) -> Int {
        let sequence = item.sequence
        guard let speculation = configuration.speculation, sequence.speculates, item.samples, item.isDecode else { return 0 }
        let wanted = speculation.draftLength(acceptanceRate: sequence.acceptance.rate, decodingSequences: decodingSequences)
        let remaining = sequence.maxTokens - sequence.generatedIncludingPending - sequence.pendingDrafts - 1
        return max(0, min(wanted, remaining, budget - item.tokenCount))
    }

    /// Releases the blocks behind the window of `item`'s first token, then makes sure its sequence
    /// has blocks for the positions it computes; false if the pool is short.
    private mutating func reserveBlocks(for item: Work, lastSubmittedStep: Int?) -> Bool {
        let sequence = item.sequence
        releaseBlocksOutsideWindow(sequence, from: item.firstPosition, lastSubmittedStep: lastSubmittedStep)
        let needed = blocks.blocksNeeded(forTokens: item.reachEnd) - sequence.blockTable.count
        guard needed > 0 else { return true }
        // Both pools or neither: a split cache's tables stay as long as each other.
        guard needed <= blocks.freeBlockCount, needed <= localBlocks?.freeBlockCount ?? needed,
            let fresh = blocks.allocate(needed)
        else { return false }
        sequence.blockTable += fresh
        if localBlocks != nil { sequence.localBlockTable += localBlocks?.allocate(needed) ?? [] }
        return true
    }

    /// Records the planned work as submitted: advances counters, registers full blocks (a hole
    /// left by the window registers nothing).
    private mutating func commit(_ item: Work) {
        let sequence = item.sequence
        sequence.computedTokens += item.tokenCount
        if item.samples { sequence.pendingSamples += 1 }
        sequence.pendingDrafts += item.draftLimit
        // Register blocks whose tokens are all known (the pending sample's value is not).
        let knownEnd = min(sequence.computedTokens, sequence.tokens.count)
        while (sequence.registeredBlocks + 1) * blocks.blockSize <= knownEnd {
            let b = sequence.registeredBlocks
            let range = (b * blocks.blockSize)..<((b + 1) * blocks.blockSize)
            if b < sequence.localBlockTable.count {
                localBlocks?.registerFullBlock(sequence.localBlockTable[b], tokens: sequence.tokens[range], parentHash: sequence.lastBlockHash)
            }
            sequence.lastBlockHash = blocks.registerFullBlock(
                sequence.blockTable[b], tokens: sequence.tokens[range], parentHash: sequence.lastBlockHash)
            sequence.registeredBlocks += 1
        }
    }

    /// Under a window on every layer, releases the blocks of `sequence` that lie entirely before
    /// the first position its token at `position` (the first it computes next) attends to, and
    /// leaves holes in their place; with a split cache, the same for its local table under the
    /// local layers' window. That token's successors and every later step attend from further on
    /// (a chunk's first token reaches back the furthest), and a preempted sequence recomputes into
    /// fresh blocks, so only steps in flight may still read them. Invariant "memory freed late": the
    /// release waits for `lastSubmittedStep`. A registered block stays in the prefix cache once
    /// unreferenced.
    private mutating func releaseBlocksOutsideWindow(_ sequence: SequenceState, from position: Int, lastSubmittedStep: Int?) {
        if let window = configuration.attentionWindow {
            blocksReleasedBehindWindow += Self.release(
                &sequence.blockTable, firstHeld: &sequence.firstHeldBlock, in: &blocks, before: max(position - window + 1, 0),
                afterStep: lastSubmittedStep)
        }
        if let window = configuration.localWindow, localBlocks != nil {
            blocksReleasedBehindWindow += Self.release(
                &sequence.localBlockTable, firstHeld: &sequence.localFirstHeldBlock, in: &localBlocks!,
                before: max(position - window + 1, 0), afterStep: lastSubmittedStep)
        }
    }

    /// Releases `table`'s held blocks that lie entirely before position `firstAttended` into
    /// `pool`, leaving holes; returns how many.
    private static func release(
        _ table: inout [Int32], firstHeld: inout Int, in pool: inout BlockManager, before firstAttended: Int, afterStep: Int?
    ) -> Int {
        let end = min(firstAttended / pool.blockSize, table.count)
        guard firstHeld < end else { return 0 }
        let released = firstHeld..<end
        pool.release(table[released], afterStep: afterStep)
        table.replaceSubrange(released, with: repeatElement(BlockManager.hole, count: released.count))
        firstHeld = end
        return released.count
    }

    /// Returns a running sequence to the front of the waiting queue; it will recompute its KV.
    private mutating func preempt(_ sequence: SequenceState, lastSubmittedStep: Int?) {
        blocks.release(sequence.blockTable, afterStep: lastSubmittedStep)
        localBlocks?.release(sequence.localBlockTable, afterStep: lastSubmittedStep)
        sequence.clearBlocks()
        sequence.status = .waiting
        sequence.preemptions += 1
        preemptionCount += 1
        let position = waiting.firstIndex { $0.arrival > sequence.arrival } ?? waiting.count
        waiting.insert(sequence, at: position)
    }

    /// The most blocks a sequence holds under a window on every layer when its steps compute at
    /// most `chunk` tokens: those of the `window - 1` positions before a step's first token and of
    /// the step's tokens, one more where they straddle a block boundary. Without a window (nil) a
    /// sequence holds a block per `blockSize` tokens of its context.
    static func blocksHeld(window: Int?, chunk: Int, blockSize: Int) -> Int? {
        guard let window, window > 0, chunk > 0, blockSize > 0 else { return nil }
        // Either term beyond `Int.max / 4` means no cache could hold it: no overflow below.
        let span = min(window, Int.max / 4) + min(chunk, Int.max / 4) - 1
        return (span + blockSize - 1) / blockSize + 1
    }

    /// Removes a finished or aborted sequence; its blocks are freed once `lastSubmittedStep` completes.
    mutating func remove(_ sequence: SequenceState, lastSubmittedStep: Int?) {
        blocks.release(sequence.blockTable, afterStep: lastSubmittedStep)
        localBlocks?.release(sequence.localBlockTable, afterStep: lastSubmittedStep)
        sequence.blockTable = []
        sequence.firstHeldBlock = 0
        sequence.localBlockTable = []
        sequence.localFirstHeldBlock = 0
        sequence.status = .finished
        running.removeAll { $0 === sequence }
        waiting.removeAll { $0 === sequence }
    }

    /// Frees blocks held back for steps up to `stepID`.
    mutating func stepCompleted(_ stepID: Int) {
        blocks.stepCompleted(stepID)
        localBlocks?.stepCompleted(stepID)
    }

    /// Forgets every cached prefix: later sequences find no hit until new blocks are registered.
    mutating func resetPrefixCache() {
        blocks.resetPrefixCache()
        localBlocks?.resetPrefixCache()
    }
}

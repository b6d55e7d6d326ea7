import Foundation
import Kernels
import Model

/// Runs steps on the CPU: one compute thread takes steps in submission order and runs the model's
/// forward pass (on all cores, through the model's worker pool), then samples.
///
/// Device-side state mirrors what a GPU would keep in device memory: the KV cache, and each
/// sequence's `DecodingState`, whose last accepted token resolves `appendsPreviousSample` inputs.
///
/// A step can also run on the engine's thread (`run(_:)`, the single-sequence fast path) when
/// nothing is queued: the compute thread is then idle, so one thread computes at a time.
///
/// `@unchecked Sendable`: `pending` and `stopping` are guarded by `queue`; a step stays in
/// `pending` until it is computed, so `states`, the model and the cache are touched only by the
/// compute thread while `pending` is not empty, and by the caller of `run(_:)` while it is (the
/// engine calls from one thread).
public final class CPUDevice: Device, @unchecked Sendable {
    /// How large the KV cache is and what it stores.
    public struct CacheConfiguration: Sendable {
        /// Tokens per KV block.
        public var blockSize = 16
        /// KV cache capacity in tokens; nil sizes it from `memoryMiB`.
        public var tokens: Int?
        /// KV cache memory budget when `tokens` is nil.
        public var memoryMiB = 1024
        /// f16 by default: measured 13% more batched throughput than f32 (attention reads half the
        /// bytes) at half the memory; see docs/benchmarks.md.
        public var precision: KVElementType = .float16
        /// On a model that interleaves local (sliding-window) and global layers (Gemma 2/3), whether
        /// the local layers get a pool of their own (`KVCacheLayout.localPool`), which needs blocks
        /// only for each sequence's window.
        public var splitsLocalLayers = true
        /// Tokens of the local layers' pool; nil: as many as their share of an unsplit cache. The
        /// local pool never gets more than that share; the global pool gets `tokens`, or, sized
        /// from `memoryMiB`, the memory the local pool leaves (docs/models.md, "Sliding windows").
        public var localTokens: Int?

        public init() {}

        /// Sizes the local pool, on a model with interleaved local and global layers (nothing
        /// otherwise), for `maxSequences` decoding sequences that each hold the blocks of their
        /// window and of two steps' drafts (`Scheduler.blocksHeld`), plus one step of
        /// `maxBatchTokens` prompt tokens: a step's budget is shared by its sequences, so they do not
        /// each need a whole chunk beyond their window. When more is needed at once the scheduler
        /// waits or preempts, as for the global pool.
        public mutating func sizeLocalPool(for model: LlamaModel, maxSequences: Int, maxBatchTokens: Int) {
            let blockSize = max(self.blockSize, 1)
            let drafts = 2 * Speculation().maxDraftTokens
            guard let window = model.configuration.interleavedWindow,
                let decoding = Scheduler.blocksHeld(window: window, chunk: 1 + drafts, blockSize: blockSize),
                let step = Scheduler.blocksHeld(window: 1, chunk: max(maxBatchTokens, 1), blockSize: blockSize)
            else { return }
            let (perSequences, overflow) = decoding.multipliedReportingOverflow(by: max(maxSequences, 1))
            let (blocks, overflowBlocks) = perSequences.addingReportingOverflow(step)
            let (product, overflowTokens) = blocks.multipliedReportingOverflow(by: blockSize)
            localTokens = overflow || overflowBlocks || overflowTokens ? nil : product
        }
    }

    public let model: LlamaModel
    public let cache: KVCache
    public let cacheLayout: KVCacheLayout
    private let queue = NSCondition()
    private var pending: [(DeviceStep, StepHandle)] = []
    private var stopping = false

    /// Owned by the thread computing a step.
    private var states: [Int: any DecodingState] = [:]
    /// Per sequence, the positions whose keys and values are kept: accepted drafts count, rejected
    /// ones do not (their slots are overwritten later). Owned like `states`.
    private var keptPositions: [Int: Int] = [:]

    public init(model: LlamaModel, cache configuration: CacheConfiguration = CacheConfiguration()) {
        self.model = model
        let c = model.configuration
        let blockSize = max(configuration.blockSize, 1)
        let bytesPerToken = KVCache.bytesPerToken(layerCount: c.layerCount, kvWidth: c.kvWidth, precision: configuration.precision)
        let memory = configuration.memoryMiB << 20
        let unsplit = configuration.tokens ?? max(memory / max(bytesPerToken, 1), blockSize)
        var tokens = unsplit
        var localPool: KVCacheLayout.LocalPool?
        if configuration.splitsLocalLayers, let window = c.interleavedWindow {
            // The local pool gets at most its layers' share of an unsplit cache; sized from memory,
            // the global pool gets what the local one leaves.
            let localLayers = c.slidingWindowLayers.filter { $0 }.count
            let localTokens = min(max(configuration.localTokens ?? unsplit, blockSize), unsplit)
            if configuration.tokens == nil {
                let localBytes = localTokens * KVCache.bytesPerToken(layerCount: localLayers, kvWidth: c.kvWidth, precision: configuration.precision)
                let globalBytesPerToken = KVCache.bytesPerToken(
                    layerCount: c.layerCount - localLayers, kvWidth: c.kvWidth, precision: configuration.precision)
                tokens = max((memory - localBytes) / max(globalBytesPerToken, 1), unsplit)
            }
            localPool = .init(blockCount: (localTokens + blockSize - 1) / blockSize, window: window)
        }
        let blockCount = max((tokens + blockSize - 1) / blockSize, 1)
        cache = model.makeKVCache(
            blockSize: blockSize, blockCount: blockCount, localBlockCount: localPool?.blockCount, precision: configuration.precision)
        cacheLayout = KVCacheLayout(
            blockSize: blockSize, blockCount: blockCount, elementType: configuration.precision.name,
            attentionWindow: c.windowOnEveryLayer, localPool: localPool)
        let thread = Thread { self.computeLoop() }  // holds the device until shutdown()
        thread.name = "tandem-device"
        thread.stackSize = 8 << 20
        thread.start()
    }

    public func submit(_ step: DeviceStep) -> StepHandle {
        let handle = StepHandle(stepID: step.id)
        queue.lock()
        precondition(!stopping, "step submitted after shutdown")
        pending.append((step, handle))
        queue.signal()
        queue.unlock()
        return handle
    }

    public func wait(for handle: StepHandle) -> StepOutput { handle.wait() }

    public var computesOnHostCores: Bool { true }

    /// Computes `step` on the calling thread when nothing is queued (else behind the queue, on the
    /// compute thread): no hand-off to the compute thread and back.
    public func run(_ step: DeviceStep) -> StepOutput {
        queue.lock()
        let idle = pending.isEmpty
        queue.unlock()
        return idle ? compute(step) : wait(for: submit(step))
    }

    public func shutdown() {
        queue.lock()
        stopping = true
        queue.signal()
        queue.unlock()
    }

    private func computeLoop() {
        while true {
            queue.lock()
            while pending.isEmpty && !stopping { queue.wait() }
            if pending.isEmpty && stopping {
                queue.unlock()
                return
            }
            let (step, handle) = pending[0]
            queue.unlock()
            let output = compute(step)
            queue.lock()
            pending.removeFirst()  // only now: `run(_:)` sees the queue empty once this step is done
            queue.unlock()
            handle.fulfill(output)
        }
    }

    private func compute(_ step: DeviceStep) -> StepOutput {
        let start = DispatchTime.now().uptimeNanoseconds
        for id in step.releasedSequences {
            states[id] = nil
            keptPositions[id] = nil
        }
        var batch = ForwardBatch()
        var inputs: [VerifiedInput] = []
        inputs.reserveCapacity(step.entries.count)
        var failure: String?
        for entry in step.entries {
            let id = entry.sequenceID
            if let state = entry.newState { states[id] = state }
            if let count = entry.acceptedTokens { states[id]?.rollBack(toAcceptedCount: count) }
            if entry.samples && states[id] == nil {
                failure = "sequence \(id) samples without a decoding state"
                break
            }
            var tokens = entry.tokens
            var firstPosition = entry.firstPosition
            // Invariant "no host round trip": the device resolves the reference to its own last
            // sample, placed after the positions it kept (only it knows how many drafts were accepted).
            if entry.appendsPreviousSample {
                guard let previous = states[id]?.lastToken else {
                    failure = "sequence \(id) has no previous sample"
                    break
                }
                tokens.append(previous)
                firstPosition = keptPositions[id] ?? firstPosition
            }
            let inputEnd = firstPosition + tokens.count
            var drafts: [Int32] = []
            if entry.samples && entry.draftLimit > 0, let state = states[id] {
                // Only positions the block table covers: the host reserved them.
                let room = entry.blockTable.count * cache.blockSize - inputEnd
                drafts = state.draft(limit: min(entry.draftLimit, room))
                tokens += drafts
            }
            batch.append(
                tokens: tokens, firstPosition: firstPosition, blockTable: entry.blockTable,
                localBlockTable: cache.isSplit ? entry.localBlockTable ?? [] : nil, blockSize: cache.blockSize,
                logitCount: entry.samples ? 1 + drafts.count : 0)
            inputs.append(VerifiedInput(entry: entry, inputEnd: inputEnd, drafts: drafts))
            keptPositions[id] = inputEnd
        }
        var samples: [StepOutput.Sample] = []
        var verifications: [StepOutput.Verification] = []
        if failure == nil && !batch.tokens.isEmpty {
            do {
                try model.forward(batch, cache: cache) { logits in
                    (samples, verifications) = sample(inputs, logits: logits)
                }
            } catch {
                failure = "\(error)"
            }
        }
        return StepOutput(
            stepID: step.id, samples: samples, verifications: verifications, startNanoseconds: start,
            endNanoseconds: DispatchTime.now().uptimeNanoseconds, failure: failure)
    }

    /// One entry of a step as computed: where its input ended and the drafts appended after it.
    private struct VerifiedInput {
        let entry: DeviceStep.Entry
        let inputEnd: Int
        let drafts: [Int32]
    }

    /// Chooses every sampling entry's tokens, the entries spread over the model's worker pool (the
    /// states are independent; each owns its random generator). An entry with drafts has one
    /// logit row per draft more: row i is chosen exactly as a step without drafts would choose it,
    /// and the next row counts only while the choice equals the draft.
    private func sample(
        _ inputs: [VerifiedInput], logits: UnsafeMutableBufferPointer<Float>
    ) -> ([StepOutput.Sample], [StepOutput.Verification]) {
        let vocabulary = model.configuration.vocabularySize
        let sampling = inputs.filter(\.entry.samples)
        var firstRow: [Int] = []
        firstRow.reserveCapacity(sampling.count)
        var rows = 0
        for input in sampling {
            firstRow.append(rows)
            rows += 1 + input.drafts.count
        }
        // Taken out of the dictionary while they change, so no copy of a state is made; compute()
        // checked that each exists.
        var batch = sampling.compactMap { states.removeValue(forKey: $0.entry.sequenceID) }
        var chosen = [StepOutput.Sample](repeating: StepOutput.Sample(sequenceID: 0, token: 0), count: rows)
        var kept = [Int](repeating: 0, count: sampling.count)
        batch.withUnsafeMutableBufferPointer { batch in
            chosen.withUnsafeMutableBufferPointer { chosen in
                kept.withUnsafeMutableBufferPointer { kept in
                    model.pool.parallelFor(sampling.count) { range in
                        for i in range {
                            let input = sampling[i], first = firstRow[i]
                            var row = first
                            kept[i] = batch[i].chooseVerifying(drafts: input.drafts) { draft in
                                row = first + draft
                                return UnsafeMutableBufferPointer(rebasing: logits[(row * vocabulary)..<((row + 1) * vocabulary)])
                            } chosen: { token, logitRow in
                                chosen[row] = StepOutput.Sample(
                                    sequenceID: input.entry.sequenceID, token: token,
                                    logprob: input.entry.topLogprobs.map { LogProbabilities(logitRow).report(chosen: token, top: $0) })
                            }
                        }
                    }
                }
            }
        }
        var samples: [StepOutput.Sample] = []
        samples.reserveCapacity(sampling.count)
        var verifications: [StepOutput.Verification] = []
        for (i, input) in sampling.enumerated() {
            let id = input.entry.sequenceID
            states[id] = batch[i]
            samples += chosen[firstRow[i]...(firstRow[i] + kept[i])]
            guard !input.drafts.isEmpty else { continue }
            verifications.append(StepOutput.Verification(sequenceID: id, drafted: input.drafts.count, accepted: kept[i]))
            // Invariant "rejected drafts leave no trace": only accepted drafts' positions are kept.
            keptPositions[id] = input.inputEnd + kept[i]
        }
        return (samples, verifications)
    }
}

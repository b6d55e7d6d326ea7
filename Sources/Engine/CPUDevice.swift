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

        public init() {}
    }

    public let model: LlamaModel
    public let cache: KVCache
    public let cacheLayout: KVCacheLayout
    private let queue = NSCondition()
    private var pending: [(DeviceStep, StepHandle)] = []
    private var stopping = false

    /// Owned by the thread computing a step.
    private var states: [Int: any DecodingState] = [:]

    public init(model: LlamaModel, cache configuration: CacheConfiguration = CacheConfiguration()) {
        self.model = model
        let c = model.configuration
        let blockSize = max(configuration.blockSize, 1)
        let bytesPerToken = KVCache.bytesPerToken(layerCount: c.layerCount, kvWidth: c.kvWidth, precision: configuration.precision)
        let tokens = configuration.tokens ?? max(configuration.memoryMiB << 20 / max(bytesPerToken, 1), blockSize)
        let blockCount = max((tokens + blockSize - 1) / blockSize, 1)
        cache = model.makeKVCache(blockSize: blockSize, blockCount: blockCount, precision: configuration.precision)
        cacheLayout = KVCacheLayout(
            blockSize: blockSize, blockCount: blockCount, elementType: configuration.precision.name,
            attentionWindow: c.windowOnEveryLayer)
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
        for id in step.releasedSequences { states[id] = nil }
        var batch = ForwardBatch()
        var failure: String?
        for entry in step.entries {
            if let state = entry.newState { states[entry.sequenceID] = state }
            if let count = entry.acceptedTokens { states[entry.sequenceID]?.rollBack(toAcceptedCount: count) }
            if entry.samples && states[entry.sequenceID] == nil {
                failure = "sequence \(entry.sequenceID) samples without a decoding state"
                break
            }
            var tokens = entry.tokens
            // Invariant "no host round trip": the device resolves the reference to its own last sample.
            if entry.appendsPreviousSample {
                guard let previous = states[entry.sequenceID]?.lastToken else {
                    failure = "sequence \(entry.sequenceID) has no previous sample"
                    break
                }
                tokens.append(previous)
            }
            batch.append(
                tokens: tokens, firstPosition: entry.firstPosition, blockTable: entry.blockTable,
                blockSize: cache.blockSize, logitCount: entry.samples ? 1 : 0)
        }
        var samples: [StepOutput.Sample] = []
        if failure == nil && !batch.tokens.isEmpty {
            do {
                try model.forward(batch, cache: cache) { logits in
                    samples = sample(step.entries, logits: logits)
                }
            } catch {
                failure = "\(error)"
            }
        }
        return StepOutput(
            stepID: step.id, samples: samples, startNanoseconds: start, endNanoseconds: DispatchTime.now().uptimeNanoseconds,
            failure: failure)
    }

    /// Chooses every sampling entry's token, the rows spread over the model's worker pool (the
    /// states are independent; each owns its random generator).
    private func sample(_ entries: [DeviceStep.Entry], logits: UnsafeMutableBufferPointer<Float>) -> [StepOutput.Sample] {
        let vocabulary = model.configuration.vocabularySize
        let sampling = entries.filter(\.samples)
        // Taken out of the dictionary while they change, so no copy of a state is made; run()
        // checked that each exists.
        var batch = sampling.compactMap { states.removeValue(forKey: $0.sequenceID) }
        var samples = sampling.map { StepOutput.Sample(sequenceID: $0.sequenceID, token: 0) }
        batch.withUnsafeMutableBufferPointer { batch in
            samples.withUnsafeMutableBufferPointer { samples in
                model.pool.parallelFor(sampling.count) { range in
                    for i in range {
                        let row = UnsafeMutableBufferPointer(rebasing: logits[(i * vocabulary)..<((i + 1) * vocabulary)])
                        batch[i].mask(row)
                        let token = batch[i].choose(from: row)
                        batch[i].accept(token)
                        samples[i].token = token
                        samples[i].logprob = sampling[i].topLogprobs.map { LogProbabilities(row).report(chosen: token, top: $0) }
                    }
                }
            }
        }
        for (entry, state) in zip(sampling, batch) { states[entry.sequenceID] = state }
        return samples
    }
}

import Foundation
import Grammar
import Tokenizer

/// Continuous batching over a paged KV cache, with asynchronous batching.
///
/// Requests arrive from any thread or task (`submit`) and leave as an `AsyncStream` of events.
/// One engine thread runs `EngineCore`: it schedules and submits step N+1 to the device while
/// step N is still computing, and only then collects step N's tokens, detokenizes them and checks
/// stop conditions. In synchronous mode (`asynchronous: false`) it waits for each step before
/// preparing the next, for comparison. Both modes produce identical tokens. On a device that
/// computes on the host's cores (`Device.computesOnHostCores`), a sequence that is alone runs
/// synchronously on the engine thread: nothing else needs the host, and the overlap would only
/// take cores from the step.
///
/// `@unchecked Sendable`: the fields under "shared with submitters" are read and written only with
/// `inbox` locked; `core` belongs to the engine thread alone.
public final class Engine: @unchecked Sendable {
    /// Scheduling settings (the KV cache belongs to the device).
    public struct Configuration: Sendable {
        /// Token budget of one step (decodes plus prefill chunks).
        public var maxBatchTokens = 512
        /// Sequences in one step at most.
        public var maxSequences = 64
        /// Prepare the next step while the current one computes (the default).
        public var asynchronous = true
        /// Record every step (for traces); aggregates are always kept.
        public var recordSteps = false
        /// Speculative decoding (n-gram drafts verified in the same step); nil: off.
        public var speculation: Speculation?

        public init() {}
    }

    /// A request on its way from `submit` to the engine thread.
    private struct Arrival {
        let request: GenerationRequest
        let submitted: UInt64
        let continuation: AsyncStream<GenerationEvent>.Continuation
    }

    public let tokenizer: Tokenizer
    public let limits: ModelLimits
    public let configuration: Configuration
    /// The KV cache of the device the engine drives.
    public let cacheLayout: KVCacheLayout
    private let core: EngineCore
    private let inbox = NSCondition()
    private let constraints: ConstraintCache

    // Shared with submitters, guarded by `inbox`.
    private var arrivals: [Arrival] = []
    private var abortions: [String] = []
    private var prefixCacheResetRequested = false
    private var activeIDs: Set<String> = []
    private var stopping = false
    private var snapshot = EngineStatistics()
    private var stepLog: [StepRecord] = []

    /// Starts the engine thread over `device`, which it drives until `shutdown()`.
    public init(device: any Device, tokenizer: Tokenizer, limits: ModelLimits, configuration: Configuration = Configuration()) {
        self.tokenizer = tokenizer
        self.limits = limits
        self.configuration = configuration
        cacheLayout = device.cacheLayout
        constraints = ConstraintCache(tokenizer: tokenizer)
        core = EngineCore(
            device: device, tokenizer: tokenizer,
            configuration: .init(
                maxBatchTokens: configuration.maxBatchTokens, maxSequences: configuration.maxSequences,
                asynchronous: configuration.asynchronous, recordSteps: configuration.recordSteps,
                speculation: configuration.speculation))
        core.requestEnded = { [unowned self] id in
            inbox.lock()
            activeIDs.remove(id)
            inbox.unlock()
        }
        core.stepRecorded = { [unowned self] record in
            inbox.lock()
            stepLog.append(record)
            inbox.unlock()
        }
        let thread = Thread { self.run() }  // holds the engine until shutdown() ends the loop
        thread.name = "tandem-engine"
        thread.stackSize = 8 << 20  // it runs forward passes itself on the single-sequence fast path
        thread.start()
    }

    /// `constraint` compiled for this engine's vocabulary (cached by its key), for
    /// `GenerationRequest.constraint`. Throws for a schema, expression or grammar it cannot honour.
    public func constraint(_ constraint: OutputConstraint) throws(GrammarError) -> ConstraintRuntime {
        try constraints.runtime(for: constraint)
    }

    /// Largest prompt + max_tokens a request may ask for.
    public var maxSequenceLength: Int { min(limits.contextLength, cacheSequenceLimit) }

    /// Tokens of one sequence the KV cache can hold: its capacity, or any number under a window on
    /// every layer when the blocks a sequence holds at most (its window and one step's tokens) fit.
    /// With a split cache, the global pool's capacity when those blocks fit the local pool, else
    /// the smaller of the two pools' capacities.
    private var cacheSequenceLimit: Int {
        let chunk = max(configuration.maxBatchTokens, 1)
        if let local = cacheLayout.localPool {
            let held = Scheduler.blocksHeld(window: local.window, chunk: chunk, blockSize: cacheLayout.blockSize) ?? .max
            return held <= local.blockCount
                ? cacheLayout.capacity : min(cacheLayout.capacity, local.blockCount * cacheLayout.blockSize)
        }
        let held = Scheduler.blocksHeld(window: cacheLayout.attentionWindow, chunk: chunk, blockSize: cacheLayout.blockSize)
        guard let held, held <= cacheLayout.blockCount else { return cacheLayout.capacity }
        return .max
    }

    /// Queues a request and returns its stream of events. Throws for a request that can never
    /// be served (empty, too long for the context or the cache, bad token ids or parameters).
    public func submit(_ request: GenerationRequest) throws(EngineError) -> AsyncStream<GenerationEvent> {
        try validate(request)
        let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream()
        inbox.lock()
        defer { inbox.unlock() }
        guard !stopping else { throw .shuttingDown }
        guard !activeIDs.contains(request.id) else { throw .duplicateRequestID(request.id) }
        activeIDs.insert(request.id)
        arrivals.append(Arrival(request: request, submitted: now(), continuation: continuation))
        let id = request.id
        continuation.onTermination = { [weak self] reason in
            if case .cancelled = reason { self?.abort(id: id) }
        }
        inbox.signal()
        return stream
    }

    /// Aborts a request: its stream ends with finish reason `abort`, and its KV blocks return to
    /// the pool once no in-flight step uses them.
    public func abort(id: String) {
        inbox.lock()
        abortions.append(id)
        inbox.signal()
        inbox.unlock()
    }

    /// Drops the prefix cache: every request submitted after this call starts without a cached
    /// prefix (the engine thread clears the index before it takes them in). Running requests keep
    /// their blocks; what they complete later is cached again.
    public func resetPrefixCache() {
        inbox.lock()
        prefixCacheResetRequested = true
        inbox.signal()
        inbox.unlock()
    }

    /// Aborts everything and stops the engine thread and the device.
    public func shutdown() {
        inbox.lock()
        stopping = true
        inbox.signal()
        inbox.unlock()
    }

    /// Counters and gauges, as of the last step.
    public var currentStatistics: EngineStatistics {
        inbox.lock()
        defer { inbox.unlock() }
        return snapshot
    }

    /// Every step recorded so far (only with `recordSteps`).
    public var steps: [StepRecord] {
        inbox.lock()
        defer { inbox.unlock() }
        return stepLog
    }

    private func validate(_ request: GenerationRequest) throws(EngineError) {
        guard !request.promptTokens.isEmpty else { throw .emptyPrompt }
        guard request.maxTokens >= 1 else { throw .invalidMaxTokens(request.maxTokens) }
        let vocabulary = limits.vocabularySize
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw .invalidToken(bad, vocabularySize: vocabulary)
        }
        do { try request.sampling.validate(vocabularySize: vocabulary) } catch { throw .invalidSampling(error.description) }
        // Subtractions, not `prompt + maxTokens`: maxTokens may be anything up to Int.max.
        let prompt = request.promptTokens.count
        for (limit, what) in [(limits.contextLength, "model's context length"), (cacheSequenceLimit, "KV cache capacity")]
        where request.maxTokens > limit - prompt {
            throw .tooLong(promptTokens: prompt, maxTokens: request.maxTokens, limit: limit, what: what)
        }
    }

    // MARK: The engine thread

    private func run() {
        while true {
            let preparationStart = now()
            guard takeInbox() else { break }
            let busy = core.iterate(preparationStart: preparationStart)
            inbox.lock()
            snapshot = core.statistics
            // Nothing to compute: sleep until a request, an abort or shutdown arrives.
            while !busy && arrivals.isEmpty && abortions.isEmpty && !prefixCacheResetRequested && !stopping { inbox.wait() }
            inbox.unlock()
        }
        core.drain()
        core.device.shutdown()
        inbox.lock()
        snapshot = core.statistics
        inbox.unlock()
    }

    /// Moves new requests, abortions and a prefix-cache reset (first: requests submitted after the
    /// reset was asked for must not find the old prefixes) into the core; false when shutting down.
    private func takeInbox() -> Bool {
        inbox.lock()
        let newRequests = arrivals
        let aborted = abortions
        let stop = stopping
        let resetPrefixCache = prefixCacheResetRequested
        arrivals.removeAll()
        abortions.removeAll()
        prefixCacheResetRequested = false
        inbox.unlock()
        if resetPrefixCache { core.resetPrefixCache() }
        for arrival in newRequests {
            core.admit(arrival.request, submitted: arrival.submitted, continuation: arrival.continuation)
        }
        for id in aborted { core.abort(requestID: id) }
        return !stop
    }
}

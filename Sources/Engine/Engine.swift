import Foundation
import Kernels
import Model
import Tokenizer

/// Continuous batching over a paged KV cache, with asynchronous batching.
///
/// Requests arrive from any thread or task (`submit`) and leave as an `AsyncStream` of events.
/// One engine thread loops: it schedules and submits step N+1 to the device while step N is
/// still computing, and only then collects step N's tokens, detokenizes them and checks stop
/// conditions. In synchronous mode (`asynchronous: false`) it waits for each step before
/// preparing the next, for comparison. Both modes produce identical tokens.
public final class Engine: @unchecked Sendable {
    /// Engine settings.
    public struct Configuration: Sendable {
        /// Token budget of one step (decodes plus prefill chunks).
        public var maxBatchTokens = 512
        /// Sequences in one step at most.
        public var maxSequences = 64
        /// Prepare the next step while the current one computes (the default).
        public var asynchronous = true
        /// Tokens per KV block.
        public var blockSize = 16
        /// KV cache capacity in tokens; nil sizes it from `kvCacheMiB`.
        public var kvCacheTokens: Int?
        /// KV cache memory budget when `kvCacheTokens` is nil.
        public var kvCacheMiB = 1024
        /// f16 by default: measured 13% more batched throughput than f32 (attention reads half the
        /// bytes) at half the memory; see docs/benchmarks.md.
        public var kvPrecision: KVElementType = .float16
        /// Record every step (for traces); aggregates are always kept.
        public var recordSteps = false

        public init() {}
    }

    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let configuration: Configuration
    public let cache: KVCache
    private let device: Device
    private let inbox = NSCondition()

    // Shared with submitters, guarded by `inbox`.
    private var arrivals: [RequestState] = []
    private var abortions: [String] = []
    private var activeIDs: Set<String> = []
    private var stopping = false
    private var snapshot = EngineStatistics()
    private var stepLog: [StepRecord] = []

    // Owned by the engine thread.
    private var scheduler: Scheduler
    private var requests: [Int: RequestState] = [:]
    private var requestIDs: [String: RequestState] = [:]
    private var releasedSequences: [Int] = []
    private var inFlight: [(handle: StepHandle, record: StepRecord, work: [Scheduler.Work])] = []
    private var nextStepID = 0
    private var nextSequenceID = 0
    private var statistics = EngineStatistics()
    private var lastDeviceEnd: UInt64?
    private var thread: Thread?

    public init(model: LlamaModel, tokenizer: Tokenizer, configuration: Configuration = Configuration()) {
        self.model = model
        self.tokenizer = tokenizer
        self.configuration = configuration
        let c = model.configuration
        let bytesPerToken = KVCache.bytesPerToken(
            layerCount: c.layerCount, kvWidth: c.kvWidth,
            precision: configuration.kvPrecision)
        let tokens = configuration.kvCacheTokens ?? max(configuration.kvCacheMiB << 20 / bytesPerToken, configuration.blockSize)
        let blockCount = max((tokens + configuration.blockSize - 1) / configuration.blockSize, 1)
        cache = model.makeKVCache(
            blockSize: configuration.blockSize, blockCount: blockCount,
            precision: configuration.kvPrecision)
        device = CPUDevice(model: model, cache: cache)
        scheduler = Scheduler(
            configuration: .init(
                maxBatchTokens: max(configuration.maxBatchTokens, 1),
                maxSequences: max(configuration.maxSequences, 1),
                asynchronous: configuration.asynchronous),
            blocks: BlockManager(blockSize: configuration.blockSize, blockCount: blockCount))
        let thread = Thread { self.loop() }  // holds the engine until shutdown() ends the loop
        thread.name = "tandem-engine"
        self.thread = thread
        thread.start()
    }

    deinit {
        shutdown()
    }

    /// Largest prompt + max_tokens a request may ask for.
    public var maxSequenceLength: Int { min(model.configuration.contextLength, cache.capacity) }

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
        let state = RequestState(request: request, tokenizer: tokenizer, continuation: continuation)
        arrivals.append(state)
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
        let vocabulary = model.configuration.vocabularySize
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= vocabulary }) {
            throw .invalidToken(bad, vocabularySize: vocabulary)
        }
        do { try request.sampling.validate(vocabularySize: vocabulary) } catch { throw .invalidSampling(error.description) }
        // Subtractions, not `prompt + maxTokens`: maxTokens may be anything up to Int.max.
        let prompt = request.promptTokens.count
        for (limit, what) in [(model.configuration.contextLength, "model's context length"), (cache.capacity, "KV cache capacity")]
        where request.maxTokens > limit - prompt {
            throw .tooLong(promptTokens: prompt, maxTokens: request.maxTokens, limit: limit, what: what)
        }
    }

    // MARK: The engine thread

    private func loop() {
        while true {
            let prepareStart = now()
            guard drainInbox() else { break }
            let lastSubmitted = inFlight.last?.handle.stepID
            let work = scheduler.schedule(lastSubmittedStep: lastSubmitted)
            if !work.isEmpty { submit(work, prepareStart: prepareStart) }

            // Asynchronous: keep one step in flight while there is more to do. Synchronous: none.
            let keep = configuration.asynchronous && !work.isEmpty ? 1 : 0
            while inFlight.count > keep { collect(inFlight.removeFirst()) }
            publish()

            if work.isEmpty && inFlight.isEmpty {
                // Nothing to compute: wait for requests. (With unfinished sequences this cannot
                // last: every block is free once no step is in flight. Poll in case it does.)
                lastDeviceEnd = nil  // the device idles because there is no work: not counted
                inbox.lock()
                if scheduler.hasUnfinishedSequences {
                    _ = inbox.wait(until: Date(timeIntervalSinceNow: 0.001))
                } else {
                    while arrivals.isEmpty && abortions.isEmpty && !stopping { inbox.wait() }
                }
                inbox.unlock()
            }
        }
        while !inFlight.isEmpty { collect(inFlight.removeFirst()) }
        for state in Array(requests.values) { finish(state, reason: .abort) }
        device.shutdown()
        publish()
    }

    /// Moves new requests and abortions into the engine; false when shutting down.
    private func drainInbox() -> Bool {
        inbox.lock()
        let newRequests = arrivals
        let aborted = abortions
        let stop = stopping
        arrivals.removeAll()
        abortions.removeAll()
        inbox.unlock()

        for state in newRequests {
            let sequence = SequenceState(
                id: nextSequenceID, arrival: nextSequenceID,
                prompt: state.request.promptTokens, maxTokens: state.request.maxTokens)
            nextSequenceID += 1
            state.sequence = sequence
            requests[sequence.id] = state
            requestIDs[state.request.id] = state
            scheduler.add(sequence)
            statistics.promptTokens += sequence.promptCount
        }
        for id in aborted {
            if let state = requestIDs[id] { finish(state, reason: .abort) }
        }
        return !stop
    }

    private func submit(_ work: [Scheduler.Work], prepareStart: UInt64) {
        let stepID = nextStepID
        nextStepID += 1
        var entries: [DeviceStep.Entry] = []
        entries.reserveCapacity(work.count)
        for item in work {
            let sequence = item.sequence
            guard let state = requests[sequence.id] else { continue }
            var setup: DeviceStep.SamplerSetup?
            if item.samples && !sequence.samplerCreated {
                sequence.samplerCreated = true
                setup = .init(parameters: state.request.sampling, history: state.request.promptTokens)
            }
            if state.firstScheduled == nil { state.firstScheduled = now() }
            entries.append(
                DeviceStep.Entry(
                    sequenceID: sequence.id, tokens: Array(sequence.tokens[item.knownTokens]),
                    appendsPreviousSample: item.usesPendingSample, firstPosition: item.firstPosition,
                    blockTable: sequence.blockTable, samples: item.samples, newSampler: setup,
                    topLogprobs: state.request.topLogprobs))
        }
        let step = DeviceStep(id: stepID, entries: entries, releasedSequences: releasedSequences)
        releasedSequences.removeAll()
        let handle = device.submit(step)
        let record = StepRecord(
            id: stepID, prepareStart: prepareStart, submitted: now(), deviceStart: 0,
            deviceEnd: 0, collected: 0, sequences: entries.count,
            tokens: work.reduce(0) { $0 + $1.tokenCount },
            decodeTokens: work.reduce(0) { $0 + ($1.isDecode ? 1 : 0) }, deviceIdleBefore: 0)
        inFlight.append((handle, record, work))
    }

    private func collect(_ flight: (handle: StepHandle, record: StepRecord, work: [Scheduler.Work])) {
        let output = flight.handle.wait()
        let collectStart = now()
        var record = flight.record
        record.deviceStart = output.startNanoseconds
        record.deviceEnd = output.endNanoseconds
        if let previousEnd = lastDeviceEnd, output.startNanoseconds > previousEnd {
            record.deviceIdleBefore = output.startNanoseconds - previousEnd
        }
        lastDeviceEnd = output.endNanoseconds

        if output.failure != nil {
            // Cannot happen with a correct scheduler; fail the step's requests rather than the process.
            for item in flight.work {
                if let state = requests[item.sequence.id] { finish(state, reason: .abort) }
            }
        }
        for sample in output.samples {
            // A sequence that finished one step late: its extra token is discarded here.
            guard let state = requests[sample.sequenceID], let sequence = state.sequence else { continue }
            sequence.appendCollected(sample.token)
            process(sample, of: state, at: collectStart)
        }
        scheduler.stepCompleted(output.stepID)
        record.collected = now()
        statistics.record(record)
        if configuration.recordSteps {
            inbox.lock()
            stepLog.append(record)
            inbox.unlock()
        }
    }

    /// Appends one sampled token to a request's output and checks its stop conditions.
    private func process(_ sample: StepOutput.Sample, of state: RequestState, at time: UInt64) {
        guard let sequence = state.sequence else { return }
        let request = state.request
        let token = sample.token
        if request.stopTokenIDs.contains(token) || (!request.ignoreEOS && tokenizer.endOfGenerationTokens.contains(token)) {
            state.completionTokens = sequence.outputCount  // the stop token counts, but is not streamed
            finish(state, reason: .stop)
            return
        }
        state.completionTokens = sequence.outputCount
        statistics.generatedTokens += 1
        if state.firstToken == nil { state.firstToken = time }
        let text = state.stopMatcher.append(state.decoder.append(token))
        state.continuation.yield(
            .output(
                GenerationOutput(
                    tokenIDs: [token], text: text, logprobs: sample.logprob.map { [$0] } ?? [])))
        if state.stopMatcher.matched != nil {
            finish(state, reason: .stop)
        } else if sequence.outputCount >= sequence.maxTokens {
            finish(state, reason: .length)
        }
    }

    /// Ends a request: final text, finish event, and its blocks released after in-flight steps.
    private func finish(_ state: RequestState, reason: FinishReason) {
        guard let sequence = state.sequence, sequence.status != .finished else { return }
        scheduler.finish(sequence, lastSubmittedStep: inFlight.last?.handle.stepID)
        requests[sequence.id] = nil
        requestIDs[state.request.id] = nil
        releasedSequences.append(sequence.id)
        if reason != .stop || state.stopMatcher.matched == nil {
            let tail = state.stopMatcher.append(state.decoder.flush()) + state.stopMatcher.flush()
            if !tail.isEmpty { state.continuation.yield(.output(GenerationOutput(tokenIDs: [], text: tail, logprobs: []))) }
        }
        let end = now()
        let usage = GenerationUsage(
            promptTokens: sequence.promptCount, completionTokens: state.completionTokens,
            cachedPromptTokens: sequence.cachedPromptTokens,
            queueSeconds: seconds(from: state.submitted, to: state.firstScheduled ?? end),
            timeToFirstTokenSeconds: state.firstToken.map { seconds(from: state.submitted, to: $0) },
            totalSeconds: seconds(from: state.submitted, to: end))
        state.continuation.yield(.finished(reason, usage))
        state.continuation.finish()
        statistics.finishedRequests[reason.rawValue, default: 0] += 1
        inbox.lock()
        activeIDs.remove(state.request.id)
        inbox.unlock()
    }

    private func publish() {
        statistics.preemptions = scheduler.preemptionCount
        statistics.prefixCacheQueries = scheduler.blocks.prefixQueries
        statistics.prefixCacheHits = scheduler.blocks.prefixHits
        statistics.runningRequests = scheduler.running.count
        statistics.waitingRequests = scheduler.waiting.count
        statistics.kvCacheUsage = scheduler.blocks.usage
        inbox.lock()
        snapshot = statistics
        inbox.unlock()
    }

    private func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    private func seconds(from start: UInt64, to end: UInt64) -> Double {
        end > start ? Double(end - start) / 1e9 : 0
    }
}

/// A request inside the engine: its stream, output decoder and timing.
private final class RequestState {
    let request: GenerationRequest
    let continuation: AsyncStream<GenerationEvent>.Continuation
    var decoder: IncrementalDecoder
    var stopMatcher: StopStringMatcher
    var sequence: SequenceState?
    let submitted = DispatchTime.now().uptimeNanoseconds
    var firstScheduled: UInt64?
    var firstToken: UInt64?
    var completionTokens = 0

    init(request: GenerationRequest, tokenizer: Tokenizer, continuation: AsyncStream<GenerationEvent>.Continuation) {
        self.request = request
        self.continuation = continuation
        decoder = IncrementalDecoder(tokenizer: tokenizer)
        stopMatcher = StopStringMatcher(stopStrings: request.stopStrings)
    }
}

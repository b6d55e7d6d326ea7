import Foundation
import Tokenizer

/// The engine loop as a state machine without threads: each `iterate()` schedules one step,
/// dispatches it to the device, and collects the steps it may collect. `Engine` runs it on its
/// thread; the tests run it step by step against a simulated device.
///
/// The invariants of asynchronous batching live here (docs/architecture.md has the table):
/// the host prepares step N+1 before it waits for step N, a sequence's next input is a reference to
/// the token the device sampled for it, requests end one step late, and blocks are freed only
/// after the last step that may use them completes.
final class EngineCore {
    struct Configuration {
        var maxBatchTokens: Int
        var maxSequences: Int
        var asynchronous: Bool
        var recordSteps: Bool
        var speculation: Speculation?
    }

    private struct InFlightStep {
        let handle: StepHandle
        var record: StepRecord
        let work: [Scheduler.Work]
    }

    let device: any Device
    let configuration: Configuration
    private let tokenizer: Tokenizer
    private(set) var scheduler: Scheduler
    private(set) var statistics = EngineStatistics()
    /// Called when a request has ended (its stream is finished).
    var requestEnded: (String) -> Void = { _ in }
    /// Called with each step's record when `recordSteps` is set.
    var stepRecorded: (StepRecord) -> Void = { _ in }

    private var requests: [Int: RequestState] = [:]
    private var requestIDs: [String: RequestState] = [:]
    private var releasedSequences: [Int] = []
    private var inFlight: [InFlightStep] = []
    private var nextStepID = 0
    private var nextSequenceID = 0
    private var lastDeviceEnd: UInt64?

    init(device: any Device, tokenizer: Tokenizer, configuration: Configuration) {
        self.device = device
        self.tokenizer = tokenizer
        self.configuration = configuration
        let layout = device.cacheLayout
        scheduler = Scheduler(
            configuration: .init(
                maxBatchTokens: max(configuration.maxBatchTokens, 1), maxSequences: max(configuration.maxSequences, 1),
                asynchronous: configuration.asynchronous, attentionWindow: layout.attentionWindow,
                localWindow: layout.localPool?.window, speculation: configuration.speculation),
            blocks: BlockManager(blockSize: layout.blockSize, blockCount: layout.blockCount),
            localBlocks: layout.localPool.map { BlockManager(blockSize: layout.blockSize, blockCount: $0.blockCount) })
    }

    /// Whether any request is queued, running or waiting for a step in flight.
    var isBusy: Bool { !requests.isEmpty || !inFlight.isEmpty }

    // MARK: Intake

    /// Takes a validated request in; it is scheduled from the next iteration on.
    func admit(_ request: GenerationRequest, submitted: UInt64, continuation: AsyncStream<GenerationEvent>.Continuation) {
        let sequence = SequenceState(
            id: nextSequenceID, arrival: nextSequenceID, prompt: request.promptTokens, maxTokens: request.maxTokens)
        nextSequenceID += 1
        sequence.speculates = configuration.speculation != nil && request.speculative
        let state = RequestState(
            request: request, sequence: sequence, tokenizer: tokenizer, submitted: submitted, continuation: continuation)
        requests[sequence.id] = state
        requestIDs[request.id] = state
        scheduler.add(sequence)
        statistics.promptTokens += sequence.promptCount
    }

    /// Ends a request with finish reason `abort` (nothing if it already ended).
    func abort(requestID: String) {
        if let state = requestIDs[requestID] { endRequest(state, reason: .abort) }
    }

    /// Forgets every cached prefix (running sequences keep their blocks).
    func resetPrefixCache() { scheduler.resetPrefixCache() }

    // MARK: The loop

    /// One turn of the loop: schedule and dispatch a step, then collect finished steps — all but
    /// the newest in asynchronous mode (the host stays one step ahead), all in synchronous mode.
    /// Returns false when there is nothing to do until a request arrives.
    func iterate(preparationStart: UInt64 = now()) -> Bool {
        // The single-sequence fast path: on a device that computes on the host's cores, overlapping
        // host work takes cores from the step, and with one sequence nothing else needs them. The
        // engine collects what is in flight and runs the sequence's steps itself, synchronously.
        let alone = device.computesOnHostCores && scheduler.running.count + scheduler.waiting.count == 1
        var collected = false
        if alone {
            collected = !inFlight.isEmpty
            while !inFlight.isEmpty { collectStep(inFlight.removeFirst()) }
        }
        let work = scheduler.schedule(lastSubmittedStep: inFlight.last?.handle.stepID)
        if !work.isEmpty {
            var (step, record) = makeStep(work, preparationStart: preparationStart)
            record.submitted = now()
            if alone {
                complete(device.run(step), record: record, work: work)
            } else {
                inFlight.append(InFlightStep(handle: device.submit(step), record: record, work: work))
            }
        }
        // Invariant "host one step ahead": step N+1 is submitted above before step N is waited for.
        let keep = configuration.asynchronous && !work.isEmpty ? 1 : 0
        if inFlight.count > keep { collected = true }
        while inFlight.count > keep { collectStep(inFlight.removeFirst()) }
        publishGauges()
        guard work.isEmpty && inFlight.isEmpty else { return true }
        if scheduler.hasUnfinishedSequences {
            // What was just collected can make work schedulable (a preempted sequence waits for
            // its last sample): schedule again at once.
            if collected { return true }
            // With no step in flight every block is free, so the scheduler always finds work.
            // Failing the stuck requests beats spinning or hanging if that is ever wrong.
            assertionFailure("unfinished sequences but nothing to schedule")
            for state in Array(requests.values) { endRequest(state, reason: .abort) }
        }
        lastDeviceEnd = nil  // the device idles because there is no work: not counted
        return false
    }

    /// Collects every step in flight and aborts every request (at shutdown).
    func drain() {
        while !inFlight.isEmpty { collectStep(inFlight.removeFirst()) }
        for state in Array(requests.values) { endRequest(state, reason: .abort) }
        publishGauges()
    }

    /// Turns scheduled work into a device step and its record.
    private func makeStep(_ work: [Scheduler.Work], preparationStart: UInt64) -> (DeviceStep, StepRecord) {
        let stepID = nextStepID
        nextStepID += 1
        var entries: [DeviceStep.Entry] = []
        entries.reserveCapacity(work.count)
        let time = now()
        for item in work {
            let sequence = item.sequence
            guard let state = requests[sequence.id] else { continue }
            var entry = DeviceStep.Entry(
                sequenceID: sequence.id, tokens: Array(sequence.tokens[item.knownTokens]),
                // Invariant "no host round trip": a decode's input is the device's own last sample.
                appendsPreviousSample: item.usesPendingSample, firstPosition: item.firstPosition,
                blockTable: sequence.blockTable, localBlockTable: scheduler.localBlocks == nil ? nil : sequence.localBlockTable,
                samples: item.samples, topLogprobs: state.request.topLogprobs,
                draftLimit: item.draftLimit)
            if item.samples && !sequence.hasDecodingState {
                sequence.hasDecodingState = true
                entry.newState = state.makeDecodingState(drafting: sequence.speculates ? configuration.speculation : nil)
            } else if sequence.readmitted {
                entry.acceptedTokens = sequence.outputCount
            }
            sequence.readmitted = false
            if state.firstScheduled == nil { state.firstScheduled = time }
            entries.append(entry)
        }
        let step = DeviceStep(id: stepID, entries: entries, releasedSequences: releasedSequences)
        releasedSequences.removeAll()
        let record = StepRecord(
            id: stepID, prepareStart: preparationStart, submitted: 0, deviceStart: 0, deviceEnd: 0, collected: 0,
            sequences: entries.count, tokens: work.reduce(0) { $0 + $1.tokenCount },
            decodeTokens: work.reduce(0) { $0 + ($1.isDecode ? 1 : 0) }, draftedTokens: 0, acceptedTokens: 0, deviceIdleBefore: 0)
        return (step, record)
    }

    /// Waits for a step in flight and hands each sampled token to its request.
    private func collectStep(_ flight: InFlightStep) {
        complete(device.wait(for: flight.handle), record: flight.record, work: flight.work)
    }

    /// Hands each token a step sampled to its request, and records the step.
    private func complete(_ output: StepOutput, record: StepRecord, work: [Scheduler.Work]) {
        let collectStart = now()
        var record = record
        record.deviceStart = output.startNanoseconds
        record.deviceEnd = output.endNanoseconds
        // Invariant "the idle measure": device time between the previous step's end and this
        // step's start, counted only while the engine had work.
        if let previousEnd = lastDeviceEnd, output.startNanoseconds > previousEnd {
            record.deviceIdleBefore = output.startNanoseconds - previousEnd
        }
        lastDeviceEnd = output.endNanoseconds

        if output.failure != nil {
            // Cannot happen with a correct scheduler; fail the step's requests rather than the process.
            for item in work {
                if let state = requests[item.sequence.id] { endRequest(state, reason: .abort) }
            }
        }
        var verified: [Int: StepOutput.Verification] = [:]
        for verification in output.verifications {
            verified[verification.sequenceID] = verification
            record.draftedTokens += verification.drafted
            record.acceptedTokens += verification.accepted
            statistics.recordVerification(drafted: verification.drafted, accepted: verification.accepted)
        }
        for item in work where item.samples {
            let verification = verified[item.sequence.id]
            item.sequence.stepCollected(
                draftLimit: item.draftLimit, drafted: verification?.drafted ?? 0, accepted: verification?.accepted ?? 0,
                preemptions: item.preemptions)
        }
        for sample in output.samples {
            // Invariant "finish one step late": a sequence that ended while this step was in
            // flight (or at an earlier token of this step) has no request any more; its tokens
            // are dropped here.
            guard let state = requests[sample.sequenceID] else { continue }
            state.sequence.appendCollected(sample.token)
            let outcome = state.collect(sample.token, logprob: sample.logprob, at: collectStart)
            if outcome.streamed { statistics.generatedTokens += 1 }
            if let reason = outcome.finish { endRequest(state, reason: reason) }
        }
        scheduler.stepCompleted(output.stepID)
        record.collected = now()
        statistics.record(record)
        if configuration.recordSteps { stepRecorded(record) }
    }

    /// Ends a request: its stream finishes now, its blocks return after the steps in flight.
    private func endRequest(_ state: RequestState, reason: FinishReason) {
        let sequence = state.sequence
        guard sequence.status != .finished else { return }
        // Invariant "memory freed late": blocks are held until the newest submitted step completes.
        scheduler.remove(sequence, lastSubmittedStep: inFlight.last?.handle.stepID)
        requests[sequence.id] = nil
        requestIDs[state.request.id] = nil
        releasedSequences.append(sequence.id)
        // The id is free again before the stream ends, so a client that reuses it on receiving
        // the end is not refused as a duplicate.
        requestEnded(state.request.id)
        state.finish(reason, at: now())
        statistics.finishedRequests[reason.rawValue, default: 0] += 1
    }

    private func publishGauges() {
        statistics.preemptions = scheduler.preemptionCount
        statistics.prefixCacheQueries = scheduler.blocks.prefixQueries
        statistics.prefixCacheHits = scheduler.blocks.prefixHits
        statistics.runningRequests = scheduler.running.count
        statistics.waitingRequests = scheduler.waiting.count
        statistics.kvCacheUsage = scheduler.blocks.usage
        statistics.localKVCacheUsage = scheduler.localBlocks?.usage
    }
}

/// The host clock: `DispatchTime` nanoseconds, as the CPU device's step times.
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

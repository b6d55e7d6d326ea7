import Foundation
import Randomness
import Testing

@testable import Engine

/// A request of a loop test, with when it arrives and when it is aborted (loop iterations).
private struct TimedRequest {
    var request: GenerationRequest
    var arrival = 0
    var abortAt: Int?
}

/// Drives the real `EngineCore` one iteration at a time against a `SimulatedDevice`, and checks
/// at every step what only the scheduler's state shows (decodes first, preemption order, block
/// ownership) on top of what the device checks itself.
private final class LoopHarness {
    let core: EngineCore
    let device: SimulatedDevice
    let asynchronous: Bool
    let blockSize: Int
    let blockCount: Int
    /// With a pool that can never run short, running decodes must be scheduled every step.
    let expectDecodesEveryStep: Bool
    /// The model's sliding window on every layer, if any.
    let window: Int?
    /// The most blocks a sequence may hold under the window: those of the positions its last
    /// chunk attended to and wrote (at most `window + maxBatchTokens - 1`), one more for alignment.
    let heldBlockLimit: Int?
    /// With interleaved local and global layers (a split cache): the local window, the local
    /// pool's blocks, and the most blocks of it a sequence may hold.
    let localWindow: Int?
    let localBlockCount: Int
    let localHeldBlockLimit: Int?
    /// The most blocks any running sequence held after an iteration, by sequence id.
    private(set) var mostHeldBlocks: [Int: Int] = [:]
    private let requests: [TimedRequest]
    private var streams: [String: AsyncStream<GenerationEvent>] = [:]
    private var collected: [GenerationResult]?
    private(set) var violations: [String] = []
    private(set) var observedPreemptions: [(step: Int, victim: Int)] = []
    private var iteration = 0
    /// Sequences in the step submitted during the current iteration.
    private var scheduledNow: Set<Int> = []
    /// Running sequences before the iteration's schedule: (id, arrival, preemptions, decoding).
    private var before: [(sequence: SequenceState, preemptions: Int, decoding: Bool)] = []

    init(
        _ requests: [TimedRequest], asynchronous: Bool, blockSize: Int, blockCount: Int, maxBatchTokens: Int,
        maxSequences: Int, expectDecodesEveryStep: Bool = false, computesOnHostCores: Bool = false,
        speculation: Speculation? = nil, copying: Bool = false, window: Int? = nil, localWindow: Int? = nil,
        localBlockCount: Int = 0
    ) {
        // Sequence ids follow arrival order, as in the engine.
        self.requests = requests.enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }
            .map(\.element)
        self.asynchronous = asynchronous
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.expectDecodesEveryStep = expectDecodesEveryStep
        self.window = window
        heldBlockLimit = Scheduler.blocksHeld(window: window, chunk: maxBatchTokens, blockSize: blockSize)
        self.localWindow = localWindow
        self.localBlockCount = localBlockCount
        // A speculating decode also reserves for the drafts its step in flight may have accepted.
        localHeldBlockLimit = Scheduler.blocksHeld(
            window: localWindow, chunk: maxBatchTokens + (speculation?.maxDraftTokens ?? 0), blockSize: blockSize)
        device = SimulatedDevice(
            blockSize: blockSize, blockCount: blockCount, asynchronous: asynchronous, maxBatchTokens: maxBatchTokens,
            maxSequences: maxSequences, computesOnHostCores: computesOnHostCores, copying: copying || speculation != nil,
            window: window, localPool: localWindow.map { .init(blockCount: localBlockCount, window: $0) })
        core = EngineCore(
            device: device, tokenizer: FakeModel.tokenizer,
            configuration: .init(
                maxBatchTokens: maxBatchTokens, maxSequences: maxSequences, asynchronous: asynchronous, recordSteps: false,
                speculation: speculation))
        device.inspect = { [unowned self] step in checkSchedule(step) }
    }

    private func fail(_ message: String) {
        if violations.count < 20 { violations.append("iteration \(iteration): \(message)") }
    }

    /// Runs until every request has ended.
    func run(maxIterations: Int = 20_000) {
        while iteration < maxIterations {
            for timed in requests where timed.arrival == iteration {
                let (stream, continuation) = AsyncStream<GenerationEvent>.makeStream()
                streams[timed.request.id] = stream
                core.admit(timed.request, submitted: now(), continuation: continuation)
            }
            for timed in requests where timed.abortAt == iteration { core.abort(requestID: timed.request.id) }
            before = core.scheduler.running.map { sequence in
                (sequence, sequence.preemptions, sequence.isDecoding && sequence.canSample)
            }
            scheduledNow = []
            let busy = core.iterate()
            checkPreemptions()
            checkOwnership()
            iteration += 1
            // A request the core could not schedule would end as aborted: `checkResults` reports it.
            if !busy && !requests.contains(where: { $0.arrival >= iteration }) { break }
        }
        if iteration >= maxIterations { fail("did not finish within \(maxIterations) iterations") }
        if core.scheduler.hasUnfinishedSequences { fail("the scheduler still has sequences") }
        if core.scheduler.blocks.freeBlockCount != blockCount || core.scheduler.blocks.deferredBlockCount != 0 {
            fail("blocks leaked: \(core.scheduler.blocks.freeBlockCount) free, \(core.scheduler.blocks.deferredBlockCount) deferred")
        }
        if let local = core.scheduler.localBlocks, local.freeBlockCount != localBlockCount || local.deferredBlockCount != 0 {
            fail("local blocks leaked: \(local.freeBlockCount) free, \(local.deferredBlockCount) deferred")
        }
        if (core.scheduler.localBlocks != nil) != (localWindow != nil) { fail("a split cache without a local pool, or the reverse") }
    }

    /// Each request's result, in arrival order (its stream is read once, the first time).
    func results() async -> [GenerationResult] {
        if let collected { return collected }
        var results: [GenerationResult] = []
        for timed in requests {
            guard let stream = streams[timed.request.id] else { continue }
            results.append(await Engine.result(of: stream, id: timed.request.id))
        }
        collected = results
        return results
    }

    /// Checks results against the requests run alone, and the device's sample counts.
    func checkResults() async {
        let results = await results()
        let samples = device.samples
        for (index, (timed, result)) in zip(requests, results).enumerated() {
            let reference = FakeModel.reference(timed.request, copying: device.copying, window: window, localWindow: localWindow)
            let sampled = samples[index, default: 0]
            // Tokens a step may sample beyond the end: the one in flight (asynchronous), and the
            // drafts accepted after an end within a step, or by a step in flight.
            let drafts = core.configuration.speculation?.maxDraftTokens ?? 0
            let extra = (asynchronous ? 1 + 2 * drafts : drafts)
            switch result.finishReason {
            case .abort:
                if timed.abortAt == nil { fail("\(timed.request.id) aborted") }
                if !reference.tokens.starts(with: result.tokenIDs) { fail("\(timed.request.id): aborted output is not a prefix") }
            case .length, .stop:
                if result.tokenIDs != reference.tokens || result.finishReason != reference.reason {
                    fail("\(timed.request.id): \(result.tokenIDs) \(result.finishReason), expected \(reference)")
                }
                // Invariant "finish one step late": at most one sample past the end, and only when asynchronous.
                let collected = result.usage.completionTokens
                if result.finishReason == .length && sampled != collected && !(asynchronous && drafts > 0) {
                    fail("\(timed.request.id): \(sampled) samples for \(collected) tokens")
                }
                if sampled > collected + extra { fail("\(timed.request.id): \(sampled) samples, \(collected) tokens") }
            }
        }
    }

    /// What the scheduler's state shows at submission: decodes first, the newest preempted, the
    /// sample limit kept.
    private func checkSchedule(_ step: DeviceStep) {
        scheduledNow.formUnion(step.entries.map(\.sequenceID))
        let decoding = Set(before.filter(\.decoding).map(\.sequence.id))
        let isDecode = step.entries.map { decoding.contains($0.sequenceID) }
        if let firstPrefill = isDecode.firstIndex(of: false), isDecode[firstPrefill...].contains(true) {
            fail("a decode is scheduled after a prefill chunk: \(isDecode)")
        }
        if expectDecodesEveryStep {
            let scheduled = Set(step.entries.map(\.sequenceID))
            for id in decoding where !scheduled.contains(id) { fail("decode of sequence \(id) was not scheduled") }
        }
        let live = core.scheduler.running + core.scheduler.waiting
        for entry in step.entries {
            guard let sequence = live.first(where: { $0.id == entry.sequenceID }) else {
                fail("scheduled unknown sequence \(entry.sequenceID)")
                continue
            }
            if sequence.status != .running { fail("scheduled sequence \(sequence.id) is not running") }
            if sequence.generatedIncludingPending > sequence.maxTokens { fail("sequence \(sequence.id) scheduled past max_tokens") }
        }
    }

    /// The victims of this iteration's preemptions are newer than every running sequence that stays,
    /// except those already scheduled in this step (decodes come first, so an older prefill short of
    /// blocks can be its own victim).
    private func checkPreemptions() {
        let victims = before.filter { $0.sequence.preemptions != $0.preemptions }.map(\.sequence)
        let victimIDs = Set(victims.map(\.id))
        for victim in victims {
            observedPreemptions.append((iteration, victim.id))
            if victim.preemptions != (before.first { $0.sequence === victim }?.preemptions ?? 0) + 1 { fail("\(victim.id) preempted twice") }
            if let newer = before.first(where: {
                !victimIDs.contains($0.sequence.id) && !scheduledNow.contains($0.sequence.id) && $0.sequence.arrival > victim.arrival
            }) {
                fail("preempted \(victim.id) while newer \(newer.sequence.id) keeps running")
            }
        }
    }

    /// Reference counts match the block tables; a block is shared only as a registered prefix;
    /// under a window, holes lead the table and a sequence holds at most `heldBlockLimit` blocks.
    private func checkOwnership() {
        var owners: [Int32: [(SequenceState, Int)]] = [:]
        for sequence in core.scheduler.running + core.scheduler.waiting {
            if sequence.status == .waiting && !sequence.blockTable.isEmpty { fail("waiting \(sequence.id) holds blocks") }
            let held = sequence.blockTable.enumerated().filter { $0.element != BlockManager.hole }
            if Set(held.map(\.element)).count != held.count { fail("\(sequence.id) holds a block twice") }
            if held.first.map({ $0.offset != sequence.firstHeldBlock }) ?? false || held.count + sequence.firstHeldBlock != sequence.blockTable.count
            {
                fail("\(sequence.id) has holes after its first held block: \(sequence.blockTable)")
            }
            if window == nil && sequence.firstHeldBlock != 0 { fail("\(sequence.id) released blocks without a window") }
            mostHeldBlocks[sequence.id] = max(mostHeldBlocks[sequence.id] ?? 0, held.count)
            if let limit = heldBlockLimit, held.count > limit { fail("\(sequence.id) holds \(held.count) blocks, more than \(limit)") }
            for (index, block) in held { owners[block, default: []].append((sequence, index)) }
        }
        for block in 0..<Int32(blockCount) {
            let list = owners[block] ?? []
            if core.scheduler.blocks.references(block) != list.count {
                fail("block \(block) has \(core.scheduler.blocks.references(block)) references, \(list.count) owners")
            }
            guard list.count > 1 else { continue }
            for (sequence, index) in list {
                let prefix = Array(sequence.tokens.prefix((index + 1) * blockSize))
                if index >= sequence.registeredBlocks || prefix.count < (index + 1) * blockSize
                    || prefix != Array(list[0].0.tokens.prefix((index + 1) * blockSize)) || index != list[0].1
                {
                    fail("block \(block) shared by \(list.map(\.0.id)) without a common cached prefix")
                }
            }
        }
        if core.scheduler.blocks.freeBlockCount + owners.count > blockCount { fail("free and referenced blocks overlap") }
        if let local = core.scheduler.localBlocks { checkLocalOwnership(local) }
    }

    /// The same for the local pool of a split cache: reference counts match the local tables, a
    /// shared block is a registered prefix, holes lead the table, at most `localHeldBlockLimit` held.
    private func checkLocalOwnership(_ pool: BlockManager) {
        var owners: [Int32: [(SequenceState, Int)]] = [:]
        for sequence in core.scheduler.running + core.scheduler.waiting {
            if sequence.status == .waiting && !sequence.localBlockTable.isEmpty { fail("waiting \(sequence.id) holds local blocks") }
            if sequence.status == .running && sequence.localBlockTable.count != sequence.blockTable.count {
                fail("\(sequence.id): local table \(sequence.localBlockTable), global \(sequence.blockTable)")
            }
            let held = sequence.localBlockTable.enumerated().filter { $0.element != BlockManager.hole }
            if held.first.map({ $0.offset != sequence.localFirstHeldBlock }) ?? false
                || held.count + sequence.localFirstHeldBlock != sequence.localBlockTable.count
            {
                fail("\(sequence.id) has local holes after its first held block: \(sequence.localBlockTable)")
            }
            if let limit = localHeldBlockLimit, held.count > limit { fail("\(sequence.id) holds \(held.count) local blocks, more than \(limit)") }
            for (index, block) in held { owners[block, default: []].append((sequence, index)) }
        }
        for block in 0..<Int32(localBlockCount) {
            let list = owners[block] ?? []
            if pool.references(block) != list.count { fail("local block \(block) has \(pool.references(block)) references, \(list.count) owners") }
            guard list.count > 1 else { continue }
            for (sequence, index) in list {
                let prefix = Array(sequence.tokens.prefix((index + 1) * blockSize))
                if index >= sequence.registeredBlocks || prefix != Array(list[0].0.tokens.prefix((index + 1) * blockSize)) || index != list[0].1 {
                    fail("local block \(block) shared by \(list.map(\.0.id)) without a common cached prefix")
                }
            }
        }
    }

    var allViolations: [String] { violations + device.violations }
}

private func expectClean(_ harness: LoopHarness, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(harness.allViolations.isEmpty, "\(harness.allViolations.joined(separator: "\n"))", sourceLocation: sourceLocation)
}

private func prompt(_ count: Int, base: Int32 = 2) -> [Int32] { (0..<count).map { base + Int32($0 % 50) } }

private func request(
    _ id: Int, _ prompt: [Int32], maxTokens: Int, arrival: Int = 0, abortAt: Int? = nil, sampling: SamplingParameters = .greedy,
    stopTokenIDs: Set<Int32> = [], ignoreEOS: Bool = true
) -> TimedRequest {
    TimedRequest(
        request: GenerationRequest(
            id: "r\(id)", promptTokens: prompt, sampling: sampling, maxTokens: maxTokens, ignoreEOS: ignoreEOS,
            stopTokenIDs: stopTokenIDs),
        arrival: arrival, abortAt: abortAt)
}

/// The engine loop (`EngineCore`, as `Engine` runs it) against the simulated device.
@Suite struct EngineLoopTests {
    @Test(arguments: [false, true])
    func longPromptIsChunkedWithinTheBudget(asynchronous: Bool) async {
        let harness = LoopHarness(
            [request(0, prompt(10), maxTokens: 3)], asynchronous: asynchronous, blockSize: 4, blockCount: 16, maxBatchTokens: 4,
            maxSequences: 4)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        if asynchronous {
            #expect(harness.device.plan == [["0:0..<4"], ["0:4..<8"], ["0:8..<10s"], ["0:10..<10+ps"], ["0:11..<11+ps"]])
        } else {
            #expect(harness.device.plan == [["0:0..<4"], ["0:4..<8"], ["0:8..<10s"], ["0:10..<11s"], ["0:11..<12s"]])
        }
    }

    /// Invariant "host one step ahead": asynchronously, every step but the last is waited for
    /// only after its successor is submitted; synchronously, never.
    @Test(arguments: [false, true])
    func theHostStaysOneStepAhead(asynchronous: Bool) async {
        let harness = LoopHarness(
            [request(0, prompt(6), maxTokens: 12)], asynchronous: asynchronous, blockSize: 4, blockCount: 8, maxBatchTokens: 16,
            maxSequences: 4)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        let waits = harness.device.waits
        #expect(waits.count == 12)
        #expect(waits.dropLast().allSatisfy { $0.successorSubmitted == asynchronous })
        #expect(waits.last?.successorSubmitted == false)
    }

    @Test(arguments: [false, true])
    func decodesComeBeforePrefillChunks(asynchronous: Bool) async {
        let harness = LoopHarness(
            [request(0, prompt(2), maxTokens: 6), request(1, prompt(9, base: 100), maxTokens: 2, arrival: 2)],
            asynchronous: asynchronous, blockSize: 4, blockCount: 16, maxBatchTokens: 4, maxSequences: 4,
            expectDecodesEveryStep: true)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        let plan = harness.device.plan
        // From the step where the long prompt arrives, sequence 0 decodes first and sequence 1
        // takes the rest of the budget: 3 prompt tokens a step.
        guard let arrivalStep = plan.firstIndex(where: { $0.contains { $0.hasPrefix("1:") } }) else {
            Issue.record("sequence 1 was never scheduled")
            return
        }
        #expect(plan[arrivalStep].count == 2)
        #expect(plan[arrivalStep][0].hasPrefix("0:"))
        #expect(plan[arrivalStep][1] == "1:0..<3")
        #expect(plan[arrivalStep + 1][0].hasPrefix("0:"))
        #expect(plan[arrivalStep + 1][1] == "1:3..<6")
        #expect(plan[arrivalStep + 2][1] == "1:6..<9s")
    }

    @Test(arguments: [false, true])
    func sequenceCapLimitsEachStep(asynchronous: Bool) async {
        let requests = (0..<5).map { request($0, prompt(3, base: Int32($0) * 10 + 2), maxTokens: 4) }
        let harness = LoopHarness(
            requests, asynchronous: asynchronous, blockSize: 4, blockCount: 32, maxBatchTokens: 100, maxSequences: 2,
            expectDecodesEveryStep: true)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        #expect(harness.device.plan.first == ["0:0..<3s", "1:0..<3s"])
        #expect(harness.device.plan.allSatisfy { $0.count <= 2 })
    }

    @Test(arguments: [false, true])
    func maxTokensOneSamplesOnce(asynchronous: Bool) async {
        let harness = LoopHarness(
            [request(0, prompt(5), maxTokens: 1)], asynchronous: asynchronous, blockSize: 4, blockCount: 4, maxBatchTokens: 16,
            maxSequences: 4)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        #expect(harness.device.plan == [["0:0..<5s"]])
    }

    /// Seeded sampling with penalties through preemption: the readmitted sequence continues with
    /// the decoding state the device kept (rolled back to the collected tokens), so its output
    /// equals the request run alone.
    @Test(arguments: [false, true])
    func newestSequenceIsPreemptedAndResumed(asynchronous: Bool) async {
        // 6 blocks of 2 tokens; each sequence needs 5 blocks by its end.
        let sampling = SamplingParameters(temperature: 1, topK: 20, repetitionPenalty: 1.3, frequencyPenalty: 0.5, seed: 7)
        let harness = LoopHarness(
            [request(0, prompt(4), maxTokens: 6, sampling: sampling), request(1, prompt(4, base: 60), maxTokens: 6, sampling: sampling)],
            asynchronous: asynchronous, blockSize: 2, blockCount: 6, maxBatchTokens: 16, maxSequences: 4)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        #expect(!harness.observedPreemptions.isEmpty)
        #expect(harness.observedPreemptions.allSatisfy { $0.victim == 1 })
        #expect(harness.core.scheduler.preemptionCount >= 1)
        #expect(await harness.results().map(\.tokenIDs.count) == [6, 6])
    }

    @Test(arguments: [false, true])
    func sharedPromptPrefixesUseTheCache(asynchronous: Bool) async {
        let system = prompt(12, base: 7)
        let requests = (0..<5).map { i in request(i, system + prompt(1 + i, base: 200 + Int32(i)), maxTokens: 3, arrival: 3 * i) }
        let harness = LoopHarness(
            requests, asynchronous: asynchronous, blockSize: 4, blockCount: 40, maxBatchTokens: 32, maxSequences: 8,
            expectDecodesEveryStep: true)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        // Every later request finds the 3 full system-prompt blocks.
        #expect(harness.core.scheduler.blocks.prefixHits == 4 * 12)
        #expect(await harness.results().dropFirst().allSatisfy { $0.usage.cachedPromptTokens == 12 })
        #expect(harness.device.plan.joined().filter { $0.hasSuffix("s") && $0.contains(":12..<") }.count == 4)
    }

    /// A generation far longer than the pool, on a model with a window of 8 on every layer: the
    /// blocks behind the window return to the pool as it advances, so it runs in 5 blocks of 4
    /// (it needs 55 without the window) without preemption, with the tokens it gets alone.
    @Test(arguments: [false, true])
    func aSlidingWindowFreesTheBlocksBehindIt(asynchronous: Bool) async {
        let sampling = SamplingParameters(temperature: 1, topK: 20, repetitionPenalty: 1.2, seed: 11)
        let harness = LoopHarness(
            [request(0, prompt(20), maxTokens: 200, sampling: sampling)], asynchronous: asynchronous, blockSize: 4, blockCount: 5,
            maxBatchTokens: 8, maxSequences: 4, window: 8)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        #expect(await harness.results().map(\.tokenIDs.count) == [200])
        #expect(harness.core.scheduler.preemptionCount == 0)
        // After each step it holds the blocks of the positions its tokens attended to and wrote:
        // the prompt's second chunk 0..<16, then while decoding 3 blocks, 4 across a boundary.
        #expect(harness.mostHeldBlocks[0] == 4)
        // The last step computes position 218, which attends from 211: blocks 0-51 were released.
        #expect(harness.core.scheduler.blocksReleasedBehindWindow == 52)
        #expect(Scheduler.blocksHeld(window: 8, chunk: 8, blockSize: 4) == 5)
    }

    /// Invariant "identical results in both modes", and both equal to each request run alone.
    @Test func synchronousAndAsynchronousProduceTheSameTokens() async {
        let requests = (0..<6).map { i in
            request(
                i, prompt(3 + 5 * i, base: Int32(i) + 2), maxTokens: 2 + 3 * i, arrival: i,
                sampling: i % 2 == 0 ? .greedy : SamplingParameters(temperature: 0.8, topP: 0.9, presencePenalty: 1, seed: UInt64(i)),
                ignoreEOS: false)
        }
        var outputs: [[[Int32]]] = []
        for asynchronous in [false, true] {
            let harness = LoopHarness(
                requests, asynchronous: asynchronous, blockSize: 4, blockCount: 20, maxBatchTokens: 8, maxSequences: 3)
            harness.run()
            await harness.checkResults()
            expectClean(harness)
            outputs.append(await harness.results().map(\.tokenIDs))
        }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == requests.map { FakeModel.reference($0.request).tokens })
    }

    /// The single-sequence fast path: on a device that computes on the host's cores, a sequence
    /// that is alone runs its steps synchronously (nothing in flight), the loop goes back to
    /// asynchronous steps while others run, and every request gets the tokens it gets alone.
    @Test(arguments: [false, true])
    func aLoneSequenceRunsSynchronouslyOnAHostCoreDevice(asynchronous: Bool) async {
        let requests = [
            request(0, prompt(9), maxTokens: 14, sampling: SamplingParameters(temperature: 0.7, seed: 3)),
            request(1, prompt(5, base: 7), maxTokens: 4, arrival: 6)
        ]
        let harness = LoopHarness(
            requests, asynchronous: asynchronous, blockSize: 4, blockCount: 20, maxBatchTokens: 8, maxSequences: 4,
            computesOnHostCores: true)
        harness.run()
        await harness.checkResults()
        expectClean(harness)
        let steps = harness.device.steps
        let inline = harness.device.ranInline
        // Alone: inline. Together: submitted, and (asynchronously) the host one step ahead.
        guard let together = steps.firstIndex(where: { $0.count == 2 }) else {
            Issue.record("the requests never ran together: \(harness.device.plan)")
            return
        }
        #expect((0..<together).allSatisfy { inline[$0] == true })
        #expect(steps.indices.allSatisfy { inline[$0] == false || steps[$0].count == 1 })
        #expect(inline[steps.count - 1] == true)
        // The step scheduled while the other sequence ends (it is collected after scheduling)
        // is the one lone step that is still submitted.
        #expect(steps.indices.filter { inline[$0] == false && steps[$0].count == 1 }.count <= 1)
        if asynchronous { #expect(harness.device.waits.contains { $0.successorSubmitted }) }
    }

    /// Constrained requests mixed with free ones, through preemption: the grammar state lives on
    /// the device, is rolled back on readmission, and gives the same tokens in both modes as each
    /// request run alone; every constrained output matches its grammar.
    /// With speculative decoding too: drafted positions are masked by the grammar as it stands
    /// after the drafts before them.
    @Test(arguments: [false, true])
    func constrainedOutputsAreTheSameInBothModes(speculative: Bool) async throws {
        // Tokens " t1" ... " t49" (SentencePiece "▁t1"…), then end of text.
        let words = try FakeModel.runtime(.regex("( t[1-4][0-9]?){2,6}"))
        let choice = try FakeModel.runtime(.choice([" t7 t8", " t70"]))
        let sampling = SamplingParameters(temperature: 1, topK: 30, repetitionPenalty: 1.2, seed: 5)
        var requests: [TimedRequest] = []
        for i in 0..<8 {
            // A prompt said twice: its n-grams repeat, so drafts follow them.
            let said = prompt(3 + i, base: 2 + Int32(i))
            var timed = request(i, said + said, maxTokens: 7, arrival: i / 3, sampling: sampling, ignoreEOS: false)
            timed.request.constraint = i % 3 == 2 ? nil : (i % 3 == 0 ? words : choice)
            requests.append(timed)
        }
        var speculation = Speculation()
        speculation.tokenCost = 0
        speculation.draftCost = 0
        var outputs: [[[Int32]]] = []
        var accepted = 0
        for asynchronous in [false, true] {
            let harness = LoopHarness(
                requests, asynchronous: asynchronous, blockSize: 2, blockCount: 14, maxBatchTokens: 12, maxSequences: 5,
                speculation: speculative ? speculation : nil)
            harness.run()
            accepted += harness.device.acceptedDrafts
            await harness.checkResults()
            expectClean(harness)
            #expect(harness.core.scheduler.preemptionCount > 0)
            let results = await harness.results()
            outputs.append(results.map(\.tokenIDs))
            for (timed, result) in zip(requests, results) where timed.request.constraint != nil && result.finishReason == .stop {
                let text = FakeModel.tokenizer.decode(result.tokenIDs)
                let grammar = try #require(timed.request.constraint).grammar
                #expect(GrammarSampler.accepts(grammar, Array(" \(text)".utf8)) || GrammarSampler.accepts(grammar, Array(text.utf8)), "\(text)")
            }
        }
        #expect(outputs[0] == outputs[1])
        #expect(outputs[0] == requests.map { FakeModel.reference($0.request, copying: speculative).tokens })
        if speculative { #expect(accepted > 0, "drafts were accepted") }
    }

    /// Drafts keep the distribution: a prompt whose first sample is often 7, after which the
    /// drafter proposes 8 (the n-gram "5 6 7" occurred before, followed by 8) and the model favours
    /// 8 too. Over 3000 seeds, the second token is 8 as often as the model's exact probability
    /// says, and the runs with and without drafts agree seed by seed.
    @Test func draftsKeepTheSampledDistribution() async {
        let prompt: [Int32] = [5, 6, 7, 8, 9, 5, 6]
        var speculation = Speculation()
        speculation.tokenCost = 0
        speculation.draftCost = 0
        var seconds: [[[Int32]]] = []
        var drafted = 0
        for drafting in [nil, speculation] {
            let requests = (0..<3000).map {
                request($0, prompt, maxTokens: 3, arrival: $0 / 64, sampling: SamplingParameters(seed: UInt64($0)))
            }
            let harness = LoopHarness(
                requests, asynchronous: true, blockSize: 4, blockCount: 64 * 4, maxBatchTokens: 512, maxSequences: 64,
                speculation: drafting, copying: true)
            harness.run()
            expectClean(harness)
            let results = await harness.results()
            seconds.append(results.map(\.tokenIDs))
            drafted += harness.device.acceptedDrafts
        }
        let differing = zip(seconds[0], seconds[1]).filter { $0 != $1 }.count
        #expect(differing == 0, "the same tokens seed by seed: \(differing) of 3000 differ")
        #expect(drafted > 100, "drafts were verified and accepted: \(drafted)")
        // The exact probability of 8 after the prompt and 7 (temperature 1: a plain softmax).
        let logits = FakeModel.logits(after: prompt + [7], copying: true)
        let maximum = logits.max() ?? 0
        let weights = logits.map { exp(Double($0 - maximum)) }
        let p = weights[8] / weights.reduce(0, +)
        let afterSeven = seconds[1].filter { (tokens: [Int32]) in tokens.count == 3 && tokens[0] == 7 }
        let n = Double(afterSeven.count)
        let observed = Double(afterSeven.filter { (tokens: [Int32]) in tokens[1] == 8 }.count)
        let z = (observed - n * p) / (n * p * (1 - p)).squareRoot()
        #expect(n > 500, "enough samples after 7: \(n)")
        #expect(abs(z) < 4, "8 follows 7 in \(observed) of \(n) runs; the model says p = \(p) (z = \(z))")
    }

    /// Random workloads: arrivals over time, shared prefixes, sampling with penalties, stop tokens
    /// and end of text, aborts, and pools from ample to barely enough; every invariant is checked
    /// at every step, and every output equals its request run alone. With speculative decoding
    /// (a model that repeats its context, drafts always worth their cost) too: the outputs stay
    /// those of the requests run alone without drafts.
    @Test(arguments: [false, true], [false, true])
    func randomWorkloadsKeepEveryInvariant(asynchronous: Bool, speculative: Bool) async {
        await runRandomWorkloads(
            asynchronous: asynchronous, seed: (asynchronous ? 17 : 29) + (speculative ? 1000 : 0), windowed: false,
            speculative: speculative)
    }

    /// The random workloads on a model with a sliding window on every layer: blocks behind the
    /// window are released as sequences advance (a long sequence holds at most `heldBlockLimit`),
    /// and nothing is read from a hole, through preemption, prefix hits and aborts.
    @Test(arguments: [false, true])
    func randomWorkloadsWithASlidingWindowKeepEveryInvariant(asynchronous: Bool) async {
        await runRandomWorkloads(asynchronous: asynchronous, seed: asynchronous ? 41 : 43, windowed: true, speculative: false)
    }

    /// The random workloads on a model with interleaved local and global layers and a split cache:
    /// the fake model hashes the whole context (global table) and the local window (local table),
    /// the local pool is sized for the blocks one step holds, and its blocks behind the window are
    /// released; with speculative decoding too.
    @Test(arguments: [false, true], [false, true])
    func randomWorkloadsWithInterleavedLocalLayersKeepEveryInvariant(asynchronous: Bool, speculative: Bool) async {
        await runRandomWorkloads(
            asynchronous: asynchronous, seed: (asynchronous ? 53 : 59) + (speculative ? 1000 : 0), windowed: false,
            speculative: speculative, split: true)
    }

    private func runRandomWorkloads(asynchronous: Bool, seed: UInt64, windowed: Bool, speculative: Bool, split: Bool = false) async {
        var random = SplitMix64(seed: seed)
        var speculation = Speculation()
        speculation.maxDraftTokens = 4
        speculation.tokenCost = 0
        speculation.draftCost = 0
        func uniform(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
        var preemptions = 0
        var hits = 0
        var stops = 0
        var acceptedDrafts = 0
        var released = 0
        for trial in 0..<120 {
            let blockSize = [1, 2, 4, 8][trial % 4]
            let maxSequences = uniform(1...6)
            let maxBatchTokens = uniform(maxSequences...40)
            let window = windowed ? uniform(1...16) : nil
            let localWindow = split ? uniform(1...16) : nil
            let prefixes = (0..<3).map { p in (0..<uniform(0...20)).map { _ in Int32(p * 100 + uniform(2...11)) } }
            var longest = 0
            var requests: [TimedRequest] = []
            for index in 0..<uniform(1...10) {
                var tokens: [Int32]
                if speculative {
                    // Prompts from few tokens: they repeat, so n-grams match. (This stream's trial 86
                    // preempted a sequence while a step that accepted drafts was in flight.)
                    let tail = (0..<uniform(0...12)).map { _ in Int32(uniform(2...9)) }
                    tokens = prefixes[uniform(0...2)] + tail
                } else {
                    tokens = prefixes[uniform(0...2)] + (0..<uniform(0...12)).map { _ in Int32(uniform(2...998)) }
                }
                if tokens.isEmpty { tokens = [2] }
                let sampling =
                    uniform(0...2) == 0
                    ? SamplingParameters.greedy
                    : SamplingParameters(temperature: 1, topK: uniform(0...50), repetitionPenalty: 1.2, seed: UInt64(index))
                var timed = request(
                    index, tokens, maxTokens: uniform(1...(windowed || split ? 48 : 16)), arrival: uniform(0...30), sampling: sampling,
                    ignoreEOS: uniform(0...1) == 0)
                if uniform(0...5) == 0 {
                    // Stop at a token the request is known to produce.
                    let reference = FakeModel.reference(timed.request, copying: speculative, window: window, localWindow: localWindow)
                        .tokens
                    if let token = reference.randomElement(using: &random) { timed.request.stopTokenIDs = [token] }
                }
                if uniform(0...9) == 0 { timed.abortAt = timed.arrival + uniform(0...20) }
                longest = max(longest, tokens.count + timed.request.maxTokens)
                requests.append(timed)
            }
            // Enough for the longest request alone; under a window, for the blocks one step holds.
            var minimumBlocks = (longest + blockSize - 1) / blockSize
            if let held = Scheduler.blocksHeld(window: window, chunk: maxBatchTokens, blockSize: blockSize) {
                minimumBlocks = min(minimumBlocks, held)
            }
            let ample = trial % 3 == 0
            let blockCount = ample ? minimumBlocks * requests.count + 1 : minimumBlocks + uniform(0...3)
            // The local pool: for the blocks one step holds under the local window (or the longest
            // request, if fewer), with room to spare when ample.
            var minimumLocalBlocks = (longest + blockSize - 1) / blockSize
            if let held = Scheduler.blocksHeld(window: localWindow, chunk: maxBatchTokens, blockSize: blockSize) {
                minimumLocalBlocks = min(minimumLocalBlocks, held)
            }
            let localBlockCount = ample ? minimumLocalBlocks * requests.count + 1 : minimumLocalBlocks + uniform(0...3)
            let harness = LoopHarness(
                requests, asynchronous: asynchronous, blockSize: blockSize, blockCount: blockCount, maxBatchTokens: maxBatchTokens,
                maxSequences: maxSequences, expectDecodesEveryStep: ample, speculation: speculative ? speculation : nil,
                window: window, localWindow: localWindow, localBlockCount: localBlockCount)
            harness.run()
            await harness.checkResults()
            #expect(
                harness.allViolations.isEmpty,
                """
                trial \(trial): \(harness.allViolations.joined(separator: "\n"))
                blocks \(blockCount) (local \(localBlockCount), window \(localWindow.map(String.init) ?? "none")) of \(blockSize), budget \(maxBatchTokens), cap \(maxSequences), window \(window.map(String.init) ?? "none")
                plan: \(harness.device.plan.prefix(16).enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "\n"))
                """)
            if !harness.allViolations.isEmpty { break }
            preemptions += harness.core.scheduler.preemptionCount
            hits += harness.core.scheduler.blocks.prefixHits
            stops += await harness.results().filter { $0.finishReason == .stop }.count
            acceptedDrafts += harness.device.acceptedDrafts
            released += harness.core.scheduler.blocksReleasedBehindWindow
        }
        if speculative { #expect(acceptedDrafts > 10, "drafts must be accepted: \(acceptedDrafts)") }
        #expect(preemptions > 0, "the tight pools must exercise preemption")
        #expect(hits > 0, "the shared prefixes must hit the cache")
        #expect(stops > 0, "stop tokens and end of text must end requests")
        #expect((released > 0) == (windowed || split), "blocks are released behind a window, and only then")
    }
}

/// The threaded `Engine` over the simulated device: requests arrive from tasks at random times
/// and some are aborted, in both modes.
@Suite struct EngineThreadTests {
    @Test(arguments: [false, true])
    func concurrentRequestsMatchTheirReferences(asynchronous: Bool) async throws {
        let device = SimulatedDevice(blockSize: 4, blockCount: 48, asynchronous: asynchronous, maxBatchTokens: 24, maxSequences: 6)
        var configuration = Engine.Configuration()
        configuration.asynchronous = asynchronous
        configuration.maxBatchTokens = 24
        configuration.maxSequences = 6
        configuration.recordSteps = true
        let engine = Engine(device: device, tokenizer: FakeModel.tokenizer, limits: FakeModel.limits, configuration: configuration)
        defer { engine.shutdown() }
        let requests = (0..<24).map { i in
            GenerationRequest(
                id: "t\(i)", promptTokens: prompt(4 + (i * 7) % 30, base: Int32(i % 5) * 40 + 2),
                sampling: i % 3 == 0 ? .greedy : SamplingParameters(temperature: 0.9, topK: 40, seed: UInt64(i)),
                maxTokens: 3 + (i * 5) % 20)
        }
        let results = await withTaskGroup(of: (Int, GenerationResult).self) { group in
            for (index, request) in requests.enumerated() {
                group.addTask {
                    try? await Task.sleep(for: .microseconds(200 * (index % 8)))
                    guard let stream = try? engine.submit(request) else { return (index, GenerationResult(id: request.id)) }
                    if index % 7 == 3 { engine.abort(id: request.id) }
                    return (index, await Engine.result(of: stream, id: request.id))
                }
            }
            var results = [GenerationResult?](repeating: nil, count: requests.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
        #expect(device.violations.isEmpty, "\(device.violations.joined(separator: "\n"))")
        for (request, result) in zip(requests, results) {
            guard let result else {
                Issue.record("no result for \(request.id)")
                continue
            }
            let reference = FakeModel.reference(request)
            if result.finishReason == .abort {
                #expect(reference.tokens.starts(with: result.tokenIDs), "\(request.id)")
            } else {
                #expect(result.tokenIDs == reference.tokens, "\(request.id)")
                #expect(result.finishReason == reference.reason, "\(request.id)")
            }
        }
        #expect(results.compactMap { $0 }.filter { $0.finishReason != .abort }.count >= 18)
        // Statistics are published after the step that ended the last request.
        var statistics = engine.currentStatistics
        for _ in 0..<100 where statistics.steps != device.steps.count || statistics.kvCacheUsage != 0 {
            try await Task.sleep(for: .milliseconds(10))
            statistics = engine.currentStatistics
        }
        #expect(statistics.steps == device.steps.count)
        #expect(engine.steps.count == device.steps.count)
        #expect(statistics.kvCacheUsage == 0)
    }

    /// Found by `bench single` after the engine split: an id became free only after its stream
    /// ended, so resubmitting it at once was refused as a duplicate.
    @Test func anIdIsFreeOnceItsStreamEnds() async throws {
        let device = SimulatedDevice(blockSize: 4, blockCount: 16, asynchronous: true, maxBatchTokens: 16, maxSequences: 4)
        let engine = Engine(device: device, tokenizer: FakeModel.tokenizer, limits: FakeModel.limits)
        defer { engine.shutdown() }
        for round in 0..<50 {
            let stream = try engine.submit(GenerationRequest(id: "same", promptTokens: [2, 3, Int32(round % 7 + 2)], maxTokens: 1 + round % 3))
            _ = await Engine.result(of: stream, id: "same")
        }
    }

    @Test func aStepFailureEndsItsRequestsNotTheEngine() async throws {
        let device = FailingDevice()
        let engine = Engine(device: device, tokenizer: FakeModel.tokenizer, limits: FakeModel.limits)
        defer { engine.shutdown() }
        let stream = try engine.submit(GenerationRequest(id: "f", promptTokens: [2, 3], maxTokens: 4))
        let result = await Engine.result(of: stream, id: "f")
        #expect(result.finishReason == .abort)
        #expect(result.tokenIDs.isEmpty)
        // The engine goes on serving.
        let again = try engine.submit(GenerationRequest(id: "g", promptTokens: [2, 3], maxTokens: 4))
        #expect(await Engine.result(of: again, id: "g").finishReason == .abort)
    }
}

/// A device whose every step fails.
private final class FailingDevice: Device {
    let cacheLayout = KVCacheLayout(blockSize: 4, blockCount: 16, elementType: "token")
    func submit(_ step: DeviceStep) -> StepHandle {
        let handle = StepHandle(stepID: step.id)
        handle.fulfill(StepOutput(stepID: step.id, samples: [], startNanoseconds: 0, endNanoseconds: 0, failure: "broken"))
        return handle
    }
    func wait(for handle: StepHandle) -> StepOutput { handle.wait() }
    func shutdown() {}
}

/// The simulated device with a scripted clock: step N ran from `times[N].0` to `times[N].1`.
private final class ClockedDevice: Device {
    let inner: SimulatedDevice
    let times: [(UInt64, UInt64)]
    var cacheLayout: KVCacheLayout { inner.cacheLayout }

    init(times: [(UInt64, UInt64)]) {
        self.times = times
        inner = SimulatedDevice(blockSize: 4, blockCount: 8, asynchronous: false, maxBatchTokens: 16, maxSequences: 4)
    }

    func submit(_ step: DeviceStep) -> StepHandle { inner.submit(step) }
    func wait(for handle: StepHandle) -> StepOutput {
        var output = inner.wait(for: handle)
        (output.startNanoseconds, output.endNanoseconds) = times[handle.stepID]
        return output
    }
    func shutdown() {}
}

@Suite struct EngineMeasurementTests {
    /// Invariant "the idle measure": device idle time is the gap between one step's end and the
    /// next one's start while the engine has work; a gap after the engine ran out of work is not idle.
    @Test func idleTimeIsCountedOnlyWhileThereIsWork() async {
        let device = ClockedDevice(times: [(0, 10), (15, 20), (20, 30), (1_000, 1_010), (1_012, 1_020)])
        let core = EngineCore(
            device: device, tokenizer: FakeModel.tokenizer,
            configuration: .init(maxBatchTokens: 16, maxSequences: 4, asynchronous: false, recordSteps: false))
        func generate(_ id: String, maxTokens: Int) {
            let (_, continuation) = AsyncStream<GenerationEvent>.makeStream()
            core.admit(
                GenerationRequest(id: id, promptTokens: [2, 3], maxTokens: maxTokens, ignoreEOS: true), submitted: now(),
                continuation: continuation)
            while core.iterate() {}
        }
        generate("a", maxTokens: 3)
        generate("b", maxTokens: 2)
        let statistics = core.statistics
        #expect(statistics.steps == 5)
        #expect(abs(statistics.deviceBusySeconds - 43e-9) < 1e-15)
        #expect(abs(statistics.deviceIdleSeconds - 7e-9) < 1e-15)  // 5 before step 1, 2 before step 4
        #expect(abs(statistics.deviceIdleFraction - 7.0 / 50) < 1e-12)
        #expect(device.inner.violations.isEmpty)
    }
}

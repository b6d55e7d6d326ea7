import Randomness
import Testing

@testable import Engine

/// The fake model: the next token is a hash of the whole context (prompt and outputs so far).
/// Anything that corrupts the simulated KV cache (a wrong shared block, a block reused too
/// early, a wrong position) changes the tokens.
private func fakeNextToken<C: Collection>(_ context: C) -> Int32 where C.Element == Int32 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for token in context { h = (h ^ UInt64(UInt32(bitPattern: token))) &* 0x0000_0100_0000_01b3 }
    return Int32(truncatingIfNeeded: (h >> 17) % 997)
}

/// A request for the simulation.
private struct SimRequest {
    var prompt: [Int32]
    var maxTokens: Int
    /// The loop iteration at which it arrives.
    var arrival = 0
    /// Finish with reason "stop" once this many tokens are collected (an EOS seen one step late).
    var stopAfter: Int?
    /// Abort at this loop iteration (whatever its state).
    var abortAt: Int?
}

/// One scheduled item as the device receives it.
private struct SimEntry {
    let sequence: SequenceState
    let known: [Int32]
    let knownRange: Range<Int>
    let usesPendingSample: Bool
    let blockTable: [Int32]
    let samples: Bool
    var tokenCount: Int { known.count + (usesPendingSample ? 1 : 0) }
}

private struct SimStep {
    let id: Int
    let entries: [SimEntry]
    var blocks: Set<Int32> { Set(entries.flatMap(\.blockTable)) }
}

/// Drives a `Scheduler` exactly like `Engine.loop` does (schedule, submit, collect; in
/// asynchronous mode one step stays in flight), with a simulated device that executes each step
/// in submission order against a paged token store, and checks the scheduler's invariants.
private final class Simulation {
    let asynchronous: Bool
    let blockSize: Int
    let blockCount: Int
    let maxBatchTokens: Int
    let maxSequences: Int
    /// With a pool that can never run short, running decodes must be scheduled every step.
    let expectDecodesEveryStep: Bool
    var scheduler: Scheduler

    private let requests: [SimRequest]
    private(set) var sequences: [SequenceState] = []
    private var live: [Int: SequenceState] = [:]
    private var kv: [Int32]
    private var lastSample: [Int: Int32] = [:]
    private var inFlight: [SimStep] = []
    private var nextStepID = 0
    private(set) var scheduledSamples: [Int: Int] = [:]
    private(set) var finishReasons: [Int: String] = [:]
    private(set) var steps: [[SimEntry]] = []
    private(set) var violations: [String] = []
    private(set) var observedPreemptions: [(step: Int, victim: Int)] = []

    init(
        _ requests: [SimRequest], asynchronous: Bool, blockSize: Int, blockCount: Int,
        maxBatchTokens: Int, maxSequences: Int, expectDecodesEveryStep: Bool = false
    ) {
        // Sequence ids and arrival numbers follow arrival order, as in the engine.
        self.requests = requests.enumerated().sorted { ($0.element.arrival, $0.offset) < ($1.element.arrival, $1.offset) }
            .map(\.element)
        self.asynchronous = asynchronous
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
        self.expectDecodesEveryStep = expectDecodesEveryStep
        scheduler = Scheduler(
            configuration: .init(maxBatchTokens: maxBatchTokens, maxSequences: maxSequences, asynchronous: asynchronous),
            blocks: BlockManager(blockSize: blockSize, blockCount: blockCount))
        kv = Array(repeating: -1, count: blockSize * blockCount)
    }

    private func fail(_ message: String) {
        if violations.count < 20 { violations.append("step \(nextStepID): \(message)") }
    }

    /// Runs until every request is finished; returns the number of loop iterations.
    @discardableResult
    func run(maxIterations: Int = 20_000) -> Int {
        var iteration = 0
        var idleWithWork = 0
        while iteration < maxIterations {
            // Arrivals and aborts (Engine.drainInbox).
            for (index, request) in requests.enumerated() where request.arrival == iteration {
                let sequence = SequenceState(id: index, arrival: index, prompt: request.prompt, maxTokens: request.maxTokens)
                sequences.append(sequence)
                live[index] = sequence
                scheduler.add(sequence)
            }
            for (index, request) in requests.enumerated() where request.abortAt == iteration {
                if let sequence = live[index] { finish(sequence, reason: "abort") }
            }

            let work = scheduleAndCheck()
            if !work.isEmpty { submit(work) }
            let keep = asynchronous && !work.isEmpty ? 1 : 0
            while inFlight.count > keep { collect(inFlight.removeFirst()) }
            checkOwnership()
            iteration += 1

            let arrivalsLeft = requests.contains { $0.arrival >= iteration }
            if work.isEmpty && inFlight.isEmpty {
                if !scheduler.hasUnfinishedSequences && !arrivalsLeft { break }
                if scheduler.hasUnfinishedSequences {
                    idleWithWork += 1
                    if idleWithWork > 1 {
                        fail("hang: nothing scheduled although no step is in flight")
                        break
                    }
                }
            } else {
                idleWithWork = 0
            }
        }
        if iteration >= maxIterations { fail("did not finish within \(maxIterations) iterations") }
        checkEnd()
        return iteration
    }

    private func scheduleAndCheck() -> [Scheduler.Work] {
        let lastSubmitted = inFlight.last?.id
        let inFlightBlocks = inFlight.reduce(into: Set<Int32>()) { $0.formUnion($1.blocks) }
        let runningBefore = scheduler.running
        var before: [Int: (table: [Int32], computed: Int, pending: Int, tokens: Int, preemptions: Int)] = [:]
        for sequence in live.values {
            before[sequence.id] = (
                sequence.blockTable, sequence.computedTokens, sequence.pendingSamples,
                sequence.tokens.count, sequence.preemptions
            )
        }
        let decoding = Set(
            runningBefore.filter {
                $0.uncomputedTokens + $0.pendingSamples == 1 && $0.uncomputedTokens <= 1 && $0.canSample
            }.map(\.id))

        let work = scheduler.schedule(lastSubmittedStep: lastSubmitted)

        // Budget and caps.
        let tokens = work.reduce(0) { $0 + $1.tokenCount }
        if tokens > maxBatchTokens { fail("\(tokens) tokens exceed the budget \(maxBatchTokens)") }
        if work.count > maxSequences { fail("\(work.count) sequences exceed the cap") }
        if scheduler.running.count > maxSequences { fail("\(scheduler.running.count) running exceed the cap") }
        if Set(work.map(\.sequence.id)).count != work.count { fail("a sequence appears twice in one step") }

        // Decodes first.
        let isDecode = work.map { decoding.contains($0.sequence.id) }
        if let firstPrefill = isDecode.firstIndex(of: false), isDecode[firstPrefill...].contains(true) {
            fail("a decode is scheduled after a prefill chunk: \(isDecode)")
        }
        if expectDecodesEveryStep {
            let scheduled = Set(work.map(\.sequence.id))
            for id in decoding where !scheduled.contains(id) { fail("decode of sequence \(id) was not scheduled") }
        }

        // Preemption: the victims are newer than every running sequence that stays. (A victim may
        // be readmitted in the same step, recomputing from its cached prefix.)
        let runningAfterIDs = Set(scheduler.running.map(\.id))
        let victims = runningBefore.filter { $0.preemptions != before[$0.id]?.preemptions }
        let victimIDs = Set(victims.map(\.id))
        let survivors = runningBefore.filter { !victimIDs.contains($0.id) }
        for sequence in runningBefore where !runningAfterIDs.contains(sequence.id) && !victimIDs.contains(sequence.id) {
            fail("sequence \(sequence.id) left the running set without preemption")
        }
        for victim in victims {
            observedPreemptions.append((nextStepID, victim.id))
            if victim.preemptions != (before[victim.id]?.preemptions ?? 0) + 1 { fail("\(victim.id) preempted twice") }
            if !runningAfterIDs.contains(victim.id)
                && (!victim.blockTable.isEmpty || victim.computedTokens != 0
                    || victim.status != .waiting)
            {
                fail("victim \(victim.id) kept state")
            }
            if let older = survivors.first(where: { $0.arrival > victim.arrival }) {
                fail("preempted \(victim.id) while newer \(older.id) keeps running")
            }
        }

        // Blocks that sequences admitted in this step took from the prefix cache: a chunk computed in
        // the same step may be shared this way (every layer writes all keys before any token attends).
        var sharedInStep = Set<Int32>()
        for item in work where !survivors.contains(where: { $0 === item.sequence }) {
            sharedInStep.formUnion(item.sequence.blockTable.prefix(item.firstPosition / blockSize))
        }

        for item in work {
            let sequence = item.sequence
            guard let prior = before[sequence.id] else { fail("scheduled unknown sequence \(sequence.id)"); continue }
            if sequence.status != .running { fail("scheduled sequence \(sequence.id) is not running") }
            if item.tokenCount < 1 { fail("empty work for \(sequence.id)") }
            if item.knownTokens.upperBound > prior.tokens { fail("known tokens past the end for \(sequence.id)") }
            let wasRunning = survivors.contains { $0 === sequence }
            if wasRunning {
                if item.firstPosition != prior.computed { fail("sequence \(sequence.id) skips or repeats positions") }
                if Array(sequence.blockTable.prefix(prior.table.count)) != prior.table {
                    fail("block table of running \(sequence.id) changed")
                }
            } else if item.firstPosition % blockSize != 0 || item.firstPosition >= prior.tokens {
                fail("admitted \(sequence.id) starts at \(item.firstPosition) of \(prior.tokens)")
            }
            if item.usesPendingSample {
                if !asynchronous { fail("pending sample used in synchronous mode") }
                if !item.knownTokens.isEmpty { fail("pending decode with known tokens") }
                if prior.pending != 1 || !(inFlight.last?.entries.contains { $0.sequence === sequence && $0.samples } ?? false) {
                    fail("pending decode of \(sequence.id) without a sample in flight")
                }
                if item.firstPosition != prior.tokens { fail("pending decode of \(sequence.id) at \(item.firstPosition), expected \(prior.tokens)") }
            }
            if item.samples && !item.usesPendingSample && item.knownTokens.upperBound != prior.tokens {
                fail("sequence \(sequence.id) samples before the end of its known tokens")
            }
            if !item.samples && item.knownTokens.upperBound == prior.tokens && !item.usesPendingSample {
                fail("sequence \(sequence.id) computes its last token without sampling")
            }
            if item.samples {
                scheduledSamples[sequence.id, default: 0] += 1
                if sequence.generatedIncludingPending > sequence.maxTokens {
                    fail("sequence \(sequence.id) scheduled past max_tokens")
                }
                if scheduledSamples[sequence.id, default: 0] > sequence.maxTokens {
                    fail("sequence \(sequence.id) sampled more than max_tokens times")
                }
            }
            let end = item.firstPosition + item.tokenCount
            if sequence.blockTable.count < scheduler.blocks.blocksNeeded(forTokens: end) {
                fail("sequence \(sequence.id) lacks blocks for position \(end - 1)")
            }
            // Fresh blocks must not be read or written by a step still in flight.
            let firstFresh = wasRunning ? prior.table.count : item.firstPosition / blockSize
            for block in sequence.blockTable.dropFirst(firstFresh) {
                if inFlightBlocks.contains(block) { fail("block \(block) handed to \(sequence.id) while in flight") }
                if scheduler.blocks.references(block) != 1 && !sharedInStep.contains(block) {
                    fail("fresh block \(block) has other owners")
                }
            }
        }
        return work
    }

    private func submit(_ work: [Scheduler.Work]) {
        let entries = work.map { item in
            SimEntry(
                sequence: item.sequence, known: Array(item.sequence.tokens[item.knownTokens]),
                knownRange: item.knownTokens, usesPendingSample: item.usesPendingSample,
                blockTable: item.sequence.blockTable, samples: item.samples)
        }
        inFlight.append(SimStep(id: nextStepID, entries: entries))
        steps.append(entries)
        nextStepID += 1
    }

    /// The device: writes each input token into its slot, then samples from the context it reads back.
    private func execute(_ step: SimStep) -> [(Int, Int32)] {
        var samples: [(Int, Int32)] = []
        for entry in step.entries {
            let id = entry.sequence.id
            var inputs = entry.known
            if entry.usesPendingSample {
                guard let previous = lastSample[id] else { fail("no previous sample for \(id)"); continue }
                inputs.append(previous)
            }
            func slot(_ position: Int) -> Int? {
                let index = position / blockSize
                guard index < entry.blockTable.count else { return nil }
                return Int(entry.blockTable[index]) * blockSize + position % blockSize
            }
            for (offset, token) in inputs.enumerated() {
                guard let s = slot(entry.knownRange.lowerBound + offset) else { fail("no slot"); return samples }
                kv[s] = token
            }
            if entry.samples {
                let end = entry.knownRange.lowerBound + inputs.count
                let context = (0..<end).map { slot($0).map { kv[$0] } ?? -2 }
                let token = fakeNextToken(context)
                lastSample[id] = token
                samples.append((id, token))
            }
        }
        return samples
    }

    private func collect(_ step: SimStep) {
        for (id, token) in execute(step) {
            guard let sequence = live[id] else { continue }  // finished one step late: discarded
            sequence.appendCollected(token)
            if sequence.pendingSamples < 0 { fail("negative pending samples for \(id)") }
            if let stop = requests[id].stopAfter, sequence.outputCount >= stop {
                finish(sequence, reason: "stop")
            } else if sequence.outputCount >= sequence.maxTokens {
                finish(sequence, reason: "length")
            }
        }
        scheduler.stepCompleted(step.id)
    }

    private func finish(_ sequence: SequenceState, reason: String) {
        scheduler.finish(sequence, lastSubmittedStep: inFlight.last?.id)
        live[sequence.id] = nil
        // The device keeps its state for the sequence: a step in flight may still decode it.
        finishReasons[sequence.id] = reason
    }

    /// Reference counts match the block tables; a block is shared only as a registered prefix.
    private func checkOwnership() {
        var owners: [Int32: [(SequenceState, Int)]] = [:]
        for sequence in live.values {
            if sequence.status == .waiting && !sequence.blockTable.isEmpty { fail("waiting \(sequence.id) holds blocks") }
            if Set(sequence.blockTable).count != sequence.blockTable.count { fail("\(sequence.id) holds a block twice") }
            for (index, block) in sequence.blockTable.enumerated() { owners[block, default: []].append((sequence, index)) }
        }
        for block in 0..<Int32(blockCount) {
            let list = owners[block] ?? []
            if scheduler.blocks.references(block) != list.count {
                fail("block \(block) has \(scheduler.blocks.references(block)) references, \(list.count) owners")
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
        let referenced = owners.count
        if scheduler.blocks.freeBlockCount + referenced > blockCount { fail("free and referenced blocks overlap") }
    }

    private func checkEnd() {
        if !live.isEmpty { fail("unfinished sequences \(live.keys.sorted())") }
        if scheduler.hasUnfinishedSequences { fail("scheduler still has sequences") }
        if scheduler.blocks.freeBlockCount != blockCount || scheduler.blocks.deferredBlockCount != 0 {
            fail("blocks leaked: \(scheduler.blocks.freeBlockCount) free, \(scheduler.blocks.deferredBlockCount) deferred")
        }
        for sequence in sequences {
            let request = requests[sequence.id]
            for k in 0..<sequence.outputCount {
                let position = sequence.promptCount + k
                if sequence.tokens[position] != fakeNextToken(sequence.tokens[..<position]) {
                    fail("sequence \(sequence.id) token \(k) differs from the model's")
                    break
                }
            }
            let samples = scheduledSamples[sequence.id, default: 0]
            switch finishReasons[sequence.id] {
            case "length":
                if sequence.outputCount != sequence.maxTokens || samples != sequence.maxTokens {
                    fail("\(sequence.id): \(sequence.outputCount) tokens, \(samples) samples, max \(sequence.maxTokens)")
                }
            case "stop":
                let stop = request.stopAfter ?? -1
                if sequence.outputCount != stop || samples > stop + (asynchronous ? 1 : 0) {
                    fail("\(sequence.id) stopped with \(sequence.outputCount) tokens, \(samples) samples")
                }
            case "abort":
                break
            default:
                fail("\(sequence.id) never finished")
            }
        }
    }

    /// The items of each step, as (sequence, known range, uses pending sample, samples).
    var plan: [[String]] {
        steps.map {
            $0.map {
                "\($0.sequence.id):\($0.knownRange.lowerBound)..<\($0.knownRange.upperBound)\($0.usesPendingSample ? "+p" : "")\($0.samples ? "s" : "")"
            }
        }
    }

    func outputs() -> [[Int32]] { sequences.sorted { $0.id < $1.id }.map { Array($0.tokens[$0.promptCount...]) } }
}

private func expectClean(_ simulation: Simulation, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(
        simulation.violations.isEmpty, "\(simulation.violations.joined(separator: "\n"))",
        sourceLocation: sourceLocation)
}

private func prompt(_ count: Int, base: Int32 = 0) -> [Int32] { (0..<count).map { base + Int32($0 % 50) } }

@Suite struct SchedulerTests {
    @Test(arguments: [false, true])
    func longPromptIsChunkedWithinTheBudget(asynchronous: Bool) {
        let simulation = Simulation(
            [SimRequest(prompt: prompt(10), maxTokens: 3)], asynchronous: asynchronous,
            blockSize: 4, blockCount: 16, maxBatchTokens: 4, maxSequences: 4)
        simulation.run()
        expectClean(simulation)
        if asynchronous {
            #expect(simulation.plan == [["0:0..<4"], ["0:4..<8"], ["0:8..<10s"], ["0:10..<10+ps"], ["0:11..<11+ps"]])
        } else {
            #expect(simulation.plan == [["0:0..<4"], ["0:4..<8"], ["0:8..<10s"], ["0:10..<11s"], ["0:11..<12s"]])
        }
        #expect(simulation.outputs()[0].count == 3)
    }

    @Test(arguments: [false, true])
    func decodesComeBeforePrefillChunks(asynchronous: Bool) {
        let simulation = Simulation(
            [
                SimRequest(prompt: prompt(2), maxTokens: 6),
                SimRequest(prompt: prompt(9, base: 100), maxTokens: 2, arrival: 2)
            ], asynchronous: asynchronous, blockSize: 4, blockCount: 16, maxBatchTokens: 4, maxSequences: 4,
            expectDecodesEveryStep: true)
        simulation.run()
        expectClean(simulation)
        let plan = simulation.plan
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
    func sequenceCapLimitsEachStep(asynchronous: Bool) {
        let requests = (0..<5).map { SimRequest(prompt: prompt(3, base: Int32($0) * 10), maxTokens: 4) }
        let simulation = Simulation(
            requests, asynchronous: asynchronous, blockSize: 4, blockCount: 32,
            maxBatchTokens: 100, maxSequences: 2, expectDecodesEveryStep: true)
        simulation.run()
        expectClean(simulation)
        #expect(simulation.plan[0] == ["0:0..<3s", "1:0..<3s"])
        #expect(simulation.plan.allSatisfy { $0.count <= 2 })
        #expect(simulation.outputs().allSatisfy { $0.count == 4 })
    }

    @Test(arguments: [false, true])
    func maxTokensOneSamplesOnce(asynchronous: Bool) {
        let simulation = Simulation(
            [SimRequest(prompt: prompt(5), maxTokens: 1)], asynchronous: asynchronous,
            blockSize: 4, blockCount: 4, maxBatchTokens: 16, maxSequences: 4)
        simulation.run()
        expectClean(simulation)
        #expect(simulation.plan == [["0:0..<5s"]])
    }

    @Test(arguments: [false, true])
    func newestSequenceIsPreemptedAndResumed(asynchronous: Bool) {
        // 6 blocks of 2 tokens; each sequence needs 5 blocks by its end.
        let simulation = Simulation(
            [
                SimRequest(prompt: prompt(4), maxTokens: 6),
                SimRequest(prompt: prompt(4, base: 60), maxTokens: 6)
            ], asynchronous: asynchronous, blockSize: 2, blockCount: 6, maxBatchTokens: 16, maxSequences: 4)
        simulation.run()
        expectClean(simulation)
        #expect(simulation.scheduler.preemptionCount >= 1)
        #expect(!simulation.observedPreemptions.isEmpty)
        #expect(simulation.observedPreemptions.allSatisfy { $0.victim == 1 })
        #expect(simulation.sequences[0].preemptions == 0)
        #expect(simulation.sequences[1].preemptions >= 1)
        #expect(simulation.outputs().map(\.count) == [6, 6])
    }

    @Test func synchronousAndAsynchronousProduceTheSameTokens() {
        let requests = (0..<6).map { i in
            SimRequest(prompt: prompt(3 + 5 * i, base: Int32(i)), maxTokens: 2 + 3 * i, arrival: i)
        }
        let sync = Simulation(requests, asynchronous: false, blockSize: 4, blockCount: 20, maxBatchTokens: 8, maxSequences: 3)
        let async = Simulation(requests, asynchronous: true, blockSize: 4, blockCount: 20, maxBatchTokens: 8, maxSequences: 3)
        sync.run()
        async.run()
        expectClean(sync)
        expectClean(async)
        #expect(sync.outputs() == async.outputs())
        #expect(sync.outputs().map(\.count) == requests.map(\.maxTokens))
    }

    @Test(arguments: [false, true])
    func sharedPromptPrefixesUseTheCache(asynchronous: Bool) {
        let system = prompt(12, base: 7)
        let requests = (0..<5).map { i in
            SimRequest(prompt: system + prompt(1 + i, base: 200 + Int32(i)), maxTokens: 3, arrival: 3 * i)
        }
        let simulation = Simulation(
            requests, asynchronous: asynchronous, blockSize: 4, blockCount: 40,
            maxBatchTokens: 32, maxSequences: 8, expectDecodesEveryStep: true)
        simulation.run()
        expectClean(simulation)
        // Every later request finds the 3 full system-prompt blocks.
        #expect(simulation.scheduler.blocks.prefixHits == 4 * 12)
        #expect(simulation.sequences.dropFirst().allSatisfy { $0.cachedPromptTokens == 12 })
        #expect(simulation.plan.joined().filter { $0.hasSuffix("s") && $0.contains(":12..<") }.count == 4)
    }

    /// Random workloads: arrivals over time, shared prefixes, early stops, aborts, and pools from
    /// ample to barely enough; every invariant is checked at every step.
    @Test(arguments: [false, true])
    func randomWorkloadsKeepEveryInvariant(asynchronous: Bool) {
        var random = SplitMix64(seed: asynchronous ? 17 : 29)
        func uniform(_ range: ClosedRange<Int>) -> Int { range.lowerBound + Int(random.next() % UInt64(range.count)) }
        var preemptions = 0
        var hits = 0
        for trial in 0..<120 {
            let blockSize = [1, 2, 4, 8][trial % 4]
            let maxSequences = uniform(1...6)
            let maxBatchTokens = uniform(maxSequences...40)
            let prefixes = (0..<3).map { p in (0..<uniform(0...20)).map { _ in Int32(p * 100 + uniform(0...9)) } }
            var longest = 0
            var requests: [SimRequest] = []
            for _ in 0..<uniform(1...10) {
                var tokens = prefixes[uniform(0...2)] + (0..<uniform(0...12)).map { _ in Int32(uniform(0...999)) }
                if tokens.isEmpty { tokens = [1] }
                var request = SimRequest(prompt: tokens, maxTokens: uniform(1...16), arrival: uniform(0...30))
                if uniform(0...5) == 0 { request.stopAfter = uniform(1...request.maxTokens) }
                if uniform(0...9) == 0 { request.abortAt = request.arrival + uniform(0...20) }
                longest = max(longest, tokens.count + request.maxTokens)
                requests.append(request)
            }
            let minimumBlocks = (longest + blockSize - 1) / blockSize
            let ample = trial % 3 == 0
            let blockCount = ample ? minimumBlocks * requests.count + 1 : minimumBlocks + uniform(0...3)
            let simulation = Simulation(
                requests, asynchronous: asynchronous, blockSize: blockSize,
                blockCount: blockCount, maxBatchTokens: maxBatchTokens,
                maxSequences: maxSequences, expectDecodesEveryStep: ample)
            simulation.run()
            #expect(
                simulation.violations.isEmpty,
                """
                trial \(trial): \(simulation.violations.joined(separator: "\n"))
                blocks \(blockCount) of \(blockSize), budget \(maxBatchTokens), cap \(maxSequences)
                requests: \(requests.map { "\($0.prompt.count)+\($0.maxTokens)@\($0.arrival) stop \($0.stopAfter ?? -1) abort \($0.abortAt ?? -1)" })
                plan: \(simulation.plan.prefix(16).enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "\n"))
                """)
            if !simulation.violations.isEmpty { break }
            preemptions += simulation.scheduler.preemptionCount
            hits += simulation.scheduler.blocks.prefixHits
        }
        #expect(preemptions > 0, "the tight pools must exercise preemption")
        #expect(hits > 0, "the shared prefixes must hit the cache")
    }
}

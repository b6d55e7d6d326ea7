import Testing

@testable import Engine

/// The scheduler under a sliding window on every layer: the blocks behind the window of a
/// sequence's next token are released (after the steps in flight) and leave holes; a released
/// block that was registered stays in the prefix cache for a later prompt.
@Suite struct SlidingWindowSchedulerTests {
    private func makeScheduler(window: Int?) -> Scheduler {
        Scheduler(
            configuration: .init(maxBatchTokens: 4, maxSequences: 4, asynchronous: false, attentionWindow: window),
            blocks: BlockManager(blockSize: 2, blockCount: 8))
    }

    private let prompt: [Int32] = Array(2...11)

    @Test func blocksBehindTheWindowAreReleasedAfterTheStepsInFlight() throws {
        var scheduler = makeScheduler(window: 3)
        let sequence = SequenceState(id: 0, arrival: 0, prompt: prompt, maxTokens: 1)
        scheduler.add(sequence)

        // Step 0 computes 0..<4: its tokens attend from position 0, nothing is released.
        #expect(scheduler.schedule(lastSubmittedStep: nil).map(\.knownTokens) == [0..<4])
        let first = sequence.blockTable
        #expect(first.count == 2 && !first.contains(BlockManager.hole))

        // Step 1 computes 4..<8 while step 0 is in flight: its first token attends from 2, so
        // block 0 (positions 0, 1) is released, but stays reserved until step 0 completes.
        #expect(scheduler.schedule(lastSubmittedStep: 0).map(\.knownTokens) == [4..<8])
        #expect(sequence.blockTable.first == BlockManager.hole && sequence.firstHeldBlock == 1)
        #expect(scheduler.blocks.references(first[0]) == 0)
        #expect(scheduler.blocks.deferredBlockCount == 1)
        #expect(scheduler.blocks.freeBlockCount == 4)
        scheduler.stepCompleted(0)
        #expect(scheduler.blocks.deferredBlockCount == 0)
        #expect(scheduler.blocks.freeBlockCount == 5)

        // Step 2 computes 8..<10 and samples: it attends from 6, so blocks 1 and 2 go too.
        #expect(scheduler.schedule(lastSubmittedStep: 1).map(\.knownTokens) == [8..<10])
        #expect(Array(sequence.blockTable.prefix(3)) == [BlockManager.hole, BlockManager.hole, BlockManager.hole])
        #expect(sequence.blockTable.count == 5 && sequence.firstHeldBlock == 3)
        #expect(scheduler.blocksReleasedBehindWindow == 3)
        scheduler.stepCompleted(2)
        #expect(scheduler.blocks.freeBlockCount == 6)

        // Removal releases only the blocks still held.
        scheduler.remove(sequence, lastSubmittedStep: nil)
        #expect(scheduler.blocks.freeBlockCount == 8)
    }

    @Test func aLaterPromptStillHitsTheReleasedBlocksInTheCache() throws {
        var scheduler = makeScheduler(window: 3)
        let first = SequenceState(id: 0, arrival: 0, prompt: prompt, maxTokens: 1)
        scheduler.add(first)
        for step in 0..<3 {
            _ = scheduler.schedule(lastSubmittedStep: nil)
            scheduler.stepCompleted(step)
        }
        #expect(first.firstHeldBlock == 3)

        // The same prompt finds its 4 full blocks (the last token is computed again): the 3
        // released ones revived from the free queue; behind its window they are released again.
        let second = SequenceState(id: 1, arrival: 1, prompt: prompt, maxTokens: 1)
        scheduler.add(second)
        #expect(scheduler.schedule(lastSubmittedStep: nil).map(\.knownTokens) == [8..<10])
        #expect(scheduler.blocks.prefixHits == 8)
        #expect(second.firstHeldBlock == 3)
        #expect(second.blockTable[3] == first.blockTable[3])
        #expect(scheduler.blocks.references(first.blockTable[3]) == 2)
    }

    @Test func withoutAWindowNothingIsReleased() {
        var scheduler = makeScheduler(window: nil)
        let sequence = SequenceState(id: 0, arrival: 0, prompt: prompt, maxTokens: 1)
        scheduler.add(sequence)
        for step in 0..<3 {
            _ = scheduler.schedule(lastSubmittedStep: nil)
            scheduler.stepCompleted(step)
        }
        #expect(sequence.blockTable.count == 5 && !sequence.blockTable.contains(BlockManager.hole))
        #expect(scheduler.blocksReleasedBehindWindow == 0)
    }
}

import Testing

@testable import Engine

/// Registers the full blocks of `tokens` (held in `table`) in the prefix cache, as the scheduler does.
private func registerAll(_ manager: inout BlockManager, table: [Int32], tokens: [Int32]) {
    var parent: UInt64?
    var index = 0
    while (index + 1) * manager.blockSize <= tokens.count {
        let range = index * manager.blockSize..<(index + 1) * manager.blockSize
        parent = manager.registerFullBlock(table[index], tokens: tokens[range], parentHash: parent)
        index += 1
    }
}

private struct PoolShort: Error {}

/// `allocate`, as a throwing call for tests that need the blocks.
private func allocate(
    _ manager: inout BlockManager, _ count: Int,
    sourceLocation: SourceLocation = #_sourceLocation
) throws -> [Int32] {
    guard let blocks = manager.allocate(count) else {
        Issue.record("allocate(\(count)) failed with \(manager.freeBlockCount) free", sourceLocation: sourceLocation)
        throw PoolShort()
    }
    return blocks
}

@Suite struct BlockManagerTests {
    @Test func allocateAndReleaseCountReferences() throws {
        var manager = BlockManager(blockSize: 4, blockCount: 8)
        #expect(manager.freeBlockCount == 8)
        #expect(manager.usage == 0)
        let a = try allocate(&manager, 3)
        #expect(a.count == 3)
        #expect(Set(a).count == 3)
        #expect(a.allSatisfy { (0..<8).contains($0) })
        #expect(a.allSatisfy { manager.references($0) == 1 })
        #expect(manager.freeBlockCount == 5)
        #expect(manager.usage == 3.0 / 8.0)
        let b = try allocate(&manager, 5)
        #expect(Set(a).isDisjoint(with: b))
        #expect(manager.freeBlockCount == 0)
        #expect(manager.usage == 1)
        manager.release(a, afterStep: nil)
        #expect(a.allSatisfy { manager.references($0) == 0 })
        #expect(manager.freeBlockCount == 3)
        #expect(manager.usage == 5.0 / 8.0)
        #expect(manager.allocate(0) == [])
        #expect(manager.blocksNeeded(forTokens: 0) == 0)
        #expect(manager.blocksNeeded(forTokens: 1) == 1)
        #expect(manager.blocksNeeded(forTokens: 4) == 1)
        #expect(manager.blocksNeeded(forTokens: 5) == 2)
    }

    @Test func allocationFailsAtomicallyWhenShort() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let held = try allocate(&manager, 2)
        // A cached free block must survive a failed allocation.
        let prompt: [Int32] = [7, 8, 9]
        registerAll(&manager, table: held, tokens: prompt)
        manager.release([held[0]], afterStep: nil)
        #expect(manager.freeBlockCount == 3)
        #expect(manager.allocate(4) == nil)
        #expect(manager.freeBlockCount == 3)
        #expect(manager.references(held[1]) == 1)
        let hit = manager.acquireCachedPrefix(prompt)
        #expect(hit == [held[0]])
        #expect(manager.allocate(3) == nil)
        #expect(manager.freeBlockCount == 2)
        #expect(manager.allocate(2)?.count == 2)
        #expect(manager.freeBlockCount == 0)
    }

    @Test func releaseOfSharedBlockOnlyDropsOneReference() throws {
        var manager = BlockManager(blockSize: 4, blockCount: 4)
        let tokens: [Int32] = [1, 2, 3, 4, 5]
        let table = try allocate(&manager, 2)
        registerAll(&manager, table: table, tokens: tokens)
        let shared = manager.acquireCachedPrefix(tokens)
        #expect(shared == [table[0]])
        #expect(manager.references(table[0]) == 2)
        manager.release(shared, afterStep: nil)
        #expect(manager.references(table[0]) == 1)
        #expect(manager.freeBlockCount == 2)
        manager.release(table, afterStep: nil)
        #expect(manager.freeBlockCount == 4)
    }

    @Test func deferredReleaseWaitsForItsStep() throws {
        var manager = BlockManager(blockSize: 4, blockCount: 6)
        let a = try allocate(&manager, 2)
        let b = try allocate(&manager, 3)
        manager.release(a, afterStep: 5)
        #expect(a.allSatisfy { manager.references($0) == 0 })
        #expect(manager.freeBlockCount == 1)
        #expect(manager.deferredBlockCount == 2)
        #expect(manager.usage == 5.0 / 6.0)
        manager.release(b, afterStep: 7)
        #expect(manager.deferredBlockCount == 5)
        manager.stepCompleted(3)
        manager.stepCompleted(4)
        #expect(manager.freeBlockCount == 1)
        // Nothing deferred may be handed out before its step completes.
        #expect(manager.allocate(2) == nil)
        manager.stepCompleted(5)
        #expect(manager.freeBlockCount == 3)
        #expect(manager.deferredBlockCount == 3)
        let reused = try allocate(&manager, 3)
        #expect(Set(reused).isDisjoint(with: b))
        #expect(Set(a).isSubset(of: reused))
        manager.stepCompleted(6)
        #expect(manager.freeBlockCount == 0)
        // A later step completing covers earlier deadlines too.
        manager.stepCompleted(9)
        #expect(manager.freeBlockCount == 3)
        #expect(manager.deferredBlockCount == 0)
    }

    @Test func prefixCacheSharesChainedFullBlocks() throws {
        var manager = BlockManager(blockSize: 4, blockCount: 16)
        let first: [Int32] = [10, 11, 12, 13, 20, 21, 22, 23, 30, 31]
        // Nothing is cached yet.
        #expect(manager.acquireCachedPrefix(first) == [])
        let table = try allocate(&manager, 3)
        registerAll(&manager, table: table, tokens: first)

        // Same first two blocks, different tail: both blocks shared.
        let second: [Int32] = Array(first.prefix(8)) + [99, 98, 97]
        let shared = manager.acquireCachedPrefix(second)
        #expect(shared == Array(table.prefix(2)))
        #expect(manager.references(table[0]) == 2)
        #expect(manager.references(table[1]) == 2)
        #expect(manager.references(table[2]) == 1)

        // Exactly two blocks long: the last block is never taken from the cache.
        let exact: [Int32] = Array(first.prefix(8))
        #expect(manager.acquireCachedPrefix(exact) == [table[0]])
        // One token past two blocks: both.
        #expect(manager.acquireCachedPrefix(Array(first.prefix(9))) == Array(table.prefix(2)))

        // A different token in block 1 breaks the chain after block 0.
        var diverging = first
        diverging[5] = 77
        #expect(manager.acquireCachedPrefix(diverging) == [table[0]])
        // A different token in block 0 breaks the whole chain, even though block 1 matches.
        var differentStart = first
        differentStart[0] = 77
        #expect(manager.acquireCachedPrefix(differentStart) == [])
        // Block 1's tokens at the start of a prompt are not block 1 (hashes are chained).
        #expect(manager.acquireCachedPrefix(Array(first[4...])) == [])
        // The partial third block of `first` was never registered.
        #expect(manager.acquireCachedPrefix(first + [1, 2, 3]) == Array(table.prefix(2)))

        #expect(manager.references(table[0]) == 6)
        #expect(manager.references(table[1]) == 4)
        let queries = [
            first, second, exact, Array(first.prefix(9)), diverging, differentStart,
            Array(first[4...]), first + [1, 2, 3]
        ].reduce(0) { $0 + $1.count }
        #expect(manager.prefixQueries == queries)
        #expect(manager.prefixHits == (2 + 1 + 2 + 1 + 0 + 0 + 2) * 4)
    }

    @Test func blockHashesAreChainedAndCoverFullBlocksOnly() {
        let manager = BlockManager(blockSize: 3, blockCount: 1)
        let hashes = manager.blockHashes([1, 2, 3, 4, 5, 6, 7])
        #expect(hashes.count == 2)
        #expect(manager.blockHashes([1, 2]).isEmpty)
        #expect(manager.blockHashes([1, 2, 3, 4, 5, 6]) == hashes)
        #expect(manager.blockHashes([1, 2, 3]) == [hashes[0]])
        // The second block's hash depends on the first block.
        #expect(manager.blockHashes([9, 2, 3, 4, 5, 6])[1] != hashes[1])
        #expect(manager.blockHashes([4, 5, 6])[0] != hashes[1])
        #expect(BlockManager.chainHash(parent: hashes[0], tokens: [4, 5, 6]) == hashes[1])
    }

    @Test func cachedFreeBlocksAreRevivedByPrefixHits() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let prompt: [Int32] = [5, 6, 7, 8, 9]
        let table = try allocate(&manager, 3)
        registerAll(&manager, table: table, tokens: prompt)
        manager.release(table, afterStep: nil)
        #expect(manager.freeBlockCount == 4)
        #expect(manager.usage == 0)
        // The freed blocks still hold their tokens: a later identical prompt reuses them.
        let hit = manager.acquireCachedPrefix(prompt)
        #expect(hit == Array(table.prefix(2)))
        #expect(hit.allSatisfy { manager.references($0) == 1 })
        #expect(manager.freeBlockCount == 2)
        // Revived blocks are never handed out by allocate.
        let fresh = try allocate(&manager, 2)
        #expect(Set(fresh).isDisjoint(with: hit))
        #expect(manager.allocate(1) == nil)
    }

    @Test func evictionIsLeastRecentlyFreedFirstAndForgetsTheHash() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        // Four one-block prompts, each cached in its own block.
        let prompts: [[Int32]] = [[1, 1, 0], [2, 2, 0], [3, 3, 0], [4, 4, 0]]
        var blocks: [Int32] = []
        for prompt in prompts {
            let block = try allocate(&manager, 1)
            registerAll(&manager, table: block, tokens: prompt)
            blocks += block
        }
        #expect(manager.freeBlockCount == 0)
        // Free in the order 2, 0, 3, 1.
        for index in [2, 0, 3, 1] { manager.release([blocks[index]], afterStep: nil) }
        #expect(manager.freeBlockCount == 4)

        // Reviving block 0 and freeing it again makes it the most recently freed.
        let revived = manager.acquireCachedPrefix(prompts[0])
        #expect(revived == [blocks[0]])
        manager.release(revived, afterStep: nil)

        // Eviction order is now 2, 3, 1, 0.
        let firstEvicted = try allocate(&manager, 1)
        #expect(firstEvicted == [blocks[2]])
        #expect(manager.acquireCachedPrefix(prompts[2]) == [])
        // The others are still cached.
        for index in [0, 1, 3] {
            let hit = manager.acquireCachedPrefix(prompts[index])
            #expect(hit == [blocks[index]])
            manager.release(hit, afterStep: nil)
        }
        // Those hits re-queued 0, 1, 3 in that order.
        let next = try allocate(&manager, 2)
        #expect(next == [blocks[0], blocks[1]])
        #expect(manager.acquireCachedPrefix(prompts[0]) == [])
        #expect(manager.acquireCachedPrefix(prompts[1]) == [])
        #expect(manager.acquireCachedPrefix(prompts[3]) == [blocks[3]])

        // An evicted block that is registered again with new tokens is found under the new tokens only.
        registerAll(&manager, table: [blocks[2]], tokens: [8, 8])
        #expect(manager.acquireCachedPrefix([8, 8, 1]) == [blocks[2]])
        #expect(manager.acquireCachedPrefix(prompts[2]) == [])
    }

    @Test func duplicateContentKeepsTheFirstRegisteredBlock() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let prompt: [Int32] = [1, 2, 3]
        let a = try allocate(&manager, 1)
        let b = try allocate(&manager, 1)
        let hashA = manager.registerFullBlock(a[0], tokens: prompt[0..<2], parentHash: nil)
        let hashB = manager.registerFullBlock(b[0], tokens: prompt[0..<2], parentHash: nil)
        #expect(hashA == hashB)
        #expect(manager.acquireCachedPrefix(prompt) == a)
        // Evicting b must not remove a's entry.
        manager.release(b, afterStep: nil)
        _ = try allocate(&manager, 3)
        #expect(manager.acquireCachedPrefix(prompt) == a)
    }

    @Test func resetPrefixCacheForgetsEverything() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let table = try allocate(&manager, 3)
        registerAll(&manager, table: table, tokens: prompt)
        manager.resetPrefixCache()
        #expect(manager.acquireCachedPrefix(prompt) == [])
        #expect(table.allSatisfy { manager.references($0) == 1 })
    }

    /// A block whose release is deferred to step 5 is revived by a prefix hit and released again
    /// after step 7: completing step 5 must not free it while step 7 may still read it.
    @Test func revivedDeferredBlockWaitsForTheLaterStep() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let prompt: [Int32] = [1, 2, 3]
        let table = try allocate(&manager, 2)
        registerAll(&manager, table: table, tokens: prompt)
        manager.release(table, afterStep: 5)
        #expect(manager.freeBlockCount == 2)
        // The cached block is still valid and can be shared before step 5 ends.
        let hit = manager.acquireCachedPrefix(prompt)
        #expect(hit == [table[0]])
        manager.release(hit, afterStep: 7)
        manager.stepCompleted(5)
        #expect(manager.freeBlockCount == 3, "only table[1] is free after step 5")
        let grabbed = manager.allocate(manager.freeBlockCount) ?? []
        #expect(!grabbed.contains(table[0]), "block \(table[0]) handed out while step 7 may read it")
        manager.release(grabbed, afterStep: nil)
        manager.stepCompleted(7)
        #expect(manager.freeBlockCount == 4)
    }

    /// Same, when the revived block is dropped again with no step reading it (a failed admission):
    /// the earlier deadline still holds.
    @Test func revivedDeferredBlockReleasedImmediatelyStillWaits() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 4)
        let prompt: [Int32] = [1, 2, 3]
        let table = try allocate(&manager, 2)
        registerAll(&manager, table: table, tokens: prompt)
        manager.release(table, afterStep: 5)
        let hit = manager.acquireCachedPrefix(prompt)
        #expect(hit == [table[0]])
        manager.release(hit, afterStep: nil)
        let grabbed = manager.allocate(manager.freeBlockCount) ?? []
        #expect(!grabbed.contains(table[0]), "block \(table[0]) handed out while step 5 may read it")
        manager.release(grabbed, afterStep: nil)
        manager.stepCompleted(5)
        #expect(manager.freeBlockCount == 4)
    }

    /// Under a window, a hit needs only the cached blocks in the window of its end: the oldest
    /// blocks of the prompt, freed and evicted first, come back as holes.
    @Test func aWindowedHitNeedsOnlyTheBlocksInItsWindow() throws {
        var manager = BlockManager(blockSize: 2, blockCount: 6)
        let tokens: [Int32] = Array(2...11)
        let table = try allocate(&manager, 5)
        registerAll(&manager, table: table, tokens: tokens)
        manager.release(table, afterStep: nil)
        // Evict the prompt's blocks 0 and 1: the never used block and the two freed first.
        manager.release(try allocate(&manager, 3), afterStep: nil)
        #expect(manager.acquireCachedPrefix(tokens) == [])
        let hole = BlockManager.hole
        // 4 blocks are usable (the last token is computed again); position 8 attends from 6 with a
        // window of 3 (block 3 only), from 4 with a window of 5 (blocks 2 and 3).
        let narrow = manager.acquireCachedPrefix(tokens, window: 3)
        #expect(narrow == [hole, hole, hole, table[3]])
        #expect(manager.references(table[3]) == 1 && manager.references(table[2]) == 0)
        manager.release(narrow, afterStep: nil)
        let wider = manager.acquireCachedPrefix(tokens, window: 5)
        #expect(wider == [hole, hole, table[2], table[3]])
        manager.release(wider, afterStep: nil)
        // A window of 7 reaches block 1, which is gone, and so does every shorter hit.
        #expect(manager.acquireCachedPrefix(tokens, window: 7) == [])
        #expect(manager.prefixHits == 2 * 8)
        #expect(manager.freeBlockCount == 6)
    }
}

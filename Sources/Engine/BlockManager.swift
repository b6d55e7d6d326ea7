/// The pool of KV-cache blocks: reference counts, prefix caching, and frees deferred until the
/// steps that read a block have completed.
///
/// A plain state machine: no threads, no model. Full blocks are keyed by
/// `hash(parent block's hash, the block's tokens)`, so two sequences with the same prompt prefix
/// share those blocks. A block whose count drops to zero stays in the cache (reusable by a later
/// prefix hit) until it is evicted, least recently freed first, to satisfy an allocation.
public struct BlockManager: Sendable {
    public let blockSize: Int
    public let blockCount: Int
    /// A block-table entry whose block was released because no future step attends to it (it
    /// fell out of a sliding window).
    public static let hole: Int32 = -1

    private var referenceCount: [Int32]
    /// Content hash of a full, computed block that is registered in `cachedBlocks`.
    private var blockHash: [UInt64?]
    /// The tokens a cached block holds, to rule out hash collisions.
    private var blockTokens: [[Int32]]
    private var cachedBlocks: [UInt64: Int32] = [:]
    /// Blocks with no references, least recently freed first. Cached ones can still be revived.
    private var freeQueue = LRUQueue()
    /// Blocks whose last reference was dropped while a step that reads them may still be running.
    private var deferred: [(step: Int, blocks: [Int32])] = []

    /// Prefix-cache statistics, in tokens (as vLLM counts them).
    public private(set) var prefixQueries = 0
    public private(set) var prefixHits = 0

    public init(blockSize: Int, blockCount: Int) {
        precondition(blockSize > 0 && blockCount > 0)
        self.blockSize = blockSize
        self.blockCount = blockCount
        referenceCount = Array(repeating: 0, count: blockCount)
        blockHash = Array(repeating: nil, count: blockCount)
        blockTokens = Array(repeating: [], count: blockCount)
        freeQueue = LRUQueue(capacity: blockCount)
        for block in 0..<Int32(blockCount) { freeQueue.pushBack(block) }
    }

    /// Blocks that can be allocated now (free, including cached-but-unreferenced ones).
    public var freeBlockCount: Int { freeQueue.count }

    /// Blocks whose release waits for an in-flight step.
    public var deferredBlockCount: Int { deferred.reduce(0) { $0 + $1.blocks.count } }

    /// Fraction of blocks in use (referenced or waiting for a step), 0–1.
    public var usage: Double { Double(blockCount - freeQueue.count) / Double(blockCount) }

    /// Blocks needed to hold `tokens` tokens.
    public func blocksNeeded(forTokens tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    // MARK: Prefix cache

    /// Chained hashes of the full blocks of `tokens`.
    public func blockHashes(_ tokens: [Int32]) -> [UInt64] {
        var hashes: [UInt64] = []
        var parent: UInt64? = nil
        var start = 0
        while start + blockSize <= tokens.count {
            let h = Self.chainHash(parent: parent, tokens: tokens[start..<start + blockSize])
            hashes.append(h)
            parent = h
            start += blockSize
        }
        return hashes
    }

    /// Takes a reference on the longest run of cached blocks that starts `tokens`, leaving at
    /// least one token uncached (its logits are needed), of at most `limit` blocks. Returns the
    /// shared blocks.
    ///
    /// With a `window` on every layer reading these blocks, the first token computed after a hit
    /// of `k` blocks attends only from position `k * blockSize - window + 1`: the hit needs the
    /// cached blocks from there on, and the blocks before it are returned as holes (`hole`), cached
    /// or not (the oldest blocks of a long prompt are freed first behind a window, so evicted first).
    public mutating func acquireCachedPrefix(_ tokens: [Int32], window: Int? = nil, limit: Int = .max) -> [Int32] {
        let (cached, count) = cachedPrefix(tokens, window: window, limit: limit)
        let first = firstNeededBlock(afterHitOf: count, window: window)
        var table = [Int32](repeating: Self.hole, count: first)
        for block in cached[first..<count] {
            guard let block else { break }  // cannot happen: the run covers them
            retain(block)
            table.append(block)
        }
        prefixQueries += tokens.count
        prefixHits += table.count * blockSize
        return table
    }

    /// How many blocks `acquireCachedPrefix(tokens, window:, limit:)` would share now.
    public func cachedPrefixLength(_ tokens: [Int32], window: Int? = nil, limit: Int = .max) -> Int {
        cachedPrefix(tokens, window: window, limit: limit).count
    }

    /// The cached block of each full block of `tokens` (as far as needed), and the longest hit of
    /// at most `limit` blocks whose needed blocks (all, or those in the window of its end; at
    /// least one) are cached.
    private func cachedPrefix(_ tokens: [Int32], window: Int?, limit: Int) -> (cached: [Int32?], count: Int) {
        let usable = min(max(tokens.count - 1, 0) / blockSize, max(limit, 0))
        let hashes = blockHashes(Array(tokens.prefix(usable * blockSize)))
        // cached[i]: block i of the prefix, if cached with these very tokens; run[i]: how many
        // blocks up to i are cached in a row.
        var cached: [Int32?] = []
        var run: [Int] = []
        for (index, hash) in hashes.enumerated() {
            let block = cachedBlocks[hash].flatMap {
                blockTokens[Int($0)].elementsEqual(tokens[index * blockSize..<(index + 1) * blockSize]) ? $0 : nil
            }
            cached.append(block)
            run.append(block == nil ? 0 : (run.last ?? 0) + 1)
            if window == nil && block == nil { break }
        }
        var count = cached.count
        while count > 0 {
            let first = firstNeededBlock(afterHitOf: count, window: window)
            if first < count && run[count - 1] >= count - first { break }
            count -= 1
        }
        return (cached, count)
    }

    /// The first block a hit of `count` blocks needs: 0 without a window, else the block of the
    /// first position the next token (at `count * blockSize`) attends to.
    private func firstNeededBlock(afterHitOf count: Int, window: Int?) -> Int {
        guard let window, window > 0 else { return 0 }
        return max(count * blockSize - window + 1, 0) / blockSize
    }

    /// Registers a full block whose keys and values are (being) computed, so later prompts with
    /// the same prefix can share it. `parentHash` is the hash of the previous block (nil for the
    /// first). A hole registers nothing; its hash still chains the blocks after it.
    @discardableResult
    public mutating func registerFullBlock(_ block: Int32, tokens: ArraySlice<Int32>, parentHash: UInt64?) -> UInt64 {
        let h = Self.chainHash(parent: parentHash, tokens: tokens)
        if block != Self.hole, blockHash[Int(block)] == nil, cachedBlocks[h] == nil {
            blockHash[Int(block)] = h
            blockTokens[Int(block)] = Array(tokens)
            cachedBlocks[h] = block
        }
        return h
    }

    /// FNV-1a-style hash of a block's tokens, chained on its parent block's hash.
    static func chainHash(parent: UInt64?, tokens: ArraySlice<Int32>) -> UInt64 {
        var h = parent ?? 0xcbf2_9ce4_8422_2325
        for token in tokens {
            h = (h ^ UInt64(UInt32(bitPattern: token))) &* 0x0000_0100_0000_01b3
            h ^= h >> 29
        }
        return h
    }

    // MARK: Allocation

    /// Allocates `count` fresh blocks, evicting the least recently freed cached blocks if needed;
    /// nil (and nothing changes) if there are not enough free blocks.
    public mutating func allocate(_ count: Int) -> [Int32]? {
        guard count <= freeQueue.count else { return nil }
        var blocks: [Int32] = []
        blocks.reserveCapacity(count)
        for _ in 0..<count {
            guard let block = freeQueue.popFront() else { break }
            if let hash = blockHash[Int(block)] {
                cachedBlocks[hash] = nil
                blockHash[Int(block)] = nil
                blockTokens[Int(block)] = []
            }
            referenceCount[Int(block)] = 1
            blocks.append(block)
        }
        return blocks
    }

    /// Drops one reference on each block; holes (`BlockManager.hole`) are passed over. Blocks left
    /// unreferenced become free only after step `afterStep` has completed (see `stepCompleted`);
    /// pass nil when no submitted step reads them. A registered block stays in the prefix cache.
    /// Invariant "memory freed late": blocks return to the pool only once `afterStep` completed.
    public mutating func release(_ blocks: some Sequence<Int32>, afterStep: Int?) {
        var unreferenced: [Int32] = []
        for block in blocks where block != Self.hole {
            precondition(referenceCount[Int(block)] > 0, "double free of block \(block)")
            referenceCount[Int(block)] -= 1
            if referenceCount[Int(block)] == 0 { unreferenced.append(block) }
        }
        guard !unreferenced.isEmpty else { return }
        if let step = afterStep {
            deferred.append((step, unreferenced))
        } else {
            for block in unreferenced where !deferred.contains(where: { $0.blocks.contains(block) }) { freeQueue.pushBack(block) }
        }
    }

    /// Makes the blocks held back for steps up to `step` free.
    public mutating func stepCompleted(_ step: Int) {
        while let first = deferred.first, first.step <= step {
            deferred.removeFirst()
            for block in first.blocks where referenceCount[Int(block)] == 0 && !deferred.contains(where: { $0.blocks.contains(block) }) {
                freeQueue.pushBack(block)
            }
        }
    }

    /// Clears the prefix-cache index (blocks stay allocated to their sequences).
    public mutating func resetPrefixCache() {
        for (_, block) in cachedBlocks {
            blockHash[Int(block)] = nil
            blockTokens[Int(block)] = []
        }
        cachedBlocks.removeAll()
    }

    private mutating func retain(_ block: Int32) {
        if referenceCount[Int(block)] == 0 { freeQueue.remove(block) }
        referenceCount[Int(block)] += 1
    }

    /// Number of references on `block` (for tests and invariants).
    public func references(_ block: Int32) -> Int { Int(referenceCount[Int(block)]) }
}

/// A queue of block ids with O(1) push, pop and removal from the middle (intrusive links).
struct LRUQueue: Sendable {
    private var next: [Int32] = []
    private var previous: [Int32] = []
    private var contained: [Bool] = []
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private(set) var count = 0

    init(capacity: Int = 0) {
        next = Array(repeating: -1, count: capacity)
        previous = Array(repeating: -1, count: capacity)
        contained = Array(repeating: false, count: capacity)
    }

    mutating func pushBack(_ block: Int32) {
        let i = Int(block)
        guard !contained[i] else { return }
        contained[i] = true
        previous[i] = tail
        next[i] = -1
        if tail >= 0 { next[Int(tail)] = block } else { head = block }
        tail = block
        count += 1
    }

    mutating func popFront() -> Int32? {
        guard head >= 0 else { return nil }
        let block = head
        remove(block)
        return block
    }

    mutating func remove(_ block: Int32) {
        let i = Int(block)
        guard contained[i] else { return }
        contained[i] = false
        let p = previous[i], n = next[i]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { previous[Int(n)] = p } else { tail = p }
        count -= 1
    }
}

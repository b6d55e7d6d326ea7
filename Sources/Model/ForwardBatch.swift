/// One step's input: several sequences, each with its new tokens, laid out one after another.
///
/// Token `i` of the batch is at `positions[i]` of its sequence, and its key and value are written to
/// KV slot `slots[i]` (slot = block × blockSize + offset in block). Attention for a sequence reads
/// positions `0...position` through the sequence's block table, or only the window before `position`
/// on a sliding-window layer.
public struct ForwardBatch: Sendable {
    /// One sequence's part of the batch.
    public struct Sequence: Sendable {
        /// Index of the sequence's first token in `tokens`.
        public var tokenStart: Int
        /// Number of new tokens of this sequence in the batch.
        public var tokenCount: Int
        /// Position of the sequence's first new token (number of tokens already in its KV cache).
        public var firstPosition: Int
        /// Physical KV blocks of the sequence, in order; -1 (a hole) for a block freed because it lies
        /// entirely before the window of the first new token, on a model whose every layer has a
        /// window (`ModelConfiguration.windowOnEveryLayer`). The forward pass refuses a hole elsewhere.
        public var blockTable: [Int32]
        /// With a split cache (`KVCache.isSplit`), the blocks of the local layers' pool for the same
        /// positions; -1 for a block entirely before the window of the first new token. nil otherwise.
        public var localBlockTable: [Int32]?
        /// How many of the sequence's last tokens want logits: usually 0 (a prefill chunk) or 1
        /// (the position that is sampled); more for prompt log-probabilities.
        public var logitCount: Int

        public init(
            tokenStart: Int, tokenCount: Int, firstPosition: Int, blockTable: [Int32], localBlockTable: [Int32]? = nil,
            logitCount: Int
        ) {
            self.tokenStart = tokenStart
            self.tokenCount = tokenCount
            self.firstPosition = firstPosition
            self.blockTable = blockTable
            self.localBlockTable = localBlockTable
            self.logitCount = logitCount
        }
    }

    public var tokens: [Int32] = []
    public var positions: [Int32] = []
    public var slots: [Int32] = []
    /// With a split cache, each token's slot in the local layers' pool (from `localBlockTable`).
    public var localSlots: [Int32] = []
    public var sequences: [Sequence] = []

    public init() {}

    /// Appends a sequence's new tokens, computing positions and slots from its block table.
    /// `logitCount` trailing tokens get logits (1: just the last one). With a split cache, pass
    /// the sequence's `localBlockTable` too.
    public mutating func append(
        tokens newTokens: some Collection<Int32>, firstPosition: Int, blockTable: [Int32], localBlockTable: [Int32]? = nil,
        blockSize: Int, logitCount: Int
    ) {
        sequences.append(
            Sequence(
                tokenStart: tokens.count, tokenCount: newTokens.count, firstPosition: firstPosition,
                blockTable: blockTable, localBlockTable: localBlockTable, logitCount: min(max(logitCount, 0), newTokens.count)))
        func slot(_ position: Int, _ table: [Int32]) -> Int32 {
            let block = position / blockSize < table.count ? table[position / blockSize] : -1
            return block < 0 ? -1 : block * Int32(blockSize) + Int32(position % blockSize)
        }
        for (offset, token) in newTokens.enumerated() {
            let position = firstPosition + offset
            tokens.append(token)
            positions.append(Int32(position))
            slots.append(slot(position, blockTable))
            if let localBlockTable { localSlots.append(slot(position, localBlockTable)) }
        }
    }

    /// Number of logit rows the forward pass produces.
    public var logitRowCount: Int { sequences.reduce(0) { $0 + $1.logitCount } }
}

/// Byte-level BPE with ranked merges (llama.cpp's `llm_tokenizer_bpe_session`, over token ids).
///
/// A word starts as one symbol per byte (the token for that byte's byte-level character);
/// the adjacent pair with the lowest merge rank (leftmost on ties) is merged repeatedly until
/// no ranked pair remains. Merges whose parts or result are not tokens are ignored, and a byte
/// without a token is dropped, as in llama.cpp.
struct BytePairEncoder: Sendable {
    private struct MergeTarget: Sendable {
        var rank: Int32
        var merged: Int32
    }

    /// Token id for each byte's single-character byte-level token, or -1.
    private let byteTokens: [Int32]
    /// (left id << 32 | right id) -> rank and merged id.
    private let merges: [UInt64: MergeTarget]
    /// Whole-word lookup used when `ignoreMerges` is set (Llama 3).
    private let tokenIds: TokenIdTable
    private let ignoreMerges: Bool

    init(tokens: [String], tokenIds: TokenIdTable, merges rules: [String], ignoreMerges: Bool) throws {
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let scalar = Unicode.Scalar(ByteLevel.scalarForByte[b]), let id = tokenIds[String(scalar)] {
                byteTokens[b] = id
            }
        }
        var merges: [UInt64: MergeTarget] = [:]
        merges.reserveCapacity(rules.count)
        for (rank, rule) in rules.enumerated() {
            // llama.cpp splits at the first space after the first character.
            let scalars = rule.unicodeScalars
            guard let first = scalars.first,
                let split = scalars[scalars.index(after: scalars.startIndex)...].firstIndex(of: " ")
            else { throw TokenizerError.malformedMerge(index: rank, text: rule) }
            _ = first
            let left = String(scalars[..<split])
            let right = String(scalars[scalars.index(after: split)...])
            guard let leftId = tokenIds[left], let rightId = tokenIds[right],
                let mergedId = tokenIds[left + right]
            else { continue }
            let key = UInt64(UInt32(bitPattern: leftId)) << 32 | UInt64(UInt32(bitPattern: rightId))
            if merges[key] == nil {
                merges[key] = MergeTarget(rank: Int32(clamping: rank), merged: mergedId)
            }
        }
        self.byteTokens = byteTokens
        self.merges = merges
        self.tokenIds = tokenIds
        self.ignoreMerges = ignoreMerges
    }

    fileprivate struct Pair: Comparable {
        var rank: Int32
        var left: Int32
        var right: Int32
        var leftId: Int32
        var rightId: Int32

        static func < (a: Pair, b: Pair) -> Bool {
            a.rank != b.rank ? a.rank < b.rank : a.left < b.left
        }
    }

    /// Reusable buffers for one `encode` call.
    struct Scratch {
        fileprivate var ids: [Int32] = []
        fileprivate var prev: [Int32] = []
        fileprivate var next: [Int32] = []
        fileprivate var heap = BinaryHeap<Pair>()
    }

    @inline(__always)
    private func mergeTarget(_ left: Int32, _ right: Int32) -> MergeTarget? {
        guard left >= 0, right >= 0 else { return nil }
        return merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))]
    }

    /// Encodes one pre-tokenized word (raw bytes) and appends its token ids to `output`.
    func encodeWord(_ word: UnsafeBufferPointer<UInt8>, scratch: inout Scratch, into output: inout [Int32]) {
        let n = word.count
        guard n > 0 else { return }
        if n == 1 {
            let id = byteTokens[Int(word[0])]
            if id >= 0 { output.append(id) }
            return
        }
        if ignoreMerges, let id = tokenIds[ByteLevel.encode(word)] {
            output.append(id)
            return
        }
        scratch.ids.removeAll(keepingCapacity: true)
        scratch.prev.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.heap.removeAll()
        for i in 0..<n {
            scratch.ids.append(byteTokens[Int(word[i])])
            scratch.prev.append(Int32(i) - 1)
            scratch.next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        for i in 1..<n {
            if let target = mergeTarget(scratch.ids[i - 1], scratch.ids[i]) {
                scratch.heap.push(
                    Pair(
                        rank: target.rank, left: Int32(i - 1), right: Int32(i),
                        leftId: scratch.ids[i - 1], rightId: scratch.ids[i]))
            }
        }
        while let pair = scratch.heap.pop() {
            let l = Int(pair.left), r = Int(pair.right)
            // Skip pairs made stale by an earlier merge.
            guard scratch.next[l] == pair.right, scratch.ids[l] == pair.leftId, scratch.ids[r] == pair.rightId,
                let target = mergeTarget(pair.leftId, pair.rightId)
            else { continue }
            scratch.ids[l] = target.merged
            scratch.ids[r] = -2  // merged away
            let after = scratch.next[r]
            scratch.next[l] = after
            scratch.next[r] = -1
            if after >= 0 { scratch.prev[Int(after)] = pair.left }
            let before = scratch.prev[l]
            if before >= 0, let t = mergeTarget(scratch.ids[Int(before)], target.merged) {
                scratch.heap.push(
                    Pair(
                        rank: t.rank, left: before, right: pair.left,
                        leftId: scratch.ids[Int(before)], rightId: target.merged))
            }
            if after >= 0, let t = mergeTarget(target.merged, scratch.ids[Int(after)]) {
                scratch.heap.push(
                    Pair(
                        rank: t.rank, left: pair.left, right: after,
                        leftId: target.merged, rightId: scratch.ids[Int(after)]))
            }
        }
        var i: Int32 = 0
        while i >= 0 {
            let id = scratch.ids[Int(i)]
            if id >= 0 { output.append(id) }
            i = scratch.next[Int(i)]
        }
    }
}

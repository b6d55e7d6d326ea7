/// Prompt-lookup drafting: proposes the tokens that followed the most recent earlier occurrence of
/// the sequence's last n tokens (prompt and output so far), trying the longest n first.
///
/// An index maps each n-gram (n in `sizes`) to the position where it last ended, so a proposal
/// costs one dictionary lookup per size, whatever the length of the context. It lives with the
/// sequence's decoding state on the device (`DraftingState`), so step N+1's drafts come from the
/// tokens step N accepted without a host round trip.
public struct NGramDrafter: Sendable {
    /// The n-gram sizes tried, longest first.
    public let sizes: ClosedRange<Int>
    private(set) var history: [Int32]
    /// The end position (inclusive) of the latest occurrence of each n-gram, by `key`, for every
    /// n-gram that ends before the last token (the last one is the query, not a match). A lookup
    /// compares the tokens themselves, so a hash collision only loses a proposal.
    private var latestEnd: [UInt64: Int] = [:]
    /// Tokens from the prompt: rolling back never goes below them.
    private let promptCount: Int

    public init(prompt: [Int32], sizes: ClosedRange<Int>) {
        self.sizes = max(sizes.lowerBound, 1)...max(sizes.upperBound, 1)
        history = []
        promptCount = prompt.count
        history.reserveCapacity(prompt.count + 256)
        for token in prompt { append(token) }
    }

    /// Tokens accepted after the prompt.
    public var outputCount: Int { history.count - promptCount }

    /// Appends an accepted token.
    public mutating func append(_ token: Int32) {
        // The n-grams ending at the current last token become matchable once a token follows them.
        let last = history.count - 1
        if last >= 0 {
            for n in sizes where n <= last + 1 { latestEnd[key(endingAt: last, size: n)] = last }
        }
        history.append(token)
    }

    /// Forgets the output tokens after the first `count` (the prompt stays).
    public mutating func rollBack(toOutputCount count: Int) {
        guard count >= 0, count < outputCount else { return }
        let kept = Array(history[..<(promptCount + count)])
        history.removeAll(keepingCapacity: true)
        latestEnd.removeAll(keepingCapacity: true)
        for token in kept { append(token) }
    }

    /// Up to `limit` tokens that followed the latest earlier occurrence of the longest suffix that
    /// occurred before; empty when none did.
    public func propose(limit: Int) -> [Int32] {
        guard limit > 0 else { return [] }
        let count = history.count
        for n in sizes.reversed() where n <= count {
            guard let end = latestEnd[key(endingAt: count - 1, size: n)],
                history[(end + 1 - n)...end].elementsEqual(history[(count - n)...])
            else { continue }
            let start = end + 1
            return Array(history[start..<min(start + limit, count)])
        }
        return []
    }

    /// FNV-1a over the size and the `n` tokens ending at `end`.
    private func key(endingAt end: Int, size n: Int) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ UInt64(n)
        for token in history[(end + 1 - n)...end] {
            hash = (hash ^ UInt64(UInt32(bitPattern: token))) &* 0x0000_0100_0000_01b3
        }
        return hash
    }
}

import Foundation

/// A compiled grammar with what every sequence that uses it shares: the vocabulary trie and the
/// cache of token masks by grammar state. States recur (inside a JSON string, between array
/// items…), so after the first few tokens most masks come from the cache.
///
/// `@unchecked Sendable`: the cache is read and written only with `lock` held; the rest is immutable.
public final class ConstraintRuntime: @unchecked Sendable {
    public let grammar: Grammar
    public let trie: TokenTrie
    private let lock = NSLock()
    private var cache: [[Int32]: TokenMask] = [:]
    private var hits = 0
    private var misses = 0
    /// Masks kept at most (each is vocabulary / 8 bytes).
    public static let cacheLimit = 4096

    public init(grammar: Grammar, trie: TokenTrie) {
        self.grammar = grammar
        self.trie = trie
    }

    /// A matcher at the grammar's start.
    public func makeMatcher() -> GrammarMatcher { GrammarMatcher(grammar: grammar) }

    /// Cache hits and misses so far.
    public var cacheStatistics: (hits: Int, misses: Int) { lock.withLock { (hits, misses) } }

    /// The tokens whose bytes the matcher's grammar accepts next (end of text not included).
    public func mask(for matcher: GrammarMatcher) -> TokenMask {
        let key = matcher.key(of: matcher.stacks)
        if let cached = lock.withLock({ () -> TokenMask? in
            let mask = cache[key]
            if mask != nil { hits += 1 }
            return mask
        }) {
            return cached
        }
        let mask = compute(matcher)
        lock.withLock {
            misses += 1
            if cache.count < Self.cacheLimit { cache[key] = mask }
        }
        return mask
    }

    /// Walks the trie from the root, advancing the grammar over each edge's byte and pruning the
    /// branches it refuses; every token at a node reached is allowed.
    private func compute(_ matcher: GrammarMatcher) -> TokenMask {
        var mask = TokenMask(count: trie.vocabularySize)
        let saved = matcher.nodeCount
        defer { matcher.truncate(to: saved) }
        var pending: [(node: Int32, stacks: [Int32])] = [(0, matcher.stacks)]
        while let (node, stacks) = pending.popLast() {
            let n = Int(node)
            for edge in Int(trie.childStart[n])..<Int(trie.childStart[n + 1]) {
                let next = matcher.advance(stacks, byte: trie.edgeByte[edge])
                guard !next.isEmpty else { continue }
                let child = Int(trie.edgeChild[edge])
                for t in Int(trie.tokenStart[child])..<Int(trie.tokenStart[child + 1]) { mask.insert(Int(trie.tokens[t])) }
                if trie.childStart[child] < trie.childStart[child + 1] { pending.append((Int32(child), next)) }
            }
        }
        return mask
    }
}

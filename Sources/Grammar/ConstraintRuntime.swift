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
        var walker = MaskWalker(grammar: grammar, nodes: matcher.nodes)
        return walker.mask(from: matcher.stacks, trie: trie)
    }
}

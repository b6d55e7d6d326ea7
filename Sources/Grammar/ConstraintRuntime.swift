import Foundation

/// A compiled grammar with what every sequence that uses it shares: the vocabulary trie and the
/// cache of token masks by grammar state. States recur (inside a JSON string, between array
/// items…), so after the first few tokens most masks come from the cache.
///
/// `@unchecked Sendable`: the cache and its counters are read and written only with `condition`
/// locked; the rest is immutable.
public final class ConstraintRuntime: @unchecked Sendable {
    public let grammar: Grammar
    public let trie: TokenTrie
    private let condition = NSCondition()
    private var cache: [[Int32]: TokenMask] = [:]
    /// States being computed right now.
    private var computing: Set<[Int32]> = []
    /// Walkers not in use; each remembers the stack-set transitions it has met (up to 4 MiB of transitions).
    private var walkers: [MaskWalker] = []
    /// Idle walkers kept at most.
    static let walkerLimit = 2
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
    public var cacheStatistics: (hits: Int, misses: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (hits, misses)
    }

    /// The tokens whose bytes the matcher's grammar accepts next (end of text not included). A
    /// state another thread is computing is waited for, not computed twice.
    public func mask(for matcher: GrammarMatcher) -> TokenMask {
        let key = matcher.key(of: matcher.stacks)
        condition.lock()
        while true {
            if let cached = cache[key] {
                hits += 1
                condition.unlock()
                return cached
            }
            guard computing.contains(key) else { break }
            condition.wait()
        }
        computing.insert(key)
        condition.unlock()
        let mask = compute(matcher)
        condition.lock()
        misses += 1
        computing.remove(key)
        if cache.count < Self.cacheLimit { cache[key] = mask }
        condition.broadcast()
        condition.unlock()
        return mask
    }

    /// Walks the trie from the root, advancing the grammar over each edge's byte and pruning the
    /// branches it refuses; every token at a node reached is allowed.
    private func compute(_ matcher: GrammarMatcher) -> TokenMask {
        var walker = condition.withLock { walkers.popLast() } ?? MaskWalker(grammar: grammar)
        let mask = walker.mask(from: matcher.stacks, in: matcher.arena, trie: trie)
        condition.withLock { if walkers.count < Self.walkerLimit { walkers.append(walker) } }
        return mask
    }
}

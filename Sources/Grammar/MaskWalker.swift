/// Walks the vocabulary trie from a matcher's state and collects the tokens the grammar accepts:
/// at each trie edge the open stacks advance over the edge's byte, and a branch whose stacks all
/// die is pruned with everything below it.
///
/// The walker is a lazily built automaton over sets of parse stacks: it keeps its own
/// `StackArena`, gives every set of stacks it meets a number, and remembers each
/// (set, byte) transition once computed. A walk over a 100k-node trie then costs a table lookup
/// per edge, and the few sets a walk meets (a string's next positions, the structure after it)
/// are expanded once for all the walks of a grammar, not once per trie edge. A walker is
/// independent of any matcher: a walk starts by copying the matcher's stacks into its arena.
struct MaskWalker {
    private let grammar: Grammar
    private var arena: StackArena
    /// Each set's stacks, sorted (`StackArena.accepted` first when present).
    private var sets: [[Int32]] = []
    private var setIndex: [[Int32]: Int32] = [:]
    /// Whether a set has a stack that can take another byte.
    private var live: [Bool] = []
    /// `transitions[set * 256 + byte]`: the set after the byte, `dead`, or `unknown`.
    private var transitions: [Int32] = []
    private static let unknown: Int32 = -2
    private static let dead: Int32 = -1
    /// Sets kept between walks at most (256 transitions of 4 bytes each); a walker that met more
    /// starts over after its walk.
    let setLimit: Int
    /// Sets one walk may number before the walker forgets them all and goes on (a grammar whose
    /// state differs after every prefix, such as a long enum, would otherwise grow the table with
    /// the trie).
    let walkLimit: Int

    init(grammar: Grammar, setLimit: Int = 4096, walkLimit: Int = 16384) {
        self.grammar = grammar
        arena = StackArena(grammar: grammar)
        self.setLimit = setLimit
        self.walkLimit = max(walkLimit, 1)
    }

    /// A walker like this one that remembers nothing.
    private var fresh: MaskWalker { MaskWalker(grammar: grammar, setLimit: setLimit, walkLimit: walkLimit) }

    /// The mask of tokens accepted from `stacks`, stacks of `stackArena` (a matcher's).
    mutating func mask(from stacks: [Int32], in stackArena: StackArena, trie: TokenTrie) -> TokenMask {
        var mask = TokenMask(count: trie.vocabularySize)
        defer { if sets.count > setLimit { self = fresh } }
        let start = intern(stacks.map { arena.stack(of: stackArena.chain(of: $0)) })
        guard start != Self.dead, live[Int(start)] else { return mask }
        trie.childStart.withUnsafeBufferPointer { childStart in
            trie.edgeByte.withUnsafeBufferPointer { edgeByte in
                trie.edgeChild.withUnsafeBufferPointer { edgeChild in
                    trie.tokenStart.withUnsafeBufferPointer { tokenStart in
                        trie.tokens.withUnsafeBufferPointer { tokens in
                            // One frame per trie node on the path: its next edge, its last edge, its set.
                            var frames: [(edge: Int32, end: Int32, set: Int32)] = [(childStart[0], childStart[1], start)]
                            frames.reserveCapacity(64)
                            while let frame = frames.last {
                                if frame.edge == frame.end {
                                    frames.removeLast()
                                    continue
                                }
                                frames[frames.count - 1].edge += 1
                                let edge = Int(frame.edge)
                                let byte = edgeByte[edge]
                                var next = transitions[Int(frame.set) &* 256 &+ Int(byte)]
                                if next == Self.unknown {
                                    if sets.count >= walkLimit {
                                        for (index, set) in startOver(keeping: frames.map(\.set)).enumerated() { frames[index].set = set }
                                    }
                                    let current = frames[frames.count - 1].set
                                    next = transition(from: current, byte: byte)
                                    transitions[Int(current) &* 256 &+ Int(byte)] = next
                                }
                                guard next != Self.dead else { continue }
                                let child = Int(edgeChild[edge])
                                for t in Int(tokenStart[child])..<Int(tokenStart[child + 1]) { mask.insert(Int(tokens[t])) }
                                if live[Int(next)] && childStart[child] < childStart[child + 1] {
                                    frames.append((childStart[child], childStart[child + 1], next))
                                }
                            }
                        }
                    }
                }
            }
        }
        return mask
    }

    /// The set of stacks after `byte` from set `set`, interned (or `dead`: refused by
    /// `StackArena.advance`, as the matcher refuses it).
    private mutating func transition(from set: Int32, byte: UInt8) -> Int32 {
        intern(arena.advance(sets[Int(set)], byte: byte))
    }

    /// The number of the set `stacks` (any order, duplicates allowed), or `dead` when it is empty.
    private mutating func intern(_ stacks: [Int32]) -> Int32 {
        guard !stacks.isEmpty else { return Self.dead }
        let sorted = Array(Set(stacks)).sorted()
        if let id = setIndex[sorted] { return id }
        let id = Int32(sets.count)
        sets.append(sorted)
        setIndex[sorted] = id
        live.append(sorted.last != StackArena.accepted)
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        return id
    }

    /// Forgets every set, transition and node but the sets `open` (those of the walk's open frames),
    /// and returns their new numbers.
    private mutating func startOver(keeping open: [Int32]) -> [Int32] {
        let chains = open.map { set in sets[Int(set)].map { arena.chain(of: $0) } }
        self = fresh
        return chains.map { intern($0.map { arena.stack(of: $0) }) }
    }
}

/// Walks the vocabulary trie from a matcher's state and collects the tokens the grammar accepts:
/// at each trie edge the open stacks advance over the edge's byte, and a branch whose stacks all
/// die is pruned with everything below it.
///
/// The walker is a lazily built automaton over sets of parse stacks: it keeps its own arena of
/// hash-consed stack nodes, gives every set of stacks it meets a number, and remembers each
/// (set, byte) transition once computed. A walk over a 100k-node trie then costs a table lookup
/// per edge, and the few sets a walk meets (a string's next positions, the structure after it)
/// are expanded once for all the walks of a grammar, not once per trie edge. A walker is
/// independent of any matcher: a walk starts by copying the matcher's stacks into its arena.
struct MaskWalker {
    private typealias Node = GrammarMatcher.Node
    private let grammar: Grammar
    private var nodes: [Node] = []
    private var nodeIndex: [Node: Int32] = [:]
    /// Each set's stacks, sorted (`GrammarMatcher.accepted` first when present).
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
        self.setLimit = setLimit
        self.walkLimit = max(walkLimit, 1)
    }

    /// A walker like this one that remembers nothing.
    private var fresh: MaskWalker { MaskWalker(grammar: grammar, setLimit: setLimit, walkLimit: walkLimit) }

    /// The mask of tokens accepted from `stacks`, stack ids in `matcherNodes`.
    mutating func mask(from stacks: [Int32], matcherNodes: [GrammarMatcher.Node], trie: TokenTrie) -> TokenMask {
        var mask = TokenMask(count: trie.vocabularySize)
        defer { if sets.count > setLimit { self = fresh } }
        let start = intern(stacks.map { importStack($0, from: matcherNodes) })
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

    /// The set of stacks after `byte` from set `set`, interned (or `dead`), refused by the same
    /// rule as `GrammarMatcher.advance`.
    private mutating func transition(from set: Int32, byte: UInt8) -> Int32 {
        var next: [Int32] = []
        for stack in sets[Int(set)] where stack != GrammarMatcher.accepted {
            let top = nodes[Int(stack)]
            guard case .bytes(let bytes) = grammar.operations[Int(top.operation)], bytes.contains(byte) else { continue }
            expand(top.operation + 1, parent: top.parent, into: &next)
            if next.count > 4 * GrammarMatcher.maximumStacks { return Self.dead }
        }
        let id = intern(next)
        return id != Self.dead && sets[Int(id)].count > GrammarMatcher.maximumStacks ? Self.dead : id
    }

    /// The number of the set `stacks` (any order, duplicates allowed), or `dead` when it is empty.
    private mutating func intern(_ stacks: [Int32]) -> Int32 {
        guard !stacks.isEmpty else { return Self.dead }
        let sorted = Array(Set(stacks)).sorted()
        if let id = setIndex[sorted] { return id }
        let id = Int32(sets.count)
        sets.append(sorted)
        setIndex[sorted] = id
        live.append(sorted.last != GrammarMatcher.accepted)
        transitions.append(contentsOf: repeatElement(Self.unknown, count: 256))
        return id
    }

    /// Forgets every set, transition and node but the sets `open` (those of the walk's open frames),
    /// and returns their new numbers.
    private mutating func startOver(keeping open: [Int32]) -> [Int32] {
        let chains = open.map { set in sets[Int(set)].map { chain(of: $0, in: nodes) } }
        self = fresh
        return chains.map { intern($0.map { importChain($0) }) }
    }

    /// The walker's id of the matcher's stack `id`.
    private mutating func importStack(_ id: Int32, from matcherNodes: [Node]) -> Int32 {
        importChain(chain(of: id, in: matcherNodes))
    }

    /// The operations of stack `id` in `arena`, top first.
    private func chain(of id: Int32, in arena: [Node]) -> [Int32] {
        var chain: [Int32] = []
        var current = id
        while current != GrammarMatcher.accepted {
            let node = arena[Int(current)]
            chain.append(node.operation)
            current = node.parent
        }
        return chain
    }

    /// The walker's id of the stack whose operations are `chain`, top first.
    private mutating func importChain(_ chain: [Int32]) -> Int32 {
        var imported = GrammarMatcher.accepted
        for operation in chain.reversed() { imported = node(operation, parent: imported) }
        return imported
    }

    private mutating func node(_ operation: Int32, parent: Int32) -> Int32 {
        let node = Node(operation: operation, parent: parent)
        if let id = nodeIndex[node] { return id }
        let id = Int32(nodes.count)
        nodes.append(node)
        nodeIndex[node] = id
        return id
    }

    /// Appends to `out` the stacks that continue at `operation` above `parent`, as
    /// `GrammarMatcher.expand` does.
    private mutating func expand(_ operation: Int32, parent: Int32, into out: inout [Int32], depth: Int = 0) {
        guard depth < GrammarMatcher.maximumExpansionDepth else { return }
        switch grammar.operations[Int(operation)] {
        case .bytes:
            out.append(node(operation, parent: parent))
        case .end:
            if parent == GrammarMatcher.accepted {
                out.append(GrammarMatcher.accepted)
            } else {
                let up = nodes[Int(parent)]
                expand(up.operation, parent: up.parent, into: &out, depth: depth + 1)
            }
        case .rule(let rule):
            let continuation = operation + 1
            let below = grammar.operations[Int(continuation)] == .end ? parent : node(continuation, parent: parent)
            for start in grammar.alternatives[Int(rule)] { expand(start, parent: below, into: &out, depth: depth + 1) }
        }
    }
}

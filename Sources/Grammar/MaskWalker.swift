/// Walks the vocabulary trie from a matcher's state and collects the tokens the grammar accepts:
/// at each trie edge the open stacks advance over the edge's byte, and a branch whose stacks all
/// die is pruned with everything below it.
///
/// The walk never touches the matcher: stacks it makes live in a scratch arena above the
/// matcher's nodes (without hash-consing), and the arena and the buffer of stack sets shrink back
/// as the depth-first walk returns, so a walk over a 100k-node trie allocates almost nothing.
struct MaskWalker {
    private let grammar: Grammar
    private let base: [GrammarMatcher.Node]
    private var scratch: [GrammarMatcher.Node] = []
    private var baseCount: Int32 { Int32(base.count) }

    init(grammar: Grammar, nodes: [GrammarMatcher.Node]) {
        self.grammar = grammar
        base = nodes
        scratch.reserveCapacity(1024)
    }

    @inline(__always)
    private func node(_ id: Int32) -> GrammarMatcher.Node {
        id < baseCount ? base[Int(id)] : scratch[Int(id - baseCount)]
    }

    /// The mask of tokens accepted from `stacks`.
    mutating func mask(from stacks: [Int32], trie: TokenTrie) -> TokenMask {
        var mask = TokenMask(count: trie.vocabularySize)
        var flat = stacks.filter { $0 != GrammarMatcher.accepted }
        guard !flat.isEmpty else { return mask }
        // One frame per trie node on the path: its next edge, and where its stack set and its
        // scratch nodes begin.
        var frames: [(node: Int, edge: Int, start: Int, count: Int, scratchMark: Int)] = [
            (0, Int(trie.childStart[0]), 0, flat.count, 0)
        ]
        frames.reserveCapacity(64)
        flat.reserveCapacity(256)
        while let frame = frames.last {
            let end = Int(trie.childStart[frame.node + 1])
            if frame.edge == end {
                frames.removeLast()
                flat.removeSubrange(frame.start...)
                scratch.removeSubrange(frame.scratchMark...)
                continue
            }
            frames[frames.count - 1].edge += 1
            let resultStart = flat.count
            let scratchMark = scratch.count
            let byte = trie.edgeByte[frame.edge]
            for index in frame.start..<(frame.start + frame.count) where flat[index] != GrammarMatcher.accepted {
                let top = node(flat[index])
                guard case .bytes(let set) = grammar.operations[Int(top.operation)], set.contains(byte) else { continue }
                expand(top.operation + 1, parent: top.parent, into: &flat, from: resultStart)
            }
            guard flat.count > resultStart else { continue }
            let child = Int(trie.edgeChild[frame.edge])
            for t in Int(trie.tokenStart[child])..<Int(trie.tokenStart[child + 1]) { mask.insert(Int(trie.tokens[t])) }
            let hasChildren = trie.childStart[child] < trie.childStart[child + 1]
            let live = flat[resultStart...].contains { $0 != GrammarMatcher.accepted }
            if hasChildren && live && flat.count - resultStart <= GrammarMatcher.maximumStacks {
                frames.append((child, Int(trie.childStart[child]), resultStart, flat.count - resultStart, scratchMark))
            } else {
                flat.removeSubrange(resultStart...)
                scratch.removeSubrange(scratchMark...)
            }
        }
        return mask
    }

    /// Appends to `out` (deduplicated from `from` on) the stacks that continue at `operation`
    /// above `parent`, as `GrammarMatcher.expand` does.
    private mutating func expand(_ operation: Int32, parent: Int32, into out: inout [Int32], from: Int, depth: Int = 0) {
        guard depth < GrammarMatcher.maximumExpansionDepth else { return }
        switch grammar.operations[Int(operation)] {
        case .bytes:
            for index in from..<out.count where out[index] != GrammarMatcher.accepted {
                let existing = node(out[index])
                if existing.operation == operation && existing.parent == parent { return }
            }
            scratch.append(GrammarMatcher.Node(operation: operation, parent: parent))
            out.append(baseCount + Int32(scratch.count - 1))
        case .end:
            if parent == GrammarMatcher.accepted {
                if !out[from...].contains(GrammarMatcher.accepted) { out.append(GrammarMatcher.accepted) }
            } else {
                let up = node(parent)
                expand(up.operation, parent: up.parent, into: &out, from: from, depth: depth + 1)
            }
        case .rule(let rule):
            let continuation = operation + 1
            var below = parent
            if grammar.operations[Int(continuation)] != .end {
                scratch.append(GrammarMatcher.Node(operation: continuation, parent: parent))
                below = baseCount + Int32(scratch.count - 1)
            }
            for start in grammar.alternatives[Int(rule)] { expand(start, parent: below, into: &out, from: from, depth: depth + 1) }
        }
    }
}

/// Parse stacks over a grammar's operations, as chains of hash-consed nodes: a node holds an
/// operation index (for the top node the next byte set to match, below it the operations to
/// continue with once a rule completes) and its parent, and equal stacks are one node.
/// `GrammarMatcher` keeps one arena per sequence; `MaskWalker` keeps its own.
struct StackArena {
    struct Node: Hashable {
        let operation: Int32
        let parent: Int32
    }

    /// The empty stack: the grammar's root is complete.
    static let accepted: Int32 = -1
    /// Stacks at most after a byte; beyond it the byte is refused (a grammar that ambiguous is not
    /// served).
    static let maximumStacks = 512
    /// Rule references followed in one expansion at most (a deeper chain is not matched).
    static let maximumExpansionDepth = 1000

    let grammar: Grammar
    private(set) var nodes: [Node] = []
    private var index: [Node: Int32] = [:]

    init(grammar: Grammar) { self.grammar = grammar }

    /// The node of stack `id` (not `accepted`).
    subscript(id: Int32) -> Node { nodes[Int(id)] }

    /// The stacks at the grammar's start, sorted.
    mutating func start() -> [Int32] {
        var initial: [Int32] = []
        for start in grammar.alternatives[Int(grammar.root)] { expand(start, parent: Self.accepted, into: &initial) }
        return Array(Set(initial)).sorted()
    }

    /// The stacks that remain after `byte` from `stacks`, sorted; empty when the byte is refused,
    /// also when more than `maximumStacks` would remain, or more than 4 times as many before
    /// duplicates go (both independent of the order of `stacks`).
    mutating func advance(_ stacks: [Int32], byte: UInt8) -> [Int32] {
        var next: [Int32] = []
        for stack in stacks where stack != Self.accepted {
            let top = nodes[Int(stack)]
            guard case .bytes(let set) = grammar.operations[Int(top.operation)], set.contains(byte) else { continue }
            expand(top.operation + 1, parent: top.parent, into: &next)
            if next.count > 4 * Self.maximumStacks { return [] }
        }
        let unique = Array(Set(next)).sorted()
        return unique.count > Self.maximumStacks ? [] : unique
    }

    /// The operations of stack `id`, top first.
    func chain(of id: Int32) -> [Int32] {
        var chain: [Int32] = []
        var current = id
        while current != Self.accepted {
            let node = nodes[Int(current)]
            chain.append(node.operation)
            current = node.parent
        }
        return chain
    }

    /// The stack whose operations are `chain`, top first (from another arena's `chain(of:)`).
    mutating func stack(of chain: [Int32]) -> Int32 {
        var id = Self.accepted
        for operation in chain.reversed() { id = node(operation, parent: id) }
        return id
    }

    private mutating func node(_ operation: Int32, parent: Int32) -> Int32 {
        let node = Node(operation: operation, parent: parent)
        if let id = index[node] { return id }
        let id = Int32(nodes.count)
        nodes.append(node)
        index[node] = id
        return id
    }

    /// Adds to `out` every stack that results from continuing at `operation` above `parent`, with a
    /// byte set on top (or `accepted`). A rule reference that ends its alternative is a tail call
    /// (nothing is pushed for it), so right recursion such as `star ::= item star | ε` runs in
    /// constant depth. The grammar has no left recursion, so this terminates.
    private mutating func expand(_ operation: Int32, parent: Int32, into out: inout [Int32], depth: Int = 0) {
        // A chain of rules nested deeper than this is dropped rather than risk the thread's stack.
        guard depth < Self.maximumExpansionDepth else { return }
        switch grammar.operations[Int(operation)] {
        case .bytes:
            out.append(node(operation, parent: parent))
        case .end:
            if parent == Self.accepted {
                out.append(Self.accepted)
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

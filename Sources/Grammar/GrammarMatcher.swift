/// Follows a grammar byte by byte: the state is the set of parse stacks that the bytes so far
/// leave open (several when the grammar is ambiguous at this point).
///
/// A stack is a chain of nodes in an arena; a node holds an operation index (for the top node the
/// next byte set to match, below it the operations to continue with once a rule completes) and
/// its parent. Nodes are hash-consed, so equal stacks are one node and duplicates vanish. A rule
/// reference that ends its alternative is a tail call (nothing is pushed for it), so right
/// recursion such as `star ::= item star | ε` runs in constant depth.
///
/// `@unchecked Sendable`: a matcher belongs to one sequence; only one thread at a time (the device
/// thread, or the one pool job that samples that sequence) calls it.
public final class GrammarMatcher: @unchecked Sendable {
    /// The empty stack: the grammar's root is complete.
    static let accepted: Int32 = -1

    struct Node: Hashable {
        let operation: Int32
        let parent: Int32
    }

    public let grammar: Grammar
    private(set) var nodes: [Node] = []
    private var index: [Node: Int32] = [:]
    /// The open stacks (top node ids, or `accepted`), sorted.
    public private(set) var stacks: [Int32]
    /// The stacks after each accepted token, for rollback: `history[n]` is the state after n tokens.
    private var history: [[Int32]] = []
    /// Stacks at most; beyond it a byte is refused (a grammar that ambiguous is not served).
    public static let maximumStacks = 512
    /// Rule references followed in one expansion at most (a deeper chain is not matched).
    static let maximumExpansionDepth = 1000

    public init(grammar: Grammar) {
        self.grammar = grammar
        stacks = []
        var initial: [Int32] = []
        for start in grammar.alternatives[Int(grammar.root)] { expand(start, parent: Self.accepted, into: &initial) }
        stacks = Self.normalized(initial)
        history = [stacks]
    }

    /// Whether the bytes so far form a complete document.
    public var isAccepting: Bool { stacks.first == Self.accepted }

    /// Whether no byte can follow and the document is complete.
    public var isTerminated: Bool { stacks == [Self.accepted] }

    /// The bytes that may come next.
    public var allowedBytes: ByteSet {
        var set = ByteSet()
        for stack in stacks where stack != Self.accepted {
            if case .bytes(let bytes) = grammar.operations[Int(nodes[Int(stack)].operation)] { set.formUnion(bytes) }
        }
        return set
    }

    /// Tokens accepted so far.
    public var acceptedCount: Int { history.count - 1 }

    /// The stacks that remain after `byte`, from `stacks` (empty: the byte is refused, also when
    /// more than `maximumStacks` would remain, or more than 4 times as many before duplicates go).
    func advance(_ stacks: [Int32], byte: UInt8) -> [Int32] {
        var next: [Int32] = []
        for stack in stacks where stack != Self.accepted {
            let node = nodes[Int(stack)]
            guard case .bytes(let set) = grammar.operations[Int(node.operation)], set.contains(byte) else { continue }
            expand(node.operation + 1, parent: node.parent, into: &next)
            if next.count > 4 * Self.maximumStacks { return [] }
        }
        let normalized = Self.normalized(next)
        return normalized.count > Self.maximumStacks ? [] : normalized
    }

    /// Advances over the bytes of one token; false if the grammar refuses them, and then the
    /// state stays as it was (the token still counts, so rollback counts stay aligned).
    @discardableResult
    public func accept(_ bytes: [UInt8]) -> Bool {
        var current = stacks
        for byte in bytes {
            current = advance(current, byte: byte)
            if current.isEmpty { break }
        }
        let accepted = !current.isEmpty
        if accepted { stacks = current }
        history.append(stacks)
        return accepted
    }

    /// Returns to the state after the first `count` accepted tokens.
    public func rollBack(toAcceptedCount count: Int) {
        guard count >= 0, count < history.count - 1 else { return }
        history.removeSubrange((count + 1)...)
        stacks = history[count]
    }

    /// The state's identity for caching: every open stack as its operation indices, top first.
    func key(of stacks: [Int32]) -> [Int32] {
        var key: [Int32] = []
        for stack in stacks {
            var id = stack
            while id != Self.accepted {
                let node = nodes[Int(id)]
                key.append(node.operation)
                id = node.parent
            }
            key.append(-1)
        }
        return key
    }

    private func node(_ operation: Int32, parent: Int32) -> Int32 {
        let node = Node(operation: operation, parent: parent)
        if let id = index[node] { return id }
        let id = Int32(nodes.count)
        nodes.append(node)
        index[node] = id
        return id
    }

    /// Adds to `out` every stack that results from continuing at `operation` above `parent`, with a
    /// byte set on top (or `accepted`). The grammar has no left recursion, so this terminates.
    private func expand(_ operation: Int32, parent: Int32, into out: inout [Int32], depth: Int = 0) {
        // A chain of rules nested deeper than this is dropped rather than risk the thread's stack.
        guard depth < GrammarMatcher.maximumExpansionDepth else { return }
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

    private static func normalized(_ stacks: [Int32]) -> [Int32] {
        Array(Set(stacks)).sorted()
    }
}

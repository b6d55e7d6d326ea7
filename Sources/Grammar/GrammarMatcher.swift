/// Follows a grammar byte by byte: the state is the set of parse stacks (in a `StackArena`) that
/// the bytes so far leave open (several when the grammar is ambiguous at this point).
///
/// `@unchecked Sendable`: a matcher belongs to one sequence; only one thread at a time (the device
/// thread, or the one pool job that samples that sequence) calls it.
public final class GrammarMatcher: @unchecked Sendable {
    /// The empty stack: the grammar's root is complete.
    static let accepted = StackArena.accepted

    public let grammar: Grammar
    private(set) var arena: StackArena
    /// The open stacks (top node ids, or `accepted`), sorted.
    public private(set) var stacks: [Int32]
    /// The stacks after each accepted token, for rollback: `history[n]` is the state after n tokens.
    private var history: [[Int32]] = []
    /// Stacks at most; beyond it a byte is refused (a grammar that ambiguous is not served).
    public static let maximumStacks = StackArena.maximumStacks

    public init(grammar: Grammar) {
        self.grammar = grammar
        arena = StackArena(grammar: grammar)
        stacks = arena.start()
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
            if case .bytes(let bytes) = grammar.operations[Int(arena[stack].operation)] { set.formUnion(bytes) }
        }
        return set
    }

    /// Tokens accepted so far.
    public var acceptedCount: Int { history.count - 1 }

    /// Advances over the bytes of one token; false if the grammar refuses them, and then the
    /// state stays as it was (the token still counts, so rollback counts stay aligned).
    @discardableResult
    public func accept(_ bytes: [UInt8]) -> Bool {
        var current = stacks
        for byte in bytes {
            current = arena.advance(current, byte: byte)
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
                let node = arena[id]
                key.append(node.operation)
                id = node.parent
            }
            key.append(-1)
        }
        return key
    }
}

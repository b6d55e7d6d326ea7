/// A context-free grammar over bytes in the flat form the matcher runs: every alternative of every
/// rule is a run of operations in one array, ended by `.end`.
public struct Grammar: Sendable {
    /// One operation of an alternative.
    public enum Operation: Sendable, Equatable {
        /// Match one byte of the set.
        case bytes(ByteSet)
        /// Match the rule.
        case rule(Int32)
        /// The alternative is complete.
        case end
    }

    public let operations: [Operation]
    /// For each rule, the index of each alternative's first operation.
    public let alternatives: [[Int32]]
    public let root: Int32

    init(rules: [GrammarBuilder.Alternatives], root: Int) {
        var operations: [Operation] = []
        var alternatives: [[Int32]] = []
        for rule in rules {
            var starts: [Int32] = []
            for sequence in rule {
                starts.append(Int32(operations.count))
                for symbol in sequence {
                    switch symbol {
                    case .bytes(let set): operations.append(.bytes(set))
                    case .rule(let r): operations.append(.rule(Int32(r)))
                    }
                }
                operations.append(.end)
            }
            alternatives.append(starts)
        }
        self.operations = operations
        self.alternatives = alternatives
        self.root = Int32(root)
    }
}

import Foundation
import Grammar
import Tokenizer

/// Compiled output constraints by key, with the vocabulary trie they share (built on first use).
///
/// `@unchecked Sendable`: `trie` and `compiled` are read and written only with `lock` held.
final class ConstraintCache: @unchecked Sendable {
    private let tokenizer: Tokenizer
    private let lock = NSLock()
    private var trie: TokenTrie?
    private var compiled: [String: ConstraintRuntime] = [:]
    private var order: [String] = []
    /// Compiled constraints kept (least recently compiled dropped first).
    static let capacity = 128

    init(tokenizer: Tokenizer) { self.tokenizer = tokenizer }

    func runtime(for constraint: OutputConstraint) throws(GrammarError) -> ConstraintRuntime {
        let key = constraint.cacheKey
        if let runtime = lock.withLock({ compiled[key] }) { return runtime }
        let grammar = try constraint.compile()
        let runtime = ConstraintRuntime(grammar: grammar, trie: vocabularyTrie())
        lock.withLock {
            if compiled[key] == nil {
                compiled[key] = runtime
                order.append(key)
                if order.count > Self.capacity { compiled[order.removeFirst()] = nil }
            }
        }
        return runtime
    }

    private func vocabularyTrie() -> TokenTrie {
        if let trie = lock.withLock({ trie }) { return trie }
        let bytes = (0..<Int32(tokenizer.vocabularySize)).map { tokenizer.pieceBytes(of: $0, skipSpecial: true) }
        let built = TokenTrie(tokenBytes: bytes)
        lock.withLock { if trie == nil { trie = built } }
        return built
    }
}

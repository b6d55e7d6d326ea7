/// The tokens a grammar state allows, one bit per token id.
public struct TokenMask: Sendable, Equatable {
    public private(set) var words: [UInt64]
    public let count: Int

    public init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
    }

    @inline(__always)
    public func contains(_ token: Int) -> Bool {
        token >= 0 && token < count && words[token >> 6] & (1 << UInt64(token & 63)) != 0
    }

    @inline(__always)
    public mutating func insert(_ token: Int) {
        guard token >= 0 && token < count else { return }
        words[token >> 6] |= 1 << UInt64(token & 63)
    }

    /// Tokens in the mask.
    public var population: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }
}

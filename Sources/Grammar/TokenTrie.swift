/// The vocabulary's tokens as a trie of their bytes, so a token mask walks each shared prefix once.
///
/// Built once per tokenizer from every token that stands for text (control and special tokens
/// are left out: a grammar never allows them; end of text is decided apart).
public struct TokenTrie: Sendable {
    /// Tokens in the vocabulary (the mask's length).
    public let vocabularySize: Int
    /// Each token's bytes (empty for tokens left out).
    public let tokenBytes: [[UInt8]]
    // Node `n`'s children are edges `childStart[n] ..< childStart[n + 1]`; the tokens that end at
    // node `n` are `tokens[tokenStart[n] ..< tokenStart[n + 1]]`. Node 0 is the root.
    let childStart: [Int32]
    let edgeByte: [UInt8]
    let edgeChild: [Int32]
    let tokenStart: [Int32]
    let tokens: [Int32]

    /// A trie of `tokenBytes[id]` for every id whose bytes are not empty.
    public init(tokenBytes: [[UInt8]]) {
        self.tokenBytes = tokenBytes
        vocabularySize = tokenBytes.count
        // Nodes by breadth-first construction over the sorted tokens.
        let order = tokenBytes.indices.filter { !tokenBytes[$0].isEmpty }.sorted { tokenBytes[$0].lexicographicallyPrecedes(tokenBytes[$1]) }
        var children: [[(UInt8, Int32)]] = [[]]
        var ending: [[Int32]] = [[]]
        for id in order {
            var node = 0
            for byte in tokenBytes[id] {
                if let last = children[node].last, last.0 == byte {
                    node = Int(last.1)
                } else {
                    let child = Int32(children.count)
                    children[node].append((byte, child))
                    children.append([])
                    ending.append([])
                    node = Int(child)
                }
            }
            ending[node].append(Int32(id))
        }
        var childStart: [Int32] = [0]
        var edgeByte: [UInt8] = []
        var edgeChild: [Int32] = []
        var tokenStart: [Int32] = [0]
        var tokens: [Int32] = []
        for node in children.indices {
            for (byte, child) in children[node] {
                edgeByte.append(byte)
                edgeChild.append(child)
            }
            childStart.append(Int32(edgeByte.count))
            tokens += ending[node]
            tokenStart.append(Int32(tokens.count))
        }
        self.childStart = childStart
        self.edgeByte = edgeByte
        self.edgeChild = edgeChild
        self.tokenStart = tokenStart
        self.tokens = tokens
    }

    /// Nodes in the trie.
    public var nodeCount: Int { childStart.count - 1 }
}

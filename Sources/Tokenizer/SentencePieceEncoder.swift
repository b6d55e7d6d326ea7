/// SentencePiece-style BPE (llama.cpp's `llm_tokenizer_spm_session`).
///
/// The text (spaces already escaped as `▁`) starts as one symbol per UTF-8 character; the
/// adjacent pair whose concatenation is a vocabulary token with the highest score (leftmost on
/// ties) is merged until no pair forms a token. A final symbol that is not a token is emitted as
/// `<0xXX>` byte tokens (falling back to a single-character token, then the unknown token).
struct SentencePieceEncoder: Sendable {
    private let tokenIds: TokenIdTable
    private let scores: [Float]
    private let byteTokens: [Int32]
    private let unknownToken: Int32?

    init(tokenIds: TokenIdTable, scores: [Float], unknownToken: Int32?) {
        self.tokenIds = tokenIds
        self.scores = scores
        self.unknownToken = unknownToken
        var byteTokens = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            let hex = String(b, radix: 16, uppercase: true)
            let name = "<0x" + (hex.count == 1 ? "0" + hex : hex) + ">"
            if let id = tokenIds[name] {
                byteTokens[b] = id
            } else if b < 128, let scalar = Unicode.Scalar(UInt32(b)), let id = tokenIds[String(scalar)] {
                byteTokens[b] = id
            }
        }
        self.byteTokens = byteTokens
    }

    private struct Bigram: Comparable {
        var score: Float
        var left: Int32
        var right: Int32
        var size: Int32

        /// Higher score first, then the leftmost pair.
        static func < (a: Bigram, b: Bigram) -> Bool {
            a.score != b.score ? a.score > b.score : a.left < b.left
        }
    }

    private func token(_ bytes: UnsafeBufferPointer<UInt8>, _ start: Int, _ length: Int) -> Int32? {
        tokenIds[bytes: UnsafeBufferPointer(rebasing: bytes[start..<(start + length)])]
    }

    /// Encodes `text` (already space-escaped) and appends the token ids to `output`.
    func encode(_ text: UnsafeBufferPointer<UInt8>, into output: inout [Int32]) {
        var starts: [Int] = []
        var lengths: [Int] = []
        var prev: [Int32] = []
        var next: [Int32] = []
        var offset = 0
        while offset < text.count {
            let b = text[offset]
            let length = min(b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4, text.count - offset)
            prev.append(Int32(starts.count) - 1)
            starts.append(offset)
            lengths.append(length)
            offset += length
            next.append(offset < text.count ? Int32(starts.count) : -1)
        }
        guard !starts.isEmpty else { return }
        var heap = BinaryHeap<Bigram>()
        func tryAdd(_ left: Int32, _ right: Int32) {
            guard left >= 0, right >= 0 else { return }
            let size = lengths[Int(left)] + lengths[Int(right)]
            guard let id = token(text, starts[Int(left)], size), Int(id) < scores.count else { return }
            heap.push(Bigram(score: scores[Int(id)], left: left, right: right, size: Int32(size)))
        }
        for i in 1..<starts.count { tryAdd(Int32(i - 1), Int32(i)) }
        while let bigram = heap.pop() {
            let l = Int(bigram.left), r = Int(bigram.right)
            guard lengths[l] > 0, lengths[r] > 0, lengths[l] + lengths[r] == Int(bigram.size) else { continue }
            lengths[l] += lengths[r]
            lengths[r] = 0
            next[l] = next[r]
            if next[r] >= 0 { prev[Int(next[r])] = bigram.left }
            tryAdd(prev[l], bigram.left)
            tryAdd(bigram.left, next[l])
        }
        var i: Int32 = 0
        while i >= 0 {
            let s = Int(i)
            if let id = token(text, starts[s], lengths[s]) {
                output.append(id)
            } else {
                for k in starts[s]..<(starts[s] + lengths[s]) {
                    let id = byteTokens[Int(text[k])]
                    if id >= 0 {
                        output.append(id)
                    } else if let unknownToken {
                        output.append(unknownToken)
                    }
                }
            }
            i = next[s]
        }
    }
}

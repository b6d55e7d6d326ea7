/// Turns a stream of token ids into text without ever emitting part of a UTF-8 character.
///
/// Bytes that could still become a valid character once more tokens arrive (an incomplete
/// but so-far-valid UTF-8 sequence at the end) are held back; everything else is emitted, with
/// invalid bytes replaced by U+FFFD. The concatenation of all returned strings plus
/// ``flush()`` equals `String(decoding:as:)` of all the tokens' bytes.
///
/// Pieces are those of llama.cpp's `token_to_piece` without leading-space stripping (what
/// llama-server streams), so for a space-prefixing SentencePiece model the first piece may
/// start with a space that ``Tokenizer/decode(_:skipSpecial:)`` would remove.
public struct IncrementalDecoder: Sendable {
    private let tokenizer: Tokenizer
    private let skipSpecial: Bool
    private var pending: [UInt8] = []

    /// - Parameters:
    ///   - skipSpecial: render control tokens as nothing instead of their text.
    public init(tokenizer: Tokenizer, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Adds one token and returns the text that became complete (possibly empty).
    public mutating func append(_ id: Int32) -> String {
        pending.append(contentsOf: tokenizer.pieceBytes(of: id, skipSpecial: skipSpecial))
        let keep = IncrementalDecoder.incompleteSuffixLength(pending)
        guard pending.count > keep else { return "" }
        let text = String(decoding: pending[..<(pending.count - keep)], as: UTF8.self)
        pending.removeFirst(pending.count - keep)
        return text
    }

    /// Returns whatever is held back (an incomplete sequence becomes U+FFFD) and resets.
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// The number of trailing bytes that form a valid but incomplete UTF-8 sequence (0...3).
    static func incompleteSuffixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var back = 1
        while back <= min(3, n) {
            let b = bytes[n - back]
            if b & 0xC0 == 0x80 { back += 1; continue }  // continuation byte: keep looking for the lead
            let need: Int
            switch b {
            case 0xC2...0xDF: need = 2
            case 0xE0...0xEF: need = 3
            case 0xF0...0xF4: need = 4
            default: return 0  // ASCII or a byte that can never start a sequence
            }
            guard back < need else { return 0 }  // complete (or over-long run, handled by the decoder)
            // The continuation bytes seen so far must be allowed after this lead byte.
            if back >= 2 {
                let second = bytes[n - back + 1]
                let low: UInt8 = b == 0xE0 ? 0xA0 : b == 0xF0 ? 0x90 : 0x80
                let high: UInt8 = b == 0xED ? 0x9F : b == 0xF4 ? 0x8F : 0xBF
                if second < low || second > high { return 0 }
            }
            return back
        }
        return 0
    }
}

/// Turns the bytes a terminal sends in raw mode into keys: UTF-8 text (also when a character's bytes
/// arrive in separate reads), control characters, and the ANSI / xterm escape sequences of the
/// arrow, Home, End and Delete keys (CSI `ESC [` and SS3 `ESC O` forms).
public struct KeyDecoder: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// The keys completed by `bytes`; bytes of an unfinished sequence are kept for the next call.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Key] {
        var keys: [Key] = []
        for byte in bytes {
            pending.append(byte)
            if let key = decodePending() {
                pending.removeAll(keepingCapacity: true)
                if case .text(let new) = key, case .text(let previous)? = keys.last {
                    keys[keys.count - 1] = .text(previous + new)
                } else {
                    keys.append(key)
                }
            }
        }
        return keys
    }

    /// The key `pending` spells, or nil while it is an unfinished sequence.
    private func decodePending() -> Key? {
        guard let first = pending.first else { return nil }
        if first == 0x1B { return decodeEscape() }
        switch first {
        case 0x0D, 0x0A: return .enter
        case 0x7F, 0x08: return .backspace
        case 0x03: return .interrupt
        case 0x04: return .endOfInput
        case 0x01: return .home
        case 0x05: return .end
        case 0x02: return .left
        case 0x06: return .right
        case 0x10: return .up
        case 0x0E: return .down
        case 0x0B: return .killToEnd
        case 0x15: return .killToStart
        case 0x17: return .deleteWord
        case 0x0C: return .redraw
        case 0x09: return .text("    ")
        case 0x00..<0x20: return .ignored
        default: return decodeUTF8()
        }
    }

    private func decodeUTF8() -> Key? {
        let first = pending[0]
        let length: Int
        switch first {
        case 0x00..<0x80: length = 1
        case 0xC2..<0xE0: length = 2
        case 0xE0..<0xF0: length = 3
        case 0xF0..<0xF5: length = 4
        default: return .ignored
        }
        if pending.count > 1, pending.last.map({ $0 & 0xC0 != 0x80 }) == true { return .ignored }
        guard pending.count == length else { return nil }
        let text = String(decoding: pending, as: UTF8.self)
        return text.unicodeScalars.contains("\u{FFFD}") ? .ignored : .text(text)
    }

    private func decodeEscape() -> Key? {
        guard pending.count >= 2 else { return nil }
        let second = pending[1]
        switch second {
        case UInt8(ascii: "["), UInt8(ascii: "O"):
            guard pending.count >= 3 else { return nil }
            let last = pending[pending.count - 1]
            // Parameters are digits and ';'; the final byte is in 0x40...0x7E.
            guard (0x40...0x7E).contains(last) else { return pending.count > 16 ? .ignored : nil }
            let parameters = String(decoding: pending[2..<(pending.count - 1)], as: UTF8.self)
            let modified = parameters.hasSuffix(";5")
            switch last {
            case UInt8(ascii: "A"): return .up
            case UInt8(ascii: "B"): return .down
            case UInt8(ascii: "C"): return modified ? .wordRight : .right
            case UInt8(ascii: "D"): return modified ? .wordLeft : .left
            case UInt8(ascii: "H"): return .home
            case UInt8(ascii: "F"): return .end
            case UInt8(ascii: "~"):
                switch parameters {
                case "1", "7": return .home
                case "4", "8": return .end
                case "3": return .delete
                default: return .ignored
                }
            default: return .ignored
            }
        case UInt8(ascii: "b"): return .wordLeft
        case UInt8(ascii: "f"): return .wordRight
        case 0x7F: return .deleteWord
        default: return .ignored
        }
    }
}

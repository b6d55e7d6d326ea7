import JSON

/// How values are written in generated JSON: one spelling per value, the one `JSONSerialization`
/// and Python's `json.dumps` would use for strings (with `ensure_ascii` off).
enum JSONText {
    /// The JSON escape of a character JSON cannot write as is (`"`, `\` and control characters).
    static func escapedCharacter(_ value: UInt32) -> String {
        switch value {
        case 0x22: return "\\\""
        case 0x5C: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        default:
            let hex = String(value, radix: 16)
            return "\\u" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        }
    }

    /// A value as compact JSON (for `const` and `enum`).
    static func serialize(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .double(let d):
            if d == d.rounded(), abs(d) < 1e15 { return String(Int(d)) }
            return "\(d)"
        case .string(let s):
            var out = "\""
            for scalar in s.unicodeScalars {
                if scalar.value < 0x20 || scalar == "\"" || scalar == "\\" {
                    out += escapedCharacter(scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        case .array(let items): return "[" + items.map(serialize).joined(separator: ",") + "]"
        case .object(let pairs):
            return "{" + pairs.map { serialize(.string($0.0)) + ":" + serialize($0.1) }.joined(separator: ",") + "}"
        }
    }
}

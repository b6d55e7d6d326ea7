import Foundation

/// Mutable attribute bag created by `namespace(...)`; reference semantics like Jinja2's `Namespace`.
final class NamespaceObject {
    var attributes: [(String, Value)]
    init(_ attributes: [(String, Value)]) { self.attributes = attributes }

    subscript(name: String) -> Value? {
        get { attributes.first { $0.0 == name }?.1 }
        set {
            if let index = attributes.firstIndex(where: { $0.0 == name }) {
                if let newValue { attributes[index].1 = newValue } else { attributes.remove(at: index) }
            } else if let newValue {
                attributes.append((name, newValue))
            }
        }
    }
}

/// A function value: builtin globals, bound methods, macros, `loop.cycle`.
final class Callable {
    let name: String
    /// The list or dict a bound method captured (`items.copy`), so value-depth checks can see it.
    let receiver: Value?
    let body: (_ args: [Value], _ kwargs: [(String, Value)]) throws -> Value
    init(
        _ name: String, receiver: Value? = nil,
        _ body: @escaping (_ args: [Value], _ kwargs: [(String, Value)]) throws -> Value
    ) {
        self.name = name
        self.receiver = receiver
        self.body = body
    }
}

/// Runtime value: Python-like semantics of the objects a Jinja2 chat template sees.
enum Value {
    /// An undefined value; the payload is the hint used if it is misused (Jinja2's message).
    case undefined(String)
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case dict(ValueDict)
    case namespace(NamespaceObject)
    case callable(Callable)

    init(_ value: TemplateValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        case .double(let d): self = .double(d)
        case .bool(let b): self = .bool(b)
        case .none: self = .none
        case .array(let items): self = .array(items.map(Value.init))
        case .dictionary(let dict):
            var out = ValueDict()
            for (key, item) in dict.entries { out[key] = Value(item) }
            self = .dict(out)
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// Python truthiness.
    var truthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .dict(let d): return d.count > 0
        case .namespace, .callable: return true
        }
    }

    /// Python type name, for error messages.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .dict: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }
}

/// Insertion-ordered dictionary of runtime values.
typealias ValueDict = InsertionOrderedDictionary<Value>

// MARK: - Strings as Python sees them (sequences of code points)

extension String {
    var scalars: [Unicode.Scalar] { Array(unicodeScalars) }
    init(scalars: some Sequence<Unicode.Scalar>) {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        self = String(view)
    }
    /// Code-point equality (Swift's `==` uses canonical equivalence, Python does not).
    func pyEquals(_ other: String) -> Bool {
        // Equal code points <=> equal UTF-8 bytes; comparing bytes is faster and length-checked first.
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}

/// Linear-time substring search over code points (Knuth-Morris-Pratt): a hostile needle such as
/// `'a' * n ~ 'b'` cannot make a search quadratic.
struct ScalarSearch {
    let needle: [Unicode.Scalar]
    private let failure: [Int]

    init(_ needle: [Unicode.Scalar]) {
        self.needle = needle
        var failure = [Int](repeating: 0, count: needle.count)
        var k = 0
        var i = 1
        while i < needle.count {
            while k > 0 && needle[i] != needle[k] { k = failure[k - 1] }
            if needle[i] == needle[k] { k += 1 }
            failure[i] = k
            i += 1
        }
        self.failure = failure
    }

    /// The first index at or after `start` where the needle occurs in `haystack`.
    func find(in haystack: [Unicode.Scalar], from start: Int = 0) -> Int? {
        let from = max(0, start)
        if needle.isEmpty { return from <= haystack.count ? from : nil }
        var matched = 0
        var i = from
        while i < haystack.count {
            while matched > 0 && haystack[i] != needle[matched] { matched = failure[matched - 1] }
            if haystack[i] == needle[matched] { matched += 1 }
            if matched == needle.count { return i - needle.count + 1 }
            i += 1
        }
        return nil
    }
}

func pyFind(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar], from start: Int = 0) -> Int? {
    ScalarSearch(needle).find(in: haystack, from: start)
}

/// The last index where `needle` occurs in `haystack` (Python `str.rfind`), in linear time.
func pyReverseFind(_ haystack: [Unicode.Scalar], _ needle: [Unicode.Scalar]) -> Int? {
    guard let i = ScalarSearch(needle.reversed()).find(in: haystack.reversed()) else { return nil }
    return haystack.count - i - needle.count
}

/// Python float repr (shortest round-trip digits, exponent form outside [1e-4, 1e16)).
func pyFloatRepr(_ d: Double) -> String {
    if d.isNaN { return "nan" }
    if d.isInfinite { return d < 0 ? "-inf" : "inf" }
    var text = "\(d)"  // Swift already prints shortest round-trip digits
    if text.contains("e") {
        // Swift: "1e-05"/"1e+16"; Python uses the same shape but always a sign and 2+ exponent digits.
        let parts = text.split(separator: "e", maxSplits: 1)
        var mantissa = String(parts[0])
        var exponent = String(parts[1])
        if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
        var sign = "+"
        if exponent.hasPrefix("-") { sign = "-"; exponent.removeFirst() } else if exponent.hasPrefix("+") { exponent.removeFirst() }
        if exponent.count < 2 { exponent = "0" + exponent }
        text = mantissa + "e" + sign + exponent
        return text
    }
    let magnitude = abs(d)
    if magnitude >= 1e16 || (magnitude != 0 && magnitude < 1e-4) {
        // Swift printed positional notation where Python switches to exponent form.
        return pyExponentForm(d)
    }
    return text
}

private func pyExponentForm(_ d: Double) -> String {
    // Shortest digits from Swift's description, re-laid out as d.ddde±XX.
    let text = "\(abs(d))"
    var digits = ""
    var pointIndex = 0
    var seenPoint = false
    for c in text {
        if c == "." { seenPoint = true; continue }
        if !seenPoint { pointIndex += 1 }
        digits.append(c)
    }
    if !seenPoint { pointIndex = digits.count }
    let leadingZeros = digits.prefix { $0 == "0" }.count
    let significant = String(digits.dropFirst(leadingZeros)).replacingOccurrences(of: "0+$", with: "", options: .regularExpression)
    let exponent = pointIndex - leadingZeros - 1
    var mantissa = String(significant.prefix(1))
    if significant.count > 1 { mantissa += "." + significant.dropFirst() }
    let expText = abs(exponent) < 10 ? "0\(abs(exponent))" : "\(abs(exponent))"
    return (d < 0 ? "-" : "") + mantissa + "e" + (exponent < 0 ? "-" : "+") + expText
}

/// Python `repr(str)`.
func pyStringRepr(_ s: String) -> String {
    let quote: Unicode.Scalar = (s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"")) ? "\"" : "'"
    // Appended to a String (amortized O(1)); `UnicodeScalarView.append(contentsOf:)` copied the whole
    // view on each call, which made the repr of a long string quadratic (a fuzzer timeout).
    var out = ""
    out.reserveCapacity(s.utf8.count + 2)
    out.unicodeScalars.append(quote)
    for c in s.unicodeScalars {
        switch c {
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case quote:
            out += "\\"
            out.unicodeScalars.append(c)
        default:
            if isPrintable(c) {
                out.unicodeScalars.append(c)
            } else if c.value < 0x100 {
                out += String(format: "\\x%02x", c.value)
            } else if c.value < 0x10000 {
                out += String(format: "\\u%04x", c.value)
            } else {
                out += String(format: "\\U%08x", c.value)
            }
        }
    }
    out.unicodeScalars.append(quote)
    return out
}

/// Python's `str.isprintable` for one code point (space is printable; other separators/controls are not).
private func isPrintable(_ c: Unicode.Scalar) -> Bool {
    if c == " " { return true }
    switch c.properties.generalCategory {
    case .control, .format, .surrogate, .privateUse, .unassigned, .lineSeparator, .paragraphSeparator, .spaceSeparator:
        return false
    default:
        return true
    }
}

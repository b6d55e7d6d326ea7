/// One metadata value of a GGUF file.
///
/// Arrays may nest (an array of arrays); the reader caps the nesting depth.
/// String values that are not valid UTF-8 are decoded lossily (invalid sequences become U+FFFD);
/// metadata keys and tensor names must be valid UTF-8.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8)
    case int8(Int8)
    case uint16(UInt16)
    case int16(Int16)
    case uint32(UInt32)
    case int32(Int32)
    case uint64(UInt64)
    case int64(Int64)
    case float32(Float)
    case float64(Double)
    case bool(Bool)
    case string(String)
    case array([GGUFValue])

    /// The value of any integer case, if it fits in `Int`; nil for other cases (including `bool`).
    public var int: Int? {
        switch self {
        case .uint8(let v): return Int(v)
        case .int8(let v): return Int(v)
        case .uint16(let v): return Int(v)
        case .int16(let v): return Int(v)
        case .uint32(let v): return Int(v)
        case .int32(let v): return Int(v)
        case .uint64(let v): return Int(exactly: v)
        case .int64(let v): return Int(v)
        default: return nil
        }
    }

    /// The value of a floating-point or integer case as a `Double`; nil for other cases.
    public var float: Double? {
        switch self {
        case .float32(let v): return Double(v)
        case .float64(let v): return v
        case .uint8(let v): return Double(v)
        case .int8(let v): return Double(v)
        case .uint16(let v): return Double(v)
        case .int16(let v): return Double(v)
        case .uint32(let v): return Double(v)
        case .int32(let v): return Double(v)
        case .uint64(let v): return Double(v)
        case .int64(let v): return Double(v)
        default: return nil
        }
    }

    /// The value of a `bool` case.
    public var bool: Bool? {
        if case .bool(let v) = self { return v }
        return nil
    }

    /// The value of a `string` case.
    public var string: String? {
        if case .string(let v) = self { return v }
        return nil
    }

    /// The elements of an `array` case.
    public var array: [GGUFValue]? {
        if case .array(let v) = self { return v }
        return nil
    }

    /// The elements of an array whose elements are all strings.
    public var strings: [String]? {
        guard case .array(let elements) = self else { return nil }
        var result: [String] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard case .string(let s) = element else { return nil }
            result.append(s)
        }
        return result
    }

    /// The elements of an array whose elements are all integers that fit in `Int`.
    public var ints: [Int]? {
        guard case .array(let elements) = self else { return nil }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let v = element.int else { return nil }
            result.append(v)
        }
        return result
    }

    /// The elements of an array whose elements are all numbers, as `Float`.
    public var floats: [Float]? {
        guard case .array(let elements) = self else { return nil }
        var result: [Float] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            switch element {
            case .float32(let v): result.append(v)
            default:
                guard let v = element.float else { return nil }
                result.append(Float(v))
            }
        }
        return result
    }

    /// The GGUF name of this value's type, e.g. `UINT32` or `ARRAY`.
    public var typeName: String {
        switch self {
        case .uint8: return "UINT8"
        case .int8: return "INT8"
        case .uint16: return "UINT16"
        case .int16: return "INT16"
        case .uint32: return "UINT32"
        case .int32: return "INT32"
        case .uint64: return "UINT64"
        case .int64: return "INT64"
        case .float32: return "FLOAT32"
        case .float64: return "FLOAT64"
        case .bool: return "BOOL"
        case .string: return "STRING"
        case .array: return "ARRAY"
        }
    }
}

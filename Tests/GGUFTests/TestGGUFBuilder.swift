@testable import GGUF

/// Little-endian byte writer for hand-made GGUF files.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) { rawString(Array(s.utf8)) }
    mutating func rawString(_ raw: [UInt8]) {
        u64(UInt64(raw.count))
        bytes.append(contentsOf: raw)
    }

    /// GGUF type number of a value.
    static func typeNumber(_ value: GGUFValue) -> UInt32 {
        switch value {
        case .uint8: return 0
        case .int8: return 1
        case .uint16: return 2
        case .int16: return 3
        case .uint32: return 4
        case .int32: return 5
        case .float32: return 6
        case .bool: return 7
        case .string: return 8
        case .array: return 9
        case .uint64: return 10
        case .int64: return 11
        case .float64: return 12
        }
    }

    /// Writes a value's payload (no type tag). Arrays take their element type from the first
    /// element (empty arrays are written as UINT8 arrays).
    mutating func payload(_ value: GGUFValue) {
        switch value {
        case .uint8(let v): u8(v)
        case .int8(let v): u8(UInt8(bitPattern: v))
        case .uint16(let v): u16(v)
        case .int16(let v): u16(UInt16(bitPattern: v))
        case .uint32(let v): u32(v)
        case .int32(let v): u32(UInt32(bitPattern: v))
        case .uint64(let v): u64(v)
        case .int64(let v): u64(UInt64(bitPattern: v))
        case .float32(let v): u32(v.bitPattern)
        case .float64(let v): u64(v.bitPattern)
        case .bool(let v): u8(v ? 1 : 0)
        case .string(let v): string(v)
        case .array(let elements):
            u32(elements.first.map(Self.typeNumber) ?? 0)
            u64(UInt64(elements.count))
            for element in elements { payload(element) }
        }
    }

    mutating func keyValue(_ key: String, _ value: GGUFValue) {
        string(key)
        u32(Self.typeNumber(value))
        payload(value)
    }

    /// Pads with zeros to a multiple of `alignment`.
    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }
}

/// A tensor for `TestGGUF`: raw dimension/type/offset fields plus its data.
struct TestTensor {
    var name: String
    var dimensions: [UInt64]
    var type: UInt32
    /// Offset relative to the data section; nil = laid out automatically (aligned, in order).
    var offset: UInt64? = nil
    var data: [UInt8]

    init(_ name: String, _ dimensions: [UInt64], _ type: GGMLType, data: [UInt8]) {
        self.name = name
        self.dimensions = dimensions
        self.type = type.rawValue
        self.data = data
    }

    init(name: String, dimensions: [UInt64], rawType: UInt32, offset: UInt64?, data: [UInt8]) {
        self.name = name
        self.dimensions = dimensions
        self.type = rawType
        self.offset = offset
        self.data = data
    }
}

/// A GGUF file described field by field, so tests can write valid files and break single fields.
struct TestGGUF {
    var magic: [UInt8] = Array("GGUF".utf8)
    var version: UInt32 = 3
    var tensorCount: UInt64? = nil
    var keyValueCount: UInt64? = nil
    var metadata: [(String, GGUFValue)] = []
    var tensors: [TestTensor] = []
    /// Alignment used for layout (set `general.alignment` in metadata separately).
    var layoutAlignment = 32

    /// Tensor offsets relative to the data section, laid out like GGUFWriter does.
    var automaticOffsets: [UInt64] {
        var offsets: [UInt64] = []
        var position = 0
        for tensor in tensors {
            offsets.append(UInt64(position))
            position += tensor.data.count
            position += (layoutAlignment - position % layoutAlignment) % layoutAlignment
        }
        return offsets
    }

    func bytes() -> [UInt8] {
        var w = ByteWriter()
        w.bytes.append(contentsOf: magic)
        w.u32(version)
        w.u64(tensorCount ?? UInt64(tensors.count))
        w.u64(keyValueCount ?? UInt64(metadata.count))
        for (key, value) in metadata { w.keyValue(key, value) }
        let offsets = automaticOffsets
        for (i, tensor) in tensors.enumerated() {
            w.string(tensor.name)
            w.u32(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { w.u64(d) }
            w.u32(tensor.type)
            w.u64(tensor.offset ?? offsets[i])
        }
        if tensors.isEmpty { return w.bytes }
        w.pad(to: layoutAlignment)
        let dataStart = w.bytes.count
        for (i, tensor) in tensors.enumerated() {
            let target = dataStart + Int(offsets[i])
            while w.bytes.count < target { w.u8(0) }
            w.bytes.append(contentsOf: tensor.data)
        }
        return w.bytes
    }
}

/// Bytes of `values` as little-endian f32.
func f32Bytes(_ values: [Float]) -> [UInt8] {
    var w = ByteWriter()
    for v in values { w.u32(v.bitPattern) }
    return w.bytes
}

/// Parses `bytes` and returns the GGUFError it throws (nil if it parses).
func parseError(_ bytes: [UInt8]) -> GGUFError? {
    do {
        _ = try GGUFFile(bytes: bytes)
        return nil
    } catch let error as GGUFError {
        return error
    } catch {
        return .cannotOpen(path: "<memory>", reason: "unexpected error type \(error)")
    }
}

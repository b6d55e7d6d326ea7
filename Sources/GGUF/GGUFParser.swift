/// The GGUF parser proper: turns untrusted bytes into validated header, metadata and tensor table.
enum GGUFParser {
    struct Result {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var metadataKeys: [String]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    /// "GGUF" read as a little-endian u32.
    static let magic: UInt32 = 0x4655_4747
    static let defaultAlignment = 32

    /// Smallest encoding of one metadata pair: key length (8), value type (4), a 1-byte value.
    static let minimumKeyValueSize = 13
    /// Smallest encoding of one tensor-table entry: name length (8), dimension count (4),
    /// type (4), offset (8).
    static let minimumTensorInfoSize = 24

    static func parse(
        _ bytes: UnsafeRawBufferPointer, maxMetadataValues: Int = GGUFFile.maxMetadataValues
    ) throws(GGUFError) -> Result {
        var reader = ByteReader(bytes)

        let magicValue = try reader.read(UInt32.self, "magic")
        guard magicValue == magic else { throw .badMagic(magicValue) }
        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }

        let tensorCountOffset = reader.offset
        let rawTensorCount = try reader.read(UInt64.self, "tensor count")
        let keyValueCountOffset = reader.offset
        let rawKeyValueCount = try reader.read(UInt64.self, "metadata key/value count")
        let keyValueCount = try reader.checkedCount(
            rawKeyValueCount, minimumSize: minimumKeyValueSize, countOffset: keyValueCountOffset,
            "metadata key/value count")
        // Tensor infos come after the metadata, so both must fit together.
        let tensorCount = try reader.checkedCount(
            rawTensorCount, minimumSize: minimumTensorInfoSize, countOffset: tensorCountOffset, "tensor count")

        // Metadata.
        var valueBudget = maxMetadataValues
        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        metadata.reserveCapacity(keyValueCount)
        keys.reserveCapacity(keyValueCount)
        for index in 0..<keyValueCount {
            let key = try reader.readString("metadata key #\(index)", strict: true)
            let typeOffset = reader.offset
            let rawType = try reader.read(UInt32.self, "value type of metadata key '\(key)'")
            let value = try readValue(
                &reader, rawType: rawType, typeOffset: typeOffset, key: key, depth: 0, budget: &valueBudget)
            guard metadata.updateValue(value, forKey: key) == nil else { throw .duplicateKey(key) }
            keys.append(key)
        }

        // Alignment.
        var alignment = defaultAlignment
        if let value = metadata["general.alignment"] {
            let raw: UInt64
            switch value {
            case .uint8(let v): raw = UInt64(v)
            case .uint16(let v): raw = UInt64(v)
            case .uint32(let v): raw = UInt64(v)
            case .uint64(let v): raw = v
            case .int8(let v): raw = UInt64(bitPattern: Int64(v))
            case .int16(let v): raw = UInt64(bitPattern: Int64(v))
            case .int32(let v): raw = UInt64(bitPattern: Int64(v))
            case .int64(let v): raw = UInt64(bitPattern: v)
            default:
                throw .wrongValueType(key: "general.alignment", expected: "UINT32", actual: value.typeName)
            }
            guard raw != 0, raw & (raw - 1) == 0, raw <= UInt64(GGUFFile.maxAlignment) else {
                throw .invalidAlignment(raw)
            }
            alignment = Int(raw)
        }

        // Tensor table (checked against the remaining bytes now that metadata is consumed).
        _ = try reader.checkedCount(
            rawTensorCount, minimumSize: minimumTensorInfoSize, countOffset: tensorCountOffset, "tensor count")
        struct PendingTensor {
            var name: String
            var dimensions: [Int]
            var type: GGMLType
            var relativeOffset: UInt64
            var byteCount: Int
        }
        var pending: [PendingTensor] = []
        pending.reserveCapacity(tensorCount)
        var names = Set<String>()
        names.reserveCapacity(tensorCount)
        for index in 0..<tensorCount {
            let name = try reader.readString("name of tensor #\(index)", strict: true)
            let dimensionCount = try reader.read(UInt32.self, "dimension count of tensor '\(name)'")
            guard dimensionCount <= UInt32(GGUFFile.maxDimensions) else {
                throw .tooManyDimensions(tensor: name, count: dimensionCount)
            }
            var rawDimensions: [UInt64] = []
            rawDimensions.reserveCapacity(Int(dimensionCount))
            for d in 0..<Int(dimensionCount) {
                rawDimensions.append(try reader.read(UInt64.self, "dimension \(d) of tensor '\(name)'"))
            }
            let rawType = try reader.read(UInt32.self, "type of tensor '\(name)'")
            let relativeOffset = try reader.read(UInt64.self, "data offset of tensor '\(name)'")

            guard names.insert(name).inserted else { throw .duplicateTensorName(name) }
            var dimensions: [Int] = []
            dimensions.reserveCapacity(rawDimensions.count)
            var elements = 1
            for (d, raw) in rawDimensions.enumerated() {
                guard let value = Int(exactly: raw) else {
                    throw .invalidDimension(tensor: name, index: d, value: raw)
                }
                let (product, overflow) = elements.multipliedReportingOverflow(by: value)
                guard !overflow else { throw .elementCountOverflow(tensor: name, dimensions: rawDimensions) }
                elements = product
                dimensions.append(value)
            }
            guard let type = GGMLType(rawValue: rawType) else {
                throw .unknownTensorType(tensor: name, rawType: rawType)
            }
            guard type.isSupported else { throw .unsupportedTensorType(tensor: name, type: type) }
            let rowLength = dimensions.first ?? 1
            guard rowLength % type.blockSize == 0 else {
                throw .rowNotWholeBlocks(tensor: name, type: type, rowLength: rowLength)
            }
            guard let byteCount = type.byteCount(elements: elements) else {
                throw .elementCountOverflow(tensor: name, dimensions: rawDimensions)
            }
            guard relativeOffset % UInt64(alignment) == 0 else {
                throw .misalignedTensorOffset(tensor: name, offset: relativeOffset, alignment: alignment)
            }
            pending.append(
                PendingTensor(
                    name: name, dimensions: dimensions, type: type, relativeOffset: relativeOffset, byteCount: byteCount))
        }

        // Data section: starts at the next multiple of the alignment.
        let headerEnd = reader.offset
        let padding = (alignment - headerEnd % alignment) % alignment
        let dataOffset = headerEnd + padding  // headerEnd <= file size, alignment <= 2^16: no overflow
        let fileSize = bytes.count

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(pending.count)
        for tensor in pending {
            let (start, startOverflow) = UInt64(dataOffset).addingReportingOverflow(tensor.relativeOffset)
            let (end, endOverflow) = start.addingReportingOverflow(UInt64(tensor.byteCount))
            guard !startOverflow, !endOverflow, end <= UInt64(fileSize) else {
                throw .tensorOutOfBounds(
                    tensor: tensor.name,
                    start: startOverflow ? UInt64.max : start,
                    end: (startOverflow || endOverflow) ? UInt64.max : end,
                    fileSize: fileSize)
            }
            tensors.append(
                GGUFTensorInfo(
                    name: tensor.name, dimensions: tensor.dimensions, type: tensor.type,
                    offset: Int(start), byteCount: tensor.byteCount))
        }

        return Result(
            version: version, metadata: metadata, metadataKeys: keys, tensors: tensors,
            alignment: alignment, dataOffset: dataOffset)
    }

    /// Reads one metadata value of type `rawType` (whose type field started at `typeOffset`).
    static func readValue(
        _ reader: inout ByteReader, rawType: UInt32, typeOffset: Int, key: String, depth: Int,
        budget: inout Int
    ) throws(GGUFError) -> GGUFValue {
        switch rawType {
        case 0: return .uint8(try reader.read(UInt8.self, "value of key '\(key)'"))
        case 1: return .int8(try reader.read(Int8.self, "value of key '\(key)'"))
        case 2: return .uint16(try reader.read(UInt16.self, "value of key '\(key)'"))
        case 3: return .int16(try reader.read(Int16.self, "value of key '\(key)'"))
        case 4: return .uint32(try reader.read(UInt32.self, "value of key '\(key)'"))
        case 5: return .int32(try reader.read(Int32.self, "value of key '\(key)'"))
        case 6: return .float32(Float(bitPattern: try reader.read(UInt32.self, "value of key '\(key)'")))
        case 7:
            // ggml writes 0 or 1; any nonzero byte is read as true.
            return .bool(try reader.read(UInt8.self, "value of key '\(key)'") != 0)
        case 8: return .string(try reader.readString("string value of key '\(key)'", strict: false))
        case 9:
            guard depth < GGUFFile.maxArrayDepth else {
                throw .arrayNestingTooDeep(key: key, depth: GGUFFile.maxArrayDepth)
            }
            let elementTypeOffset = reader.offset
            let elementType = try reader.read(UInt32.self, "array element type of key '\(key)'")
            guard let minimumSize = minimumValueSize(elementType) else {
                throw .unknownValueType(key: key, rawType: elementType, offset: elementTypeOffset)
            }
            let countOffset = reader.offset
            let rawCount = try reader.read(UInt64.self, "array length of key '\(key)'")
            let count = try reader.checkedCount(
                rawCount, minimumSize: minimumSize, countOffset: countOffset, "array length of key '\(key)'")
            // Each element becomes a boxed value (tens of bytes), so bound the total, not just
            // the per-array count, to keep memory proportional to a sane multiple of the file.
            guard count <= budget else {
                throw .tooManyMetadataValues(key: key)
            }
            budget -= count
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count {
                elements.append(
                    try readValue(
                        &reader, rawType: elementType, typeOffset: elementTypeOffset, key: key, depth: depth + 1,
                        budget: &budget))
            }
            return .array(elements)
        case 10: return .uint64(try reader.read(UInt64.self, "value of key '\(key)'"))
        case 11: return .int64(try reader.read(Int64.self, "value of key '\(key)'"))
        case 12: return .float64(Double(bitPattern: try reader.read(UInt64.self, "value of key '\(key)'")))
        default:
            throw .unknownValueType(key: key, rawType: rawType, offset: typeOffset)
        }
    }

    /// Smallest encoded size of one value of GGUF type `rawType`, or nil for unknown types.
    static func minimumValueSize(_ rawType: UInt32) -> Int? {
        switch rawType {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8: return 8  // length field
        case 9: return 12  // element type + length
        case 10, 11, 12: return 8
        default: return nil
        }
    }
}

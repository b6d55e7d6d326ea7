import Testing

@testable import GGUF

/// A header with the given counts, followed by `rest`.
func header(version: UInt32 = 3, tensors: UInt64, keyValues: UInt64) -> ByteWriter {
    var w = ByteWriter()
    w.bytes += Array("GGUF".utf8)
    w.u32(version)
    w.u64(tensors)
    w.u64(keyValues)
    return w
}

@Test func everyTruncationThrows() throws {
    for version in [UInt32(2), 3] {
        let bytes = sampleFile(version: version, alignment: 64).bytes()
        #expect(parseError(bytes) == nil)
        for length in 0..<bytes.count {
            let error = parseError(Array(bytes[0..<length]))
            guard let error else {
                Issue.record("prefix of length \(length) of \(bytes.count) parsed")
                continue
            }
            switch error {
            case .truncated, .tensorOutOfBounds, .countTooLarge, .stringTooLong: break
            default: Issue.record("prefix \(length): unexpected error \(error)")
            }
        }
    }
}

@Test func truncationNamesWhatWasBeingRead() throws {
    // Few enough pairs that the key/value count check passes on the cut files.
    var small = TestGGUF()
    small.metadata = Array(sampleMetadata[0..<3])
    let bytes = small.bytes()
    // Cut inside the 3rd metadata key string ("t.i8"): header 24 bytes, then the first two pairs.
    var w = ByteWriter()
    w.keyValue(sampleMetadata[0].0, sampleMetadata[0].1)
    w.keyValue(sampleMetadata[1].0, sampleMetadata[1].1)
    let cut = 24 + w.bytes.count + 8 + 2
    let error = parseError(Array(bytes[0..<cut]))
    #expect(error == .stringTooLong(what: "metadata key #2", length: 4, offset: 24 + w.bytes.count, remaining: 2))
    #expect(error?.description.contains("metadata key #2") == true)
    // Cut inside the first value: truncated while reading the value.
    let cutValue = 24 + 8 + "general.architecture".utf8.count + 4 + 3
    var one = TestGGUF()
    one.metadata = [sampleMetadata[0]]
    let valueError = parseError(Array(one.bytes()[0..<cutValue]))
    #expect(
        valueError
            == .truncated(
                what: "length of string value of key 'general.architecture'", offset: cutValue - 3, needed: 8, fileSize: cutValue))
    // Cut in the tensor data.
    let full = sampleFile(version: 3).bytes()
    let dataError = parseError(Array(full.dropLast(1)))
    #expect(
        dataError
            == .tensorOutOfBounds(
                tensor: "h.weight", start: UInt64(full.count - 12), end: UInt64(full.count), fileSize: full.count - 1))
    #expect(dataError?.description.contains("tensor 'h.weight' data [") == true)
    #expect(dataError?.description.contains("extends past end of file (size \(full.count - 1))") == true)
}

@Test func badMagic() {
    var spec = sampleFile(version: 3)
    spec.magic = Array("GGML".utf8)
    #expect(parseError(spec.bytes()) == .badMagic(0x4C4D_4747))
    #expect(parseError(Array("GGU".utf8)) == .truncated(what: "magic", offset: 0, needed: 4, fileSize: 3))
}

@Test(arguments: [UInt32(0), 1, 4, 99, 0x0300_0000])
func unsupportedVersions(version: UInt32) {
    var spec = sampleFile(version: 3)
    spec.version = version
    let error = parseError(spec.bytes())
    #expect(error == .unsupportedVersion(version))
    #expect(error?.description.contains("version \(version)") == true)
}

@Test func version1ErrorNamesIt() {
    let error = parseError(header(version: 1, tensors: 0, keyValues: 0).bytes)
    #expect(error?.description.contains("GGUF version 1 is not supported") == true)
}

@Test func hugeCounts() {
    // Tensor count 2^62.
    let tensors = parseError(header(tensors: 1 << 62, keyValues: 0).bytes + [UInt8](repeating: 0, count: 100))
    #expect(tensors == .countTooLarge(what: "tensor count", count: 1 << 62, offset: 8, remaining: 100))
    #expect(tensors?.description.contains("tensor count 4611686018427387904") == true)
    // Key/value count.
    #expect(
        parseError(header(tensors: 0, keyValues: UInt64.max).bytes)
            == .countTooLarge(what: "metadata key/value count", count: UInt64.max, offset: 16, remaining: 0))
    // Tensor count that fits the file only if metadata took no space.
    var spec = sampleFile(version: 3)
    spec.tensorCount = UInt64(spec.bytes().count / 24)
    if case .countTooLarge(let what, _, _, _)? = parseError(spec.bytes()) {
        #expect(what == "tensor count")
    } else {
        Issue.record("expected countTooLarge, got \(String(describing: parseError(spec.bytes())))")
    }
    // String length 2^60.
    var w = header(tensors: 0, keyValues: 1)
    w.u64(1 << 60)
    w.bytes += Array("key".utf8) + [UInt8](repeating: 0, count: 20)
    let string = parseError(w.bytes)
    #expect(string == .stringTooLong(what: "metadata key #0", length: 1 << 60, offset: 24, remaining: 23))
    #expect(string?.description.contains("string length 1152921504606846976") == true)
    // Array length: 2^40 UINT32 elements, and 2^61 strings.
    for (elementType, count) in [(UInt32(4), UInt64(1) << 40), (8, 1 << 61), (9, 1 << 50)] {
        var a = header(tensors: 0, keyValues: 1)
        a.string("arr"); a.u32(9); a.u32(elementType); a.u64(count)
        a.bytes += [UInt8](repeating: 0, count: 64)
        let error = parseError(a.bytes)
        #expect(error == .countTooLarge(what: "array length of key 'arr'", count: count, offset: 24 + 11 + 8, remaining: 64))
    }
}

@Test func unknownValueTypes() {
    var w = header(tensors: 0, keyValues: 1)
    w.string("x"); w.u32(99); w.u64(0)
    let error = parseError(w.bytes)
    #expect(error == .unknownValueType(key: "x", rawType: 99, offset: 24 + 9))
    #expect(error?.description.contains("unknown metadata value type 99 for key 'x'") == true)
    // Unknown array element type.
    var a = header(tensors: 0, keyValues: 1)
    a.string("arr"); a.u32(9); a.u32(13); a.u64(1); a.u64(0)
    #expect(parseError(a.bytes) == .unknownValueType(key: "arr", rawType: 13, offset: 24 + 11 + 4))
}

@Test func nestingDepthIsCapped() {
    var w = header(tensors: 0, keyValues: 1)
    w.string("deep"); w.u32(9)
    for _ in 0..<1000 { w.u32(9); w.u64(1) }
    w.u32(0); w.u64(0)
    #expect(parseError(w.bytes) == .arrayNestingTooDeep(key: "deep", depth: GGUFFile.maxArrayDepth))
    // Depth at the limit is fine.
    var ok = header(tensors: 0, keyValues: 1)
    ok.string("deep"); ok.u32(9)
    for _ in 0..<(GGUFFile.maxArrayDepth - 1) { ok.u32(9); ok.u64(1) }
    ok.u32(0); ok.u64(0)
    #expect(parseError(ok.bytes) == nil)
}

@Test func duplicates() {
    var spec = sampleFile(version: 3)
    spec.metadata.append(("t.u8", .uint8(1)))
    #expect(parseError(spec.bytes()) == .duplicateKey("t.u8"))
    var tensors = sampleFile(version: 3)
    tensors.tensors[3].name = "norm.weight"
    #expect(parseError(tensors.bytes()) == .duplicateTensorName("norm.weight"))
}

@Test func invalidUTF8KeyAndTensorName() {
    var w = header(tensors: 0, keyValues: 1)
    w.rawString([0x6B, 0xC3]); w.u32(0); w.u8(0)
    #expect(parseError(w.bytes) == .invalidUTF8(what: "metadata key #0", offset: 32))
    var t = header(tensors: 1, keyValues: 0)
    t.rawString([0xFF]); t.u32(1); t.u64(1); t.u32(0); t.u64(0)
    t.pad(to: 32); t.bytes += [0, 0, 0, 0]
    #expect(parseError(t.bytes) == .invalidUTF8(what: "name of tensor #0", offset: 32))
}

@Test(arguments: [
    (GGUFValue.uint32(0), UInt64(0)), (.uint32(48), 48), (.uint32(1 << 20), 1 << 20), (.int32(-32), UInt64(bitPattern: -32))
])
func invalidAlignment(value: GGUFValue, raw: UInt64) {
    var spec = sampleFile(version: 3)
    spec.metadata.append(("general.alignment", value))
    let error = parseError(spec.bytes())
    #expect(error == .invalidAlignment(raw))
}

@Test func alignmentOfWrongType() {
    var spec = sampleFile(version: 3)
    spec.metadata.append(("general.alignment", .string("32")))
    #expect(parseError(spec.bytes()) == .wrongValueType(key: "general.alignment", expected: "UINT32", actual: "STRING"))
}

@Test func badTensorOffsets() {
    // Unaligned.
    var unaligned = sampleFile(version: 3)
    unaligned.tensors[1].offset = 33
    #expect(parseError(unaligned.bytes()) == .misalignedTensorOffset(tensor: "blk.0.attn_q.weight", offset: 33, alignment: 32))
    // Past the end.
    var past = sampleFile(version: 3)
    past.tensors[0].offset = 1 << 20
    let bytes = past.bytes()
    guard case .tensorOutOfBounds(let name, _, let end, let size)? = parseError(bytes) else {
        Issue.record("expected tensorOutOfBounds, got \(String(describing: parseError(bytes)))")
        return
    }
    #expect(name == "norm.weight" && size == bytes.count && end > UInt64(size))
    // Offset so large that start + size overflows.
    var overflow = sampleFile(version: 3)
    overflow.tensors[0].offset = UInt64.max - 31
    guard case .tensorOutOfBounds(let name2, _, let end2, _)? = parseError(overflow.bytes()) else {
        Issue.record("expected tensorOutOfBounds")
        return
    }
    #expect(name2 == "norm.weight" && end2 == UInt64.max)
}

@Test func tensorTypes() {
    var unknown = sampleFile(version: 3)
    unknown.tensors[0].type = 1234
    let error = parseError(unknown.bytes())
    #expect(error == .unknownTensorType(tensor: "norm.weight", rawType: 1234))
    #expect(error?.description.contains("1234") == true)
    for type in GGMLType.allCases where !type.isSupported {
        var spec = sampleFile(version: 3)
        spec.tensors[2].type = type.rawValue  // k.weight: 256 elements, fine for any block size
        let error = parseError(spec.bytes())
        #expect(error == .unsupportedTensorType(tensor: "k.weight", type: type))
        #expect(error?.description.contains("unsupported type \(type)") == true)
    }
    #expect(GGUFError.unsupportedTensorType(tensor: "x", type: .iq2_xxs).description == "tensor 'x' has unsupported type IQ2_XXS")
}

@Test func tooManyDimensions() {
    var spec = sampleFile(version: 3)
    spec.tensors[0].dimensions = [5, 1, 1, 1, 1, 1, 1, 1, 1]
    let error = parseError(spec.bytes())
    #expect(error == .tooManyDimensions(tensor: "norm.weight", count: 9))
    #expect(error?.description.contains("dimension count 9 > 4") == true)
}

@Test func elementCountOverflow() {
    var spec = sampleFile(version: 3)
    spec.tensors[0].dimensions = [1 << 32, 1 << 32]
    #expect(parseError(spec.bytes()) == .elementCountOverflow(tensor: "norm.weight", dimensions: [1 << 32, 1 << 32]))
    // Elements fit in Int but bytes do not.
    var bytes = sampleFile(version: 3)
    bytes.tensors[0].dimensions = [1 << 62]
    #expect(parseError(bytes.bytes()) == .elementCountOverflow(tensor: "norm.weight", dimensions: [1 << 62]))
    // A dimension that does not fit Int.
    var dim = sampleFile(version: 3)
    dim.tensors[0].dimensions = [UInt64.max]
    #expect(parseError(dim.bytes()) == .invalidDimension(tensor: "norm.weight", index: 0, value: UInt64.max))
}

@Test func rowNotWholeBlocks() {
    var spec = sampleFile(version: 3)
    spec.tensors[1].dimensions = [16, 4]
    #expect(parseError(spec.bytes()) == .rowNotWholeBlocks(tensor: "blk.0.attn_q.weight", type: .q8_0, rowLength: 16))
}

/// Dequantizes `count` elements of `type` from `bytes` through the checked entry point.
func dequantizeBytes(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> [Float] {
    try bytes.withUnsafeBytes { try dequantize(type, bytes: $0, count: count) }
}

@Test func dequantizeChecksItsArguments() throws {
    #expect(throws: GGUFError.countNotWholeBlocks(type: .q8_0, count: 31)) {
        try dequantizeBytes(.q8_0, q8Block, count: 31)
    }
    #expect(throws: GGUFError.bufferTooSmall(type: .q8_0, count: 64, needed: 68, available: 34)) {
        try dequantizeBytes(.q8_0, q8Block, count: 64)
    }
    #expect(throws: GGUFError.unsupportedDequantization(.q2_K)) {
        try dequantizeBytes(.q2_K, q8Block, count: 256)
    }
    #expect(try dequantizeBytes(.q8_0, q8Block, count: 0) == [])
    #expect(try dequantizeBytes(.q8_0, q8Block, count: 32) == (-16..<16).map { Float($0) * 0.5 })
}

@Test func totalMetadataElementsAreCapped() throws {
    // Two UINT8 arrays of 60 elements: each fits the file, together they exceed a budget of 100.
    var w = header(tensors: 0, keyValues: 2)
    for key in ["a", "b"] {
        w.string(key); w.u32(9); w.u32(0); w.u64(60)
        w.bytes += [UInt8](repeating: 7, count: 60)
    }
    #expect(parseError(w.bytes) == nil)  // under the real limit
    #expect(throws: GGUFError.tooManyMetadataValues(key: "b")) {
        try w.bytes.withUnsafeBytes { _ = try GGUFParser.parse($0, maxMetadataValues: 100) }
    }
    #expect(throws: Never.self) {
        try w.bytes.withUnsafeBytes { _ = try GGUFParser.parse($0, maxMetadataValues: 120) }
    }
}

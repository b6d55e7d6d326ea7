import Testing

@testable import GGUF

/// Every metadata value type, including nested arrays and an empty array.
let sampleMetadata: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")),
    ("t.u8", .uint8(200)),
    ("t.i8", .int8(-100)),
    ("t.u16", .uint16(60000)),
    ("t.i16", .int16(-30000)),
    ("t.u32", .uint32(4_000_000_000)),
    ("t.i32", .int32(-2_000_000_000)),
    ("t.u64", .uint64(UInt64.max)),
    ("t.i64", .int64(Int64.min)),
    ("t.f32", .float32(1.5)),
    ("t.f64", .float64(-2.25e300)),
    ("t.bool", .bool(true)),
    ("t.string", .string("héllo ✓ 🦙")),
    ("t.empty_string", .string("")),
    ("t.strings", .array([.string("a"), .string("bc"), .string("")])),
    ("t.ints", .array([.int32(1), .int32(-2), .int32(3)])),
    ("t.floats", .array([.float32(0.5), .float32(-1)])),
    ("t.nested", .array([.array([.uint16(1), .uint16(2)]), .array([.uint16(3)])])),
    ("t.nested3", .array([.array([.array([.string("deep")])])])),
    ("t.empty", .array([]))
]

/// Q8_0 block: d = 0.5 (f16 0x3800), qs = -16...15.
let q8Block: [UInt8] = [0x00, 0x38] + (-16..<16).map { UInt8(bitPattern: Int8($0)) }

func sampleFile(version: UInt32, alignment: Int? = nil) -> TestGGUF {
    var file = TestGGUF()
    file.version = version
    file.metadata = sampleMetadata
    if let alignment {
        file.metadata.append(("general.alignment", .uint32(UInt32(alignment))))
        file.layoutAlignment = alignment
    }
    file.tensors = [
        TestTensor("norm.weight", [5], .f32, data: f32Bytes([1, -2, 3.5, 0, 1e-3])),
        TestTensor("blk.0.attn_q.weight", [32, 2], .q8_0, data: q8Block + q8Block),
        TestTensor("k.weight", [256], .q4_K, data: [UInt8](repeating: 0, count: 144)),
        TestTensor("h.weight", [3, 2], .f16, data: [0x00, 0x3C, 0x00, 0x40, 0x00, 0xC2, 0, 0, 0, 0, 0, 0])
    ]
    return file
}

@Test(arguments: [UInt32(2), 3])
func parsesEveryValueTypeAndTensor(version: UInt32) throws {
    let spec = sampleFile(version: version)
    let bytes = spec.bytes()
    let file = try GGUFFile(bytes: bytes)
    #expect(file.version == version)
    #expect(file.fileSize == bytes.count)
    #expect(file.alignment == 32)
    #expect(file.metadataKeys == sampleMetadata.map(\.0))
    #expect(file.metadata.count == sampleMetadata.count)
    for (key, value) in sampleMetadata {
        #expect(file.metadata[key] == value, "key \(key)")
    }
    #expect(file.architecture == "llama")

    // Accessors.
    #expect(file["t.u8"]?.int == 200)
    #expect(file["t.i64"]?.int == Int(Int64.min))
    #expect(file["t.u64"]?.int == nil)  // UInt64.max does not fit in Int
    #expect(file["t.u64"]?.float == Double(UInt64.max))
    #expect(file["t.bool"]?.int == nil)
    #expect(file["t.bool"]?.bool == true)
    #expect(file["t.f32"]?.float == 1.5)
    #expect(file["t.u32"]?.float == 4_000_000_000)
    #expect(file["t.string"]?.string == "héllo ✓ 🦙")
    #expect(file["t.strings"]?.strings == ["a", "bc", ""])
    #expect(file["t.ints"]?.ints == [1, -2, 3])
    #expect(file["t.ints"]?.strings == nil)
    #expect(file["t.floats"]?.floats == [0.5, -1])
    #expect(file["t.ints"]?.floats == [1, -2, 3])
    #expect(file["t.nested"]?.array?.count == 2)
    #expect(file["t.nested"]?.array?[0].ints == [1, 2])
    #expect(file["t.nested"]?.ints == nil)
    #expect(file["t.empty"]?.array == [])
    #expect(file["t.string"]?.array == nil)

    // Tensor table.
    #expect(file.tensors.map(\.name) == ["norm.weight", "blk.0.attn_q.weight", "k.weight", "h.weight"])
    let offsets = spec.automaticOffsets
    let dataStart = file.dataOffset
    #expect(dataStart % 32 == 0)
    #expect(dataStart + Int(offsets.last ?? 0) + 12 == bytes.count)
    for (i, tensor) in file.tensors.enumerated() {
        #expect(tensor.offset == dataStart + Int(offsets[i]))
        #expect(tensor.offset % 32 == 0)
        #expect(Array(file.bytes(of: tensor)) == spec.tensors[i].data)
    }
    let q = try #require(file.tensor(named: "blk.0.attn_q.weight"))
    #expect(q.type == .q8_0)
    #expect(q.dimensions == [32, 2])
    #expect(q.elementCount == 64)
    #expect(q.rowLength == 32 && q.rowCount == 2)
    #expect(q.byteCount == 68)
    #expect(file.tensor(named: "missing") == nil)

    let qValues = try dequantize(q.type, bytes: file.bytes(of: q), count: q.elementCount)
    let oneBlock = (-16..<16).map { Float($0) * 0.5 }
    #expect(qValues == oneBlock + oneBlock)

    let norm = try #require(file.tensor(named: "norm.weight"))
    #expect(try dequantize(.f32, bytes: file.bytes(of: norm), count: 5) == [1, -2, 3.5, 0, 1e-3])
    let half = try #require(file.tensor(named: "h.weight"))
    #expect(half.elementCount == 6 && half.byteCount == 12)
    #expect(try dequantize(.f16, bytes: file.bytes(of: half), count: 6) == [1, 2, -3, 0, 0, 0])
    let k = try #require(file.tensor(named: "k.weight"))
    #expect(try dequantize(.q4_K, bytes: file.bytes(of: k), count: 256) == [Float](repeating: 0, count: 256))
}

@Test func customAlignmentLaysOutData() throws {
    let spec = sampleFile(version: 3, alignment: 256)
    let file = try GGUFFile(bytes: spec.bytes())
    #expect(file.alignment == 256)
    #expect(file.dataOffset % 256 == 0)
    for (i, tensor) in file.tensors.enumerated() {
        #expect(tensor.offset % 256 == 0)
        #expect(Array(file.bytes(of: tensor)) == spec.tensors[i].data)
    }
}

@Test func metadataOnlyFile() throws {
    var spec = TestGGUF()
    spec.metadata = [("general.architecture", .string("gpt2"))]
    let file = try GGUFFile(bytes: spec.bytes())
    #expect(file.tensors.isEmpty)
    #expect(file.architecture == "gpt2")
}

@Test func zeroDimensionTensorIsScalar() throws {
    var spec = TestGGUF()
    spec.tensors = [TestTensor("scalar", [], .f32, data: f32Bytes([4.25]))]
    let file = try GGUFFile(bytes: spec.bytes())
    let t = try #require(file.tensor(named: "scalar"))
    #expect(t.dimensions.isEmpty && t.elementCount == 1 && t.byteCount == 4)
    #expect(try dequantize(.f32, bytes: file.bytes(of: t), count: 1) == [4.25])
}

@Test func invalidUTF8StringValueIsDecodedLossily() throws {
    var w = ByteWriter()
    w.bytes += Array("GGUF".utf8)
    w.u32(3); w.u64(0); w.u64(1)
    w.string("bad.value"); w.u32(8); w.rawString([0x61, 0xFF, 0x62])
    let file = try GGUFFile(bytes: w.bytes)
    #expect(file["bad.value"]?.string == "a\u{FFFD}b")
}

@Test func opensFromPathAndReportsMissingFile() throws {
    let path = "/tmp/tandem-gguf-test-\(UInt32.random(in: 0...UInt32.max)).gguf"
    let bytes = sampleFile(version: 3).bytes()
    try writeFile(path, bytes)
    defer { removeFile(path) }
    let file = try GGUFFile(path: path)
    #expect(file.fileSize == bytes.count)
    #expect(file.tensors.count == 4)
    let norm = try #require(file.tensor(named: "norm.weight"))
    #expect(try dequantize(.f32, bytes: file.bytes(of: norm), count: 5) == [1, -2, 3.5, 0, 1e-3])

    #expect(throws: GGUFError.self) { try GGUFFile(path: path + ".missing") }
    do {
        _ = try GGUFFile(path: path + ".missing")
    } catch let error as GGUFError {
        guard case .cannotOpen(let p, _) = error else { Issue.record("unexpected \(error)"); return }
        #expect(p == path + ".missing")
        #expect(error.description.contains("No such file"))
    }
    // A directory is not a regular file.
    #expect(throws: GGUFError.self) { try GGUFFile(path: "/tmp") }
    // An empty file is truncated, not a mmap failure.
    let empty = path + ".empty"
    try writeFile(empty, [])
    defer { removeFile(empty) }
    do {
        _ = try GGUFFile(path: empty)
        Issue.record("empty file parsed")
    } catch let error as GGUFError {
        guard case .truncated(let what, 0, 4, 0) = error else { Issue.record("unexpected \(error)"); return }
        #expect(what == "magic")
    }
}

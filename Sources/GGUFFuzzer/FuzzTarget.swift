import GGUF

/// Parses one input as a GGUF file and exercises everything a well-formed result offers:
/// metadata accessors, every tensor's bytes, and dequantization of a prefix of each tensor.
/// Any input must either parse or throw a `GGUFError`; crashes and hangs are bugs.
func exercise(_ data: [UInt8]) {
    let file: GGUFFile
    do {
        file = try GGUFFile(bytes: data)
    } catch {
        _ = String(describing: error)
        return
    }
    var sink = 0
    for key in file.metadataKeys {
        guard let value = file.metadata[key] else { fatalError("metadataKeys lists '\(key)' but metadata lacks it") }
        sink &+= value.int ?? 0
        sink &+= value.strings?.count ?? 0
        sink &+= value.ints?.count ?? 0
        sink &+= value.floats?.count ?? 0
    }
    guard file.metadataKeys.count == file.metadata.count else { fatalError("metadata key count mismatch") }
    sink &+= file.architecture?.utf8.count ?? 0
    var scratch = [Float](repeating: 0, count: 512)
    for tensor in file.tensors {
        guard file.tensor(named: tensor.name) == tensor else { fatalError("tensor(named:) mismatch for '\(tensor.name)'") }
        let bytes = file.bytes(of: tensor)
        guard bytes.count == tensor.byteCount, tensor.offset + tensor.byteCount <= file.fileSize,
            tensor.offset % file.alignment == 0 || file.dataOffset % file.alignment != 0
        else {
            fatalError("tensor '\(tensor.name)' bytes out of range")
        }
        for byte in bytes { sink &+= Int(byte) }
        // Dequantize up to two blocks (at most 512 elements) from the start of the tensor.
        let blocks = min(2, tensor.elementCount / tensor.type.blockSize)
        let count = blocks * tensor.type.blockSize
        if count > 0 {
            do {
                let values = try dequantize(tensor.type, bytes: bytes, count: count)
                for value in values where value.isNaN { sink &+= 1 }
            } catch {
                fatalError("dequantize of '\(tensor.name)' failed: \(error)")
            }
            scratch.withUnsafeMutableBufferPointer { out in
                if let source = bytes.baseAddress, let destination = out.baseAddress {
                    dequantize(tensor.type, from: source, count: count, into: destination)
                }
            }
        }
    }
    if sink == 42_424_242 { print("") }  // keep the work observable
}

/// libFuzzer entry point.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes: [UInt8] = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    exercise(bytes)
    return 0
}

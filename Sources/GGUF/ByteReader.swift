/// A bounds-checked little-endian cursor over untrusted bytes.
///
/// Every read first checks that the bytes exist; failures throw `GGUFError.truncated` naming
/// what was being read (the description is built only on failure).
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// Bytes left after the cursor.
    var remaining: Int { bytes.count - offset }

    /// Throws unless `count` more bytes exist.
    @inline(__always)
    func require(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
        guard count >= 0, count <= remaining else {
            throw .truncated(what: what(), offset: offset, needed: count, fileSize: bytes.count)
        }
    }

    @inline(__always)
    mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
        let size = MemoryLayout<T>.size
        try require(size, what())
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += size
        return T(littleEndian: value)
    }

    /// Reads `count` raw bytes (already known to be present) and advances.
    @inline(__always)
    mutating func slice(_ count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> UnsafeRawBufferPointer {
        try require(count, what())
        let start = bytes.baseAddress.map { $0 + offset }
        offset += count
        return UnsafeRawBufferPointer(start: start, count: count)
    }

    /// Reads a GGUF string: a u64 length, then that many bytes.
    /// - Parameter strict: if true, invalid UTF-8 is an error; otherwise it is decoded lossily.
    mutating func readString(_ what: @autoclosure () -> String, strict: Bool) throws(GGUFError) -> String {
        let lengthOffset = offset
        let length = try read(UInt64.self, "length of " + what())
        guard length <= UInt64(remaining) else {
            throw .stringTooLong(what: what(), length: length, offset: lengthOffset, remaining: remaining)
        }
        let start = offset
        let raw = try slice(Int(length), what())
        if strict {
            guard let text = String(validating: raw, as: UTF8.self) else {
                throw .invalidUTF8(what: what(), offset: start)
            }
            return text
        }
        return String(decoding: raw, as: UTF8.self)
    }

    /// Checks that `count` items of at least `minimumSize` bytes each can fit in the remaining
    /// bytes, and returns the count as `Int`.
    func checkedCount(_ count: UInt64, minimumSize: Int, countOffset: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> Int {
        let limit = UInt64(remaining / max(minimumSize, 1))
        guard count <= limit else {
            throw .countTooLarge(what: what(), count: count, offset: countOffset, remaining: remaining)
        }
        return Int(count)
    }
}

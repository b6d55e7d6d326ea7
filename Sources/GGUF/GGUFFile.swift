/// A parsed GGUF file: header, metadata, and the tensor table, over a read-only memory map
/// (or an owned in-memory copy).
///
/// The file is treated as untrusted: every count, length, offset and size is checked before use,
/// and anything wrong is reported as a `GGUFError` naming the problem. Tensor data is not copied;
/// `bytes(of:)` returns a view into the mapping, valid while this object lives.
///
/// String handling: metadata keys and tensor names must be valid UTF-8 (error otherwise); string
/// *values* are decoded lossily (invalid sequences become U+FFFD), because some converters write
/// raw byte tokens into vocabularies and rejecting the whole model for that would be unhelpful.
public final class GGUFFile: Sendable {
    /// The largest `general.alignment` accepted.
    public static let maxAlignment = 1 << 16
    /// The deepest nesting of arrays accepted in metadata (an array of arrays is depth 2).
    public static let maxArrayDepth = 8
    /// The most array elements (over all metadata arrays together) accepted; real vocabularies
    /// need about a million (tokens, scores, types, merges of a 256k vocabulary).
    public static let maxMetadataValues = 1 << 23
    /// The most dimensions a tensor may have (ggml's GGML_MAX_DIMS).
    public static let maxDimensions = 4

    /// The GGUF version (2 or 3).
    public let version: UInt32
    /// All metadata key/value pairs.
    public let metadata: [String: GGUFValue]
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// The tensor table in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment: `general.alignment`, or 32 when absent.
    public let alignment: Int
    /// Size of the file in bytes.
    public let fileSize: Int
    /// Absolute offset of the (aligned) start of the tensor data section.
    public let dataOffset: Int

    private let storage: FileStorage
    private let tensorIndex: [String: Int]

    /// Memory-maps (PROT_READ, MAP_PRIVATE) and parses the file at `path`.
    public convenience init(path: String) throws {
        try self.init(storage: FileStorage(mapping: path))
    }

    /// Parses an in-memory copy of `bytes` (for tests and fuzzing).
    public convenience init(bytes: [UInt8]) throws {
        try self.init(storage: FileStorage(copying: bytes))
    }

    private init(storage: FileStorage) throws(GGUFError) {
        self.storage = storage
        let parsed = try GGUFParser.parse(storage.buffer)
        version = parsed.version
        metadata = parsed.metadata
        metadataKeys = parsed.metadataKeys
        tensors = parsed.tensors
        alignment = parsed.alignment
        fileSize = storage.count
        dataOffset = parsed.dataOffset
        var index: [String: Int] = [:]
        index.reserveCapacity(parsed.tensors.count)
        for (position, tensor) in parsed.tensors.enumerated() {
            index[tensor.name] = position
        }
        tensorIndex = index
    }

    /// The tensor called `named`, if any.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The data bytes of `tensor`, a view into the file valid while this `GGUFFile` lives.
    ///
    /// `tensor` should come from this file's table; any other range is clamped to the file.
    public func bytes(of tensor: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        let start = min(max(tensor.offset, 0), storage.count)
        let count = min(max(tensor.byteCount, 0), storage.count - start)
        return UnsafeRawBufferPointer(start: storage.base + start, count: count)
    }

    /// Drops the resident pages wholly inside `bytes` (a range of this file's tensor data, as `bytes(of:)`
    /// gives; anything outside the file is ignored), as `releasePages(of:)` does for a whole tensor: for
    /// a loader that releases a tensor's rows as it copies them.
    public func releasePages(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress else { return }
        let offset = start - storage.base
        guard offset >= 0, offset < storage.count else { return }
        storage.releasePages(offset..<(offset + min(bytes.count, storage.count - offset)))
    }

    /// Drops the resident pages of `tensor`'s data from memory (for a tensor that was copied into
    /// another layout); reading the tensor again stays valid and faults the pages back in.
    public func releasePages(of tensor: GGUFTensorInfo) {
        let start = min(max(tensor.offset, 0), storage.count)
        storage.releasePages(start..<(start + min(max(tensor.byteCount, 0), storage.count - start)))
    }

    /// `general.architecture`, e.g. `llama`.
    public var architecture: String? {
        metadata["general.architecture"]?.string
    }

    /// Metadata value for `key`, if present.
    public subscript(key: String) -> GGUFValue? {
        metadata[key]
    }
}

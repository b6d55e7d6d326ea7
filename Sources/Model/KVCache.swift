/// Paged key/value memory for every layer of a model.
///
/// The cache is a pool of `blockCount` blocks of `blockSize` token slots. A slot holds one token's
/// keys (kvWidth values) in the key pool and its values in the value pool of each layer. Which
/// blocks belong to which sequence is decided outside (block tables); the cache only stores.
public final class KVCache: @unchecked Sendable {
    /// Storage type of cached keys and values.
    public enum Precision: String, Sendable, CaseIterable {
        case f32, f16
        public var bytes: Int { self == .f32 ? 4 : 2 }
    }

    public let layerCount: Int
    public let kvWidth: Int
    public let blockSize: Int
    public let blockCount: Int
    public let precision: Precision
    private let storage: UnsafeMutableRawPointer
    private let layerBytes: Int

    /// Bytes one token occupies across all layers (keys and values).
    public static func bytesPerToken(layerCount: Int, kvWidth: Int, precision: Precision) -> Int {
        2 * layerCount * kvWidth * precision.bytes
    }

    public init(layerCount: Int, kvWidth: Int, blockSize: Int, blockCount: Int, precision: Precision) {
        precondition(layerCount > 0 && kvWidth > 0 && blockSize > 0 && blockCount > 0)
        self.layerCount = layerCount
        self.kvWidth = kvWidth
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.precision = precision
        layerBytes = blockCount * blockSize * kvWidth * precision.bytes
        storage = UnsafeMutableRawPointer.allocate(byteCount: 2 * layerCount * layerBytes, alignment: 64)
    }

    deinit { storage.deallocate() }

    /// Total token slots.
    public var capacity: Int { blockCount * blockSize }

    /// Total bytes of key and value memory.
    public var byteCount: Int { 2 * layerCount * layerBytes }

    /// The key pool of `layer`: `capacity` slots of `kvWidth` elements.
    public func keys(layer: Int) -> UnsafeMutableRawPointer { storage + (2 * layer) * layerBytes }

    /// The value pool of `layer`.
    public func values(layer: Int) -> UnsafeMutableRawPointer { storage + (2 * layer + 1) * layerBytes }
}

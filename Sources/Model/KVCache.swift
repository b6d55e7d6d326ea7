import Kernels

/// Paged key/value memory for every layer of a model.
///
/// The cache is a pool of `blockCount` blocks of `blockSize` token slots. A slot holds one token's
/// keys (kvWidth values) in the key pool and its values in the value pool of each layer. Which
/// blocks belong to which sequence is decided outside (block tables); the cache only stores.
///
/// `@unchecked Sendable`: its pools are written only inside `LlamaModel.forward`, which is serialized, and
/// the worker pool's jobs write disjoint slots.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let kvWidth: Int
    public let blockSize: Int
    public let blockCount: Int
    public let precision: KVElementType
    public let kvHeadCount: Int
    public let headDimension: Int
    private let buffer: HugePageBuffer
    private var storage: UnsafeMutableRawPointer { buffer.base }
    private let layerBytes: Int

    /// Bytes one token occupies across all layers (keys and values).
    public static func bytesPerToken(layerCount: Int, kvWidth: Int, precision: KVElementType) -> Int {
        2 * layerCount * precision.rowBytes(kvWidth)
    }

    public init(
        layerCount: Int, kvHeadCount: Int, headDimension: Int, blockSize: Int, blockCount: Int,
        precision: KVElementType
    ) {
        precondition(layerCount > 0 && kvHeadCount > 0 && headDimension > 0 && blockSize > 0 && blockCount > 0)
        precondition(headDimension % precision.blockElements == 0, "the head size is not a multiple of the KV element's block")
        self.layerCount = layerCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.kvWidth = kvHeadCount * headDimension
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.precision = precision
        layerBytes = blockCount * blockSize * kvHeadCount * precision.rowBytes(headDimension)
        buffer = HugePageBuffer(byteCount: 2 * layerCount * layerBytes)
    }

    /// Total token slots.
    public var capacity: Int { blockCount * blockSize }

    /// Total bytes of key and value memory.
    public var byteCount: Int { 2 * layerCount * layerBytes }

    /// The key and value pools of `layer`, as the attention kernels see them.
    public func layer(_ index: Int) -> PagedKVLayer {
        PagedKVLayer(
            keys: storage + (2 * index) * layerBytes, values: storage + (2 * index + 1) * layerBytes,
            blockSize: blockSize, kvHeads: kvHeadCount, headDim: headDimension, elementType: precision)
    }
}

import Kernels

/// Paged key/value memory for every layer of a model.
///
/// The cache is a pool of `blockCount` blocks of `blockSize` token slots. A slot holds one token's
/// keys (kvWidth values) in the key pool and its values in the value pool of each layer. Which
/// blocks belong to which sequence is decided outside (block tables); the cache only stores.
///
/// A model that interleaves sliding-window ("local") layers with global ones (Gemma 2/3) may keep
/// its local layers in a second pool of `localBlockCount` blocks (`isSplit`): a sequence then has a
/// second block table for them, which needs blocks only for the window, so that pool can be much
/// smaller than the global one.
///
/// `@unchecked Sendable`: its pools are written only inside `LlamaModel.forward`, which is serialized, and
/// the worker pool's jobs write disjoint slots.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let kvWidth: Int
    public let blockSize: Int
    /// Blocks of the pool every layer uses, or only the global layers when the cache is split.
    public let blockCount: Int
    /// Blocks of the local layers' own pool; nil when the cache is not split.
    public let localBlockCount: Int?
    /// Per layer, whether it lives in the local pool (all false unless split).
    public let localLayers: [Bool]
    public let precision: KVElementType
    public let kvHeadCount: Int
    public let headDimension: Int
    private let buffer: HugePageBuffer
    private var storage: UnsafeMutableRawPointer { buffer.base }
    /// Per layer, the byte offset of its keys and the bytes of its key (or value) pool.
    private let layerOffsets: [Int]
    private let layerBytes: [Int]

    /// Bytes one token occupies across all layers (keys and values).
    public static func bytesPerToken(layerCount: Int, kvWidth: Int, precision: KVElementType) -> Int {
        2 * layerCount * precision.rowBytes(kvWidth)
    }

    /// A cache of `blockCount` blocks for every layer or, with `localBlockCount`, of `blockCount`
    /// blocks for the layers `localLayers` does not mark and `localBlockCount` for those it marks.
    public init(
        layerCount: Int, kvHeadCount: Int, headDimension: Int, blockSize: Int, blockCount: Int,
        precision: KVElementType, localLayers: [Bool] = [], localBlockCount: Int? = nil
    ) {
        precondition(layerCount > 0 && kvHeadCount > 0 && headDimension > 0 && blockSize > 0 && blockCount > 0)
        precondition(headDimension % precision.blockElements == 0, "the head size is not a multiple of the KV element's block")
        precondition(localBlockCount.map { $0 > 0 && localLayers.count == layerCount } ?? true, "a split cache needs its local layers")
        self.layerCount = layerCount
        self.kvHeadCount = kvHeadCount
        self.headDimension = headDimension
        self.kvWidth = kvHeadCount * headDimension
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.localBlockCount = localBlockCount
        self.localLayers = localBlockCount == nil ? Array(repeating: false, count: layerCount) : localLayers
        self.precision = precision
        let slotBytes = blockSize * kvHeadCount * precision.rowBytes(headDimension)
        layerBytes = self.localLayers.map { ($0 ? localBlockCount ?? blockCount : blockCount) * slotBytes }
        var offsets: [Int] = []
        var total = 0
        for bytes in layerBytes {
            offsets.append(total)
            total += 2 * bytes
        }
        layerOffsets = offsets
        buffer = HugePageBuffer(byteCount: total)
    }

    /// Whether the local layers have their own pool.
    public var isSplit: Bool { localBlockCount != nil }

    /// Total token slots (of the global pool when split).
    public var capacity: Int { blockCount * blockSize }

    /// Token slots of the local pool when split.
    public var localCapacity: Int? { localBlockCount.map { $0 * blockSize } }

    /// Total bytes of key and value memory.
    public var byteCount: Int { 2 * layerBytes.reduce(0, +) }

    /// The key and value pools of `layer`, as the attention kernels see them.
    public func layer(_ index: Int) -> PagedKVLayer {
        PagedKVLayer(
            keys: storage + layerOffsets[index], values: storage + layerOffsets[index] + layerBytes[index],
            blockSize: blockSize, kvHeads: kvHeadCount, headDim: headDimension, elementType: precision)
    }
}

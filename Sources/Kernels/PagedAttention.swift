import KernelIntrinsics

#if TANDEM_AVX2
import _Builtin_intrinsics.intel
#endif

/// Element type of a KV cache.
public enum KVElementType: Sendable {
    case float32
    case float16
    /// Q8_0, per head row: blocks of 32 values, each a scale (the block's largest magnitude / 127)
    /// and 32 signed bytes, quantized as llama.cpp's `--cache-type-k q8_0`. The scale is kept as a
    /// float32 (GGML stores a float16), so attention broadcasts it with one load: 36 bytes per 32
    /// values, 56% of float16. Needs a head size that is a multiple of 32.
    case q8_0

    /// Bytes of a row of `elements` values (a multiple of `blockElements`).
    public func rowBytes(_ elements: Int) -> Int {
        switch self {
        case .float32: elements * 4
        case .float16: elements * 2
        case .q8_0: elements / 32 * 36
        }
    }

    /// The number of values a row's length must be a multiple of.
    public var blockElements: Int { self == .q8_0 ? 32 : 1 }

    /// The name reported to clients and printed: "float32", "float16" or "q8_0".
    public var name: String {
        switch self {
        case .float32: "float32"
        case .float16: "float16"
        case .q8_0: "q8_0"
        }
    }
}

/// One layer of a paged KV cache: `blockCount` blocks of `blockSize` token slots; each slot holds
/// `kvHeads * headDim` key values (in `keys`) and as many value values (in `values`).
/// Within a block the rows of one head are contiguous (`rowIndex`), so attention streams each head's
/// keys and values sequentially. The memory is owned by the caller.
///
/// `@unchecked Sendable`: a view of the caller's memory; attention jobs write disjoint slots and heads.
public struct PagedKVLayer: @unchecked Sendable {
    /// Key storage, `slots * kvWidth` elements.
    public let keys: UnsafeMutableRawPointer
    /// Value storage, `slots * kvWidth` elements.
    public let values: UnsafeMutableRawPointer
    /// Token slots per block.
    public let blockSize: Int
    /// Key/value heads.
    public let kvHeads: Int
    /// Elements per head (a multiple of 8, and of 32 for Q8_0).
    public let headDim: Int
    /// Stored element type.
    public let elementType: KVElementType

    /// Describes a cache layer over caller-owned memory.
    public init(
        keys: UnsafeMutableRawPointer, values: UnsafeMutableRawPointer, blockSize: Int, kvHeads: Int,
        headDim: Int, elementType: KVElementType
    ) {
        precondition(blockSize > 0 && kvHeads > 0 && headDim > 0 && headDim % 8 == 0 && headDim % elementType.blockElements == 0)
        self.keys = keys
        self.values = values
        self.blockSize = blockSize
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.elementType = elementType
    }

    /// Elements per slot: `kvHeads * headDim`.
    public var kvWidth: Int { kvHeads * headDim }

    /// Bytes per slot of keys (and of values).
    public var slotBytes: Int { kvHeads * rowBytes }

    /// Bytes of one head's row.
    public var rowBytes: Int { elementType.rowBytes(headDim) }

    /// The row (of `headDim` elements) that holds `head` of `slot`: block by block, head by head,
    /// slot by slot.
    @inline(__always)
    public func rowIndex(slot: Int, head: Int) -> Int {
        ((slot / blockSize) &* kvHeads &+ head) &* blockSize &+ slot % blockSize
    }
}

/// One sequence's part of a ragged attention batch.
///
/// `@unchecked Sendable`: points at a block table that nobody writes while attention runs.
public struct AttentionSequence: @unchecked Sendable {
    /// Index in the batch of the sequence's first token.
    public var firstToken: Int32
    /// Number of consecutive batch tokens that belong to the sequence.
    public var tokenCount: Int32
    /// Position (in the sequence) of its first batch token; token i has position `positionOfFirst + i`.
    public var positionOfFirst: Int32
    /// Block table: physical block of logical block j (covering positions `j * blockSize ..< (j+1) * blockSize`).
    public var blockTable: UnsafePointer<Int32>

    /// Describes one sequence of the batch.
    public init(firstToken: Int32, tokenCount: Int32, positionOfFirst: Int32, blockTable: UnsafePointer<Int32>) {
        self.firstToken = firstToken
        self.tokenCount = tokenCount
        self.positionOfFirst = positionOfFirst
        self.blockTable = blockTable
    }
}

/// Writes the keys and values of `tokens` tokens (each `layer.kvWidth` floats) into their cache slots
/// (`slotMapping[t]`; a negative slot skips the token). Float16 caches round to nearest even; Q8_0
/// caches quantize each block of 32 as llama.cpp does (`quantizeQ8`).
public func writeKV(
    k: UnsafePointer<Float>, v: UnsafePointer<Float>, slotMapping: UnsafePointer<Int32>, tokens: Int,
    layer: PagedKVLayer
) {
    let width = layer.kvWidth, headDim = layer.headDim, rowBytes = layer.rowBytes
    for t in 0..<tokens {
        let slot = Int(slotMapping[t])
        if slot < 0 { continue }
        for head in 0..<layer.kvHeads {
            let offset = layer.rowIndex(slot: slot, head: head) * rowBytes
            let source = t * width + head * headDim
            switch layer.elementType {
            case .float32:
                (layer.keys + offset).copyMemory(from: k + source, byteCount: rowBytes)
                (layer.values + offset).copyMemory(from: v + source, byteCount: rowBytes)
            case .float16:
                let keys = (layer.keys + offset).assumingMemoryBound(to: UInt16.self)
                let values = (layer.values + offset).assumingMemoryBound(to: UInt16.self)
                for i in 0..<headDim {
                    keys[i] = Float16(k[source + i]).bitPattern
                    values[i] = Float16(v[source + i]).bitPattern
                }
            case .q8_0:
                quantizeQ8(k + source, count: headDim, into: layer.keys + offset)
                quantizeQ8(v + source, count: headDim, into: layer.values + offset)
            }
        }
    }
}

/// Quantizes `count` values (a multiple of 32) to Q8_0 blocks as llama.cpp's reference does: scale
/// `d` = largest magnitude / 127 (kept as a float32), each value `round(x / d)`. From a broken
/// model, a NaN is stored as 0 and an infinity zeroes its block, instead of trapping.
func quantizeQ8(_ x: UnsafePointer<Float>, count: Int, into output: UnsafeMutableRawPointer) {
    for b in 0..<count / 32 {
        let values = x + b * 32
        var largest: Float = 0
        for i in 0..<32 { largest = Swift.max(largest, abs(values[i])) }
        let block = output + b * 36
        let scale = largest.isFinite ? largest / 127 : 0
        let inverse: Float = scale > 0 ? 1 / scale : 0
        block.storeBytes(of: scale, as: Float.self)
        for i in 0..<32 {
            let q = (values[i] * inverse).rounded()
            block.storeBytes(of: q.isNaN ? 0 : Int8(Swift.min(Swift.max(q, -127), 127)), toByteOffset: 4 + i, as: Int8.self)
        }
    }
}

/// Causal attention over a paged KV cache for a ragged batch.
///
/// `q` and `output` are `[tokens][qHeads][headDim]`. Token i of a sequence at position p attends to
/// positions `0...p` of that sequence, whose K/V live in slot
/// `blockTable[j / blockSize] * blockSize + j % blockSize` (the caller has already written this
/// step's K/V with `writeKV`). Grouped-query: q head h reads kv head `h / (qHeads / kvHeads)`.
/// Scores are scaled by `scale` (`1/sqrt(headDim)` when nil); the softmax is computed online in
/// chunks of 32 positions starting at the first attended position, so every (token, head) result is
/// independent of the batch.
///
/// With `window > 0` (a sliding-window layer) token i attends only to positions
/// `max(0, p - window + 1)...p`: itself and the `window - 1` before it (transformers'
/// `kv_idx > q_idx - sliding_window`, llama.cpp's `p1 - p0 < n_swa`); older positions are never read.
/// With `softCap > 0` (Gemma 2) each scaled score `s` becomes `softCap * tanh(s / softCap)` before the
/// softmax.
///
/// Work items are (token, kv head) pairs, dealt to the threads round-robin: a prompt's later tokens
/// attend to more positions, and dealing keeps the threads' shares of that work close. With enough
/// tokens, whole tokens are dealt (all kv heads of a token on one thread, which then reads each cached
/// K/V row whole); with few, single heads are.
public func pagedAttention(
    q: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, qHeads: Int,
    sequences: UnsafeBufferPointer<AttentionSequence>, layer: PagedKVLayer, pool: WorkerPool,
    scale: Float? = nil, window: Int = 0, softCap: Float = 0
) {
    let kvHeads = layer.kvHeads
    precondition(qHeads % kvHeads == 0 && window >= 0 && softCap >= 0)
    let scale = scale ?? 1 / Float(layer.headDim).squareRoot()
    var tokens = 0
    for s in sequences { tokens += Int(s.tokenCount) }
    let total = tokens * kvHeads
    guard total > 0 else { return }
    let threads = min(pool.threadCount, total)
    let perDeal = tokens >= 4 * threads ? kvHeads : 1
    pool.run { index, _ in
        guard index < threads else { return }
        AttentionWorker.run(
            items: DealtItems(part: index, parts: threads, total: total, perDeal: perDeal),
            q: q, output: output, qHeads: qHeads, sequences: sequences, layer: layer, scale: scale, window: window,
            softCap: softCap)
    }
}

/// The items of one thread: runs of `perDeal` consecutive items, every `parts`-th run from run `part`.
struct DealtItems: Sequence, IteratorProtocol {
    let part: Int, parts: Int, total: Int, perDeal: Int
    private var current: Int
    private var runEnd: Int

    init(part: Int, parts: Int, total: Int, perDeal: Int) {
        self.part = part
        self.parts = parts
        self.total = total
        self.perDeal = perDeal
        current = part * perDeal
        runEnd = current + perDeal
    }

    mutating func next() -> Int? {
        if current == runEnd {
            current += (parts - 1) * perDeal
            runEnd = current + perDeal
        }
        guard current < total else { return nil }
        defer { current += 1 }
        return current
    }
}

/// Finds the sequence, batch token, position and kv head of a work item, for items in increasing order.
struct ItemCursor {
    let sequences: UnsafeBufferPointer<AttentionSequence>
    let kvHeads: Int
    private var sequenceIndex = 0, base = 0

    init(sequences: UnsafeBufferPointer<AttentionSequence>, kvHeads: Int) {
        self.sequences = sequences
        self.kvHeads = kvHeads
    }

    mutating func locate(_ item: Int) -> (sequence: AttentionSequence, token: Int, position: Int, kvHead: Int) {
        while item >= base + Int(sequences[sequenceIndex].tokenCount) * kvHeads {
            base += Int(sequences[sequenceIndex].tokenCount) * kvHeads
            sequenceIndex += 1
        }
        let sequence = sequences[sequenceIndex]
        let local = item - base
        return (
            sequence, Int(sequence.firstToken) + local / kvHeads, Int(sequence.positionOfFirst) + local / kvHeads,
            local % kvHeads
        )
    }
}

/// The per-thread part of `pagedAttention`.
enum AttentionWorker {
    static let chunk = 32
    /// Query heads of a group processed together (their accumulators stay in registers): 3 heads x 4
    /// positions in the score pass, 3 heads x four slices in the value pass.
    static let scoreHeadsPerPass = 3, valueHeadsPerPass = 3
    /// Positions ahead whose key and value rows `scorePass` prefetches.
    static let prefetchDistance = 16
    /// Scores this far or further below the running maximum get probability 0 (e^-44 < 2^-63), as does
    /// the rescaling of the earlier chunks when the maximum rises as far. Their share of the output is
    /// below a float's resolution, but their products with the values and the accumulators they make
    /// can be subnormal, and every operation on a subnormal takes a slow microcode path on Intel CPUs
    /// (a peaked distribution's decode steps spent 17% of their time on it).
    static let negligibleLogit: Float = -44

    static func run(
        items: DealtItems, q: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, qHeads: Int,
        sequences: UnsafeBufferPointer<AttentionSequence>, layer: PagedKVLayer, scale: Float, window: Int,
        softCap: Float
    ) {
        switch layer.elementType {
        case .float32:
            run(
                F32Loader.self, items: items, q: q, output: output, qHeads: qHeads, sequences: sequences, layer: layer,
                scale: scale, window: window, softCap: softCap)
        case .float16:
            run(
                F16Loader.self, items: items, q: q, output: output, qHeads: qHeads, sequences: sequences, layer: layer,
                scale: scale, window: window, softCap: softCap)
        case .q8_0:
            run(
                Q8Loader.self, items: items, q: q, output: output, qHeads: qHeads, sequences: sequences, layer: layer,
                scale: scale, window: window, softCap: softCap)
        }
    }

    /// The first position a token at `position` attends to (`window` 0: no window).
    @inline(__always)
    static func firstAttended(position: Int, window: Int) -> Int {
        window > 0 ? Swift.max(0, position - window + 1) : 0
    }

    static func run<L: FloatLoader>(
        _ loader: L.Type, items: DealtItems, q: UnsafePointer<Float>,
        output: UnsafeMutablePointer<Float>, qHeads: Int,
        sequences: UnsafeBufferPointer<AttentionSequence>, layer: PagedKVLayer, scale: Float, window: Int,
        softCap: Float
    ) {
        let kvHeads = layer.kvHeads
        let headDim = layer.headDim
        let group = qHeads / kvHeads
        let floats = group * chunk + group * headDim + 2 * group + chunk + prefetchDistance
        withUnsafeTemporaryAllocation(of: Float.self, capacity: floats) { buffer in
            let scores = buffer.baseAddress.unsafelyUnwrapped
            let acc = scores + group * chunk
            let maxima = acc + group * headDim
            let sums = maxima + group
            let slots = UnsafeMutableRawPointer(sums + group).bindMemory(to: Int32.self, capacity: chunk + prefetchDistance)
            var current = ItemCursor(sequences: sequences, kvHeads: kvHeads)
            var upcoming = current
            var iterator = items.makeIterator()
            var next = iterator.next()
            while let item = next {
                let (sequence, token, position, kvHead) = current.locate(item)
                // The next item's first rows: their loads overlap this item's work.
                next = iterator.next()
                if let following = next {
                    let (nextSequence, _, nextPosition, nextHead) = upcoming.locate(following)
                    let nextFirst = firstAttended(position: nextPosition, window: window)
                    prefetchRows(
                        L.self, positions: nextFirst..<min(nextFirst + prefetchDistance, nextPosition + 1), kvHead: nextHead,
                        blockTable: nextSequence.blockTable, layer: layer)
                }
                attend(
                    L.self, q: q + (token * qHeads + kvHead * group) * headDim,
                    output: output + (token * qHeads + kvHead * group) * headDim,
                    group: group, kvHead: kvHead, position: position,
                    firstPosition: firstAttended(position: position, window: window), blockTable: sequence.blockTable,
                    layer: layer, scale: scale, softCap: softCap, scores: scores, acc: acc, maxima: maxima, sums: sums,
                    slots: slots)
            }
        }
    }

    /// The largest of `count` (at most `chunk`) scores and `floor`; NaN scores are passed over.
    @inline(__always)
    static func maximum(_ scores: UnsafePointer<Float>, count: Int, atLeast floor: Float) -> Float {
        var m = SIMD8<Float>(repeating: floor)
        var j = 0
        while j < count {
            var v = UnsafeRawPointer(scores + j).loadUnaligned(as: SIMD8<Float>.self)
            if count - j < 8 { v.replace(with: -.infinity, where: SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= Int32(count - j)) }
            m.replace(with: v, where: v .> m)
            j += 8
        }
        var half = m.lowHalf
        half.replace(with: m.highHalf, where: m.highHalf .> half)
        let a = Swift.max(half[0], half[1]), b = Swift.max(half[2], half[3])
        return Swift.max(a, b)
    }

    /// Starts loading the key and value rows of `kvHead` at `positions` into the second-level cache.
    @inline(__always)
    static func prefetchRows<L: FloatLoader>(
        _ loader: L.Type, positions: Range<Int>, kvHead: Int,
        blockTable: UnsafePointer<Int32>, layer: PagedKVLayer
    ) {
        let rowBytes = L.rowBytes(layer.headDim)
        for j in positions {
            let row = layer.rowIndex(
                slot: Int(blockTable[j / layer.blockSize]) &* layer.blockSize &+ j % layer.blockSize,
                head: kvHead)
            prefetchRow(row &* rowBytes, rowBytes: rowBytes, layer: layer)
        }
    }

    /// Starts loading the key row and the value row at byte offset `offset` into the second-level cache.
    @inline(__always)
    static func prefetchRow(_ offset: Int, rowBytes: Int, layer: PagedKVLayer) {
        var line = 0
        while line < rowBytes {
            tandem_prefetch_l2(UnsafeRawPointer(layer.keys) + (offset &+ line))
            tandem_prefetch_l2(UnsafeRawPointer(layer.values) + (offset &+ line))
            line += 64
        }
    }

    /// Attention of `group` consecutive q heads (sharing `kvHead`) of one token at `position`, over
    /// positions `firstPosition...position`.
    ///
    /// Per head and lane the arithmetic is fixed: a score is the in-order FMA sum over the head's
    /// 8-wide slices, reduced by `SIMDKernels.horizontalSum`; the value accumulator is rescaled once
    /// per chunk and then takes one FMA per position in position order.
    @inline(__always)
    static func attend<L: FloatLoader>(
        _ loader: L.Type, q: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, group: Int, kvHead: Int,
        position: Int, firstPosition: Int, blockTable: UnsafePointer<Int32>, layer: PagedKVLayer, scale: Float,
        softCap: Float,
        scores: UnsafeMutablePointer<Float>, acc: UnsafeMutablePointer<Float>,
        maxima: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Float>,
        slots: UnsafeMutablePointer<Int32>
    ) {
        let headDim = layer.headDim
        let blockSize = layer.blockSize
        acc.update(repeating: 0, count: group * headDim)
        maxima.update(repeating: -Float.infinity, count: group)
        sums.update(repeating: 0, count: group)
        var start = firstPosition
        while start <= position {
            let end = min(start + chunk, position + 1)
            let length = end - start
            // This chunk's rows and the first rows of the next one (for prefetching).
            let known = min(end + prefetchDistance, position + 1) - start
            var logicalBlock = start / blockSize, offset = start % blockSize
            for i in 0..<known {
                slots[i] = (blockTable[logicalBlock] &* Int32(layer.kvHeads) &+ Int32(kvHead)) &* Int32(blockSize) &+ Int32(offset)
                offset += 1
                if offset == blockSize { offset = 0; logicalBlock += 1 }
            }
            var first = 0
            while first < group {
                let heads = min(scoreHeadsPerPass, group - first)
                switch heads {
                case 1:
                    scorePass(
                        L.self, One.self, q: q, first: first, length: length, known: known, layer: layer, scale: scale, slots: slots, scores: scores)
                case 2:
                    scorePass(
                        L.self, Two.self, q: q, first: first, length: length, known: known, layer: layer, scale: scale, slots: slots, scores: scores)
                default:
                    scorePass(
                        L.self, Three.self, q: q, first: first, length: length, known: known, layer: layer, scale: scale, slots: slots, scores: scores
                    )
                }
                first += heads
            }
            if softCap > 0 {
                for h in 0..<group { Kernels.softCap(scores + h * chunk, count: length, cap: softCap) }
            }
            for h in 0..<group {
                let s = scores + h * chunk
                let chunkMax = maximum(s, count: length, atLeast: maxima[h])
                let rise = maxima[h] - chunkMax
                let correction = rise > negligibleLogit ? SIMDKernels.exp(SIMD8(repeating: rise))[0] : 0
                maxima[h] = chunkMax
                var sum = sums[h] * correction
                var j = 0
                while j < length {
                    let pointer = UnsafeMutableRawPointer(s + j)
                    let logits = pointer.loadUnaligned(as: SIMD8<Float>.self) - chunkMax
                    var e = SIMDKernels.exp(logits)
                    e.replace(with: 0, where: logits .<= SIMD8(repeating: negligibleLogit))
                    if length - j < 8 { e.replace(with: 0, where: SIMD8<Int32>(0, 1, 2, 3, 4, 5, 6, 7) .>= Int32(length - j)) }
                    pointer.storeBytes(of: e, as: SIMD8<Float>.self)
                    sum += SIMDKernels.horizontalSum(e)
                    j += 8
                }
                sums[h] = sum
                let a = acc + h * headDim
                var d = 0
                while d < headDim {
                    let pointer = UnsafeMutableRawPointer(a + d)
                    pointer.storeBytes(of: pointer.loadUnaligned(as: SIMD8<Float>.self) * correction, as: SIMD8<Float>.self)
                    d += 8
                }
            }
            first = 0
            while first < group {
                let heads = min(valueHeadsPerPass, group - first)
                switch heads {
                case 1: valuePass(L.self, One.self, first: first, length: length, layer: layer, slots: slots, scores: scores, acc: acc)
                case 2: valuePass(L.self, Two.self, first: first, length: length, layer: layer, slots: slots, scores: scores, acc: acc)
                default: valuePass(L.self, Three.self, first: first, length: length, layer: layer, slots: slots, scores: scores, acc: acc)
                }
                first += heads
            }
            start = end
        }
        for h in 0..<group {
            let inverse = 1 / sums[h]
            for d in 0..<headDim { output[h * headDim + d] = acc[h * headDim + d] * inverse }
        }
    }

    /// Scores of heads `first..<first+heads` for the chunk's positions, four positions at a time: each
    /// key slice is loaded once for all the heads, and the four positions' dot products of a head are
    /// reduced together (`SIMDKernels.horizontalSums`). Past the chunk's end the last row stands in and
    /// its scores land in unused slots (the chunk length is a multiple of 4). `slots` holds `known`
    /// rows (the chunk's and a few beyond, to prefetch).
    @inline(__always)
    static func scorePass<L: FloatLoader, Heads: StaticCount>(
        _ loader: L.Type, _ headCount: Heads.Type, q: UnsafePointer<Float>,
        first: Int, length: Int, known: Int, layer: PagedKVLayer,
        scale: Float, slots: UnsafePointer<Int32>,
        scores: UnsafeMutablePointer<Float>
    ) {
        let heads = Heads.value
        let headDim = layer.headDim
        let q0 = UnsafeRawPointer(q + first * headDim)
        let stride = headDim * 4
        let rowBytes = L.rowBytes(headDim)
        let keys = UnsafeRawPointer(layer.keys)
        let scales = SIMD4<Float>(repeating: scale)
        var j = 0
        while j < length {
            // The rows a few positions ahead may sit in another block; start loading them now.
            for ahead in Swift.stride(from: j + prefetchDistance, to: min(j + prefetchDistance + 4, known), by: 1) {
                prefetchRow(Int(slots[ahead]) &* rowBytes, rowBytes: rowBytes, layer: layer)
            }
            let r0 = keys + Int(slots[j]) &* rowBytes
            let r1 = keys + Int(slots[min(j + 1, length - 1)]) &* rowBytes
            let r2 = keys + Int(slots[min(j + 2, length - 1)]) &* rowBytes
            let r3 = keys + Int(slots[min(j + 3, length - 1)]) &* rowBytes
            var a0 = SIMD8<Float>.zero, a1 = a0, a2 = a0, a3 = a0
            var b0 = a0, b1 = a0, b2 = a0, b3 = a0
            var c0 = a0, c1 = a0, c2 = a0, c3 = a0
            var d = 0
            while d < headDim {
                let k0 = L.load8(r0, d), k1 = L.load8(r1, d), k2 = L.load8(r2, d), k3 = L.load8(r3, d)
                let x = q0.loadUnaligned(fromByteOffset: d &* 4, as: SIMD8<Float>.self)
                a0 = a0.addingProduct(x, k0); a1 = a1.addingProduct(x, k1)
                a2 = a2.addingProduct(x, k2); a3 = a3.addingProduct(x, k3)
                if heads > 1 {
                    let y = q0.loadUnaligned(fromByteOffset: stride &+ d &* 4, as: SIMD8<Float>.self)
                    b0 = b0.addingProduct(y, k0); b1 = b1.addingProduct(y, k1)
                    b2 = b2.addingProduct(y, k2); b3 = b3.addingProduct(y, k3)
                }
                if heads > 2 {
                    let z = q0.loadUnaligned(fromByteOffset: 2 &* stride &+ d &* 4, as: SIMD8<Float>.self)
                    c0 = c0.addingProduct(z, k0); c1 = c1.addingProduct(z, k1)
                    c2 = c2.addingProduct(z, k2); c3 = c3.addingProduct(z, k3)
                }
                d += 8
            }
            @inline(__always)
            func store(_ head: Int, _ sums: SIMD4<Float>) {
                UnsafeMutableRawPointer(scores + (first + head) * chunk + j).storeBytes(of: sums * scales, as: SIMD4<Float>.self)
            }
            store(0, SIMDKernels.horizontalSums(a0, a1, a2, a3))
            if heads > 1 { store(1, SIMDKernels.horizontalSums(b0, b1, b2, b3)) }
            if heads > 2 { store(2, SIMDKernels.horizontalSums(c0, c1, c2, c3)) }
            j += 4
        }
    }

    /// Adds the chunk's weighted values to the accumulators of heads `first..<first+heads` (at most
    /// 3), four 8-wide slices at a time (one where `headDim` leaves fewer): 12 accumulators, 3
    /// broadcast weights and one value slice fill the 16 registers, and each weight is broadcast once
    /// per four slices.
    @inline(__always)
    static func valuePass<L: FloatLoader, Heads: StaticCount>(
        _ loader: L.Type, _ heads: Heads.Type, first: Int, length: Int,
        layer: PagedKVLayer, slots: UnsafePointer<Int32>,
        scores: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>
    ) {
        var d = 0
        while d + 32 <= layer.headDim {
            valueSlices(
                L.self, Heads.self, Four.self, d: d, first: first, length: length, layer: layer,
                slots: slots, scores: scores, acc: acc)
            d += 32
        }
        while d < layer.headDim {
            valueSlices(
                L.self, Heads.self, One.self, d: d, first: first, length: length, layer: layer,
                slots: slots, scores: scores, acc: acc)
            d += 8
        }
    }

    /// `valuePass` over `Slices` (1 or 4) consecutive slices from element `d`. Per lane the order is
    /// fixed: one FMA per position, in position order.
    @inline(__always)
    static func valueSlices<L: FloatLoader, Heads: StaticCount, Slices: StaticCount>(
        _ loader: L.Type, _ headCount: Heads.Type, _ sliceCount: Slices.Type, d: Int, first: Int, length: Int,
        layer: PagedKVLayer, slots: UnsafePointer<Int32>, scores: UnsafePointer<Float>, acc: UnsafeMutablePointer<Float>
    ) {
        let heads = Heads.value, slices = Slices.value
        let headDim = layer.headDim
        let p0 = scores + first * chunk
        let rowBytes = L.rowBytes(headDim)
        let values = UnsafeRawPointer(layer.values)
        let a = UnsafeMutableRawPointer(acc + first * headDim + d)
        let stride = headDim * 4
        @inline(__always)
        func load(_ head: Int, _ slice: Int) -> SIMD8<Float> {
            head < heads && slice < slices ? a.loadUnaligned(fromByteOffset: head * stride + slice * 32, as: SIMD8<Float>.self) : .zero
        }
        @inline(__always)
        func store(_ head: Int, _ slice: Int, _ value: SIMD8<Float>) {
            if head < heads && slice < slices { a.storeBytes(of: value, toByteOffset: head * stride + slice * 32, as: SIMD8<Float>.self) }
        }
        var a0 = load(0, 0), a1 = load(0, 1), a2 = load(0, 2), a3 = load(0, 3)
        var b0 = load(1, 0), b1 = load(1, 1), b2 = load(1, 2), b3 = load(1, 3)
        var c0 = load(2, 0), c1 = load(2, 1), c2 = load(2, 2), c3 = load(2, 3)
        for j in 0..<length {
            let row = values + Int(slots[j]) &* rowBytes
            let x = SIMD8(repeating: p0[j])
            let y = heads > 1 ? SIMD8(repeating: p0[chunk + j]) : .zero
            let z = heads > 2 ? SIMD8(repeating: p0[2 * chunk + j]) : .zero
            let v0 = L.load8(row, d)
            a0 = a0.addingProduct(x, v0)
            if heads > 1 { b0 = b0.addingProduct(y, v0) }
            if heads > 2 { c0 = c0.addingProduct(z, v0) }
            if slices > 1 {
                let v1 = L.load8(row, d + 8)
                a1 = a1.addingProduct(x, v1)
                if heads > 1 { b1 = b1.addingProduct(y, v1) }
                if heads > 2 { c1 = c1.addingProduct(z, v1) }
                let v2 = L.load8(row, d + 16)
                a2 = a2.addingProduct(x, v2)
                if heads > 1 { b2 = b2.addingProduct(y, v2) }
                if heads > 2 { c2 = c2.addingProduct(z, v2) }
                let v3 = L.load8(row, d + 24)
                a3 = a3.addingProduct(x, v3)
                if heads > 1 { b3 = b3.addingProduct(y, v3) }
                if heads > 2 { c3 = c3.addingProduct(z, v3) }
            }
        }
        store(0, 0, a0); store(0, 1, a1); store(0, 2, a2); store(0, 3, a3)
        store(1, 0, b0); store(1, 1, b1); store(1, 2, b2); store(1, 3, b3)
        store(2, 0, c0); store(2, 1, c1); store(2, 2, c2); store(2, 3, c3)
    }
}

/// A count fixed at compile time, so that a kernel specialized on it has its branches folded away
/// whether or not it is inlined.
protocol StaticCount { static var value: Int { get } }

extension AttentionWorker {
    enum One: StaticCount { static var value: Int { 1 } }
    enum Two: StaticCount { static var value: Int { 2 } }
    enum Three: StaticCount { static var value: Int { 3 } }
    enum Four: StaticCount { static var value: Int { 4 } }
}

/// The `k` largest logits of a row, found in O(vocabulary) whatever `k` (a radix selection over the
/// logits' order-preserving bit patterns, three passes of 11, 11 and 10 bits), never by sorting.
///
/// The order is descending logit, then ascending token id on ties; NaN ranks below every number.
/// Sampling keeps the selected tokens by testing `keeps`; log-probability reports sort only the
/// `k` selected (`best`). Both top-k selections of the engine are this one.
struct TopKSelection {
    /// The order key of the k-th best logit.
    let key: UInt32
    /// The last token id with that key that is still kept (ties go to lower ids).
    let lastTie: Int

    /// A key that orders floats as numbers (-0 just below +0); NaN gets 0, below -infinity's key.
    @inline(__always)
    static func orderKey(_ value: Float) -> UInt32 {
        if value.isNaN { return 0 }
        let bits = value.bitPattern
        return bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
    }

    /// The cut that keeps exactly `min(max(k, 1), logits.count)` tokens.
    init(_ logits: UnsafeBufferPointer<Float>, k: Int) {
        let count = logits.count
        var need = min(max(k, 1), max(count, 1))
        var prefix: UInt32 = 0
        var fixedBits: UInt32 = 0  // high bits of the key already decided
        withUnsafeTemporaryAllocation(of: Int.self, capacity: 1 << 11) { bins in
            for width in [11, 11, 10] as [UInt32] {
                let shift = 32 - fixedBits - width
                let binCount = 1 << Int(width)
                bins.initialize(repeating: 0)
                for value in logits {
                    let key = Self.orderKey(value)
                    if fixedBits > 0 && key >> (32 - fixedBits) != prefix { continue }
                    bins[Int((key >> shift) & UInt32(binCount - 1))] += 1
                }
                var bin = binCount - 1
                while bin > 0 && bins[bin] < need {
                    need -= bins[bin]
                    bin -= 1
                }
                prefix = prefix << width | UInt32(bin)
                fixedBits += width
            }
        }
        key = prefix
        // `need` tokens with exactly this key are kept, lowest ids first.
        var last = -1
        for j in 0..<count where Self.orderKey(logits[j]) == prefix {
            last = j
            need -= 1
            if need == 0 { break }
        }
        lastTie = last
    }

    /// Whether token `token` with logit `value` is among the selected.
    @inline(__always)
    func keeps(_ value: Float, token: Int) -> Bool {
        let k = Self.orderKey(value)
        return k > key || (k == key && token <= lastTie)
    }

    /// The `k` best tokens, sorted by descending logit (ties: lower id first).
    static func best(_ logits: UnsafeBufferPointer<Float>, k: Int) -> [(token: Int32, logit: Float)] {
        guard k > 0, !logits.isEmpty else { return [] }
        let cut = TopKSelection(logits, k: k)
        var selected: [(token: Int32, logit: Float)] = []
        selected.reserveCapacity(min(k, logits.count))
        for j in 0..<logits.count where cut.keeps(logits[j], token: j) {
            selected.append((Int32(j), logits[j]))
        }
        selected.sort {
            let a = orderKey($0.logit), b = orderKey($1.logit)
            return a != b ? a > b : $0.token < $1.token
        }
        return selected
    }
}

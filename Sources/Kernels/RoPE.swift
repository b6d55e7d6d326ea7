import Foundation

/// Precomputed rotary-embedding cosines and sines for positions `0..<maxPositions`.
///
/// Angle of pair `i` at position `p` is `p * base^(-2i / ropeDims)`, or, with frequency divisors
/// (RoPE scaling: linear, Llama 3's per-frequency factors), `p * base^(-2i / ropeDims) / divisor[i]`.
/// Angles are computed in Double and rounded to Float once, so a token's rotation never depends on
/// the batch it is in. Without divisors the arithmetic is exactly the unscaled formula.
///
/// `@unchecked Sendable`: the table is computed in `init` and only read afterwards.
public final class RoPETable: @unchecked Sendable {
    /// Number of rotated dimensions (pairs = ropeDims / 2).
    public let ropeDims: Int
    /// Positions covered by the table.
    public let maxPositions: Int
    /// The frequency base.
    public let base: Double
    /// The angle per position of each pair: `base^(-2i / ropeDims)`, divided by that pair's divisor.
    public let inverseFrequencies: [Double]
    /// The factor every cos and sin is multiplied by (1 unless the RoPE scaling defines an
    /// attention factor: LongRoPE's and YaRN's magnitude correction, which scales the rotated
    /// dimensions of both queries and keys).
    public let magnitude: Double
    private let cosines: UnsafeMutablePointer<Float>
    private let sines: UnsafeMutablePointer<Float>

    /// Builds the table for `maxPositions` positions.
    ///
    /// - Parameter frequencyDivisors: nil for unscaled RoPE, else one finite positive divisor per
    ///   pair (`ropeDims / 2` values) that pair's frequency is divided by. The caller validates
    ///   values read from a file; a wrong count or value here is a programming error.
    /// - Parameter magnitude: the factor every cos and sin is multiplied by (finite, positive).
    public init(
        base: Double, ropeDims: Int, maxPositions: Int, frequencyDivisors: [Double]? = nil,
        magnitude: Double = 1
    ) {
        precondition(magnitude.isFinite && magnitude > 0)
        precondition(ropeDims > 0 && ropeDims % 2 == 0 && maxPositions >= 0)
        let pairs = ropeDims / 2
        var frequencies = (0..<pairs).map { Foundation.pow(base, -2 * Double($0) / Double(ropeDims)) }
        if let frequencyDivisors {
            precondition(frequencyDivisors.count == pairs && frequencyDivisors.allSatisfy { $0.isFinite && $0 > 0 })
            for i in 0..<pairs { frequencies[i] /= frequencyDivisors[i] }
        }
        self.base = base
        self.ropeDims = ropeDims
        self.maxPositions = maxPositions
        inverseFrequencies = frequencies
        self.magnitude = magnitude
        cosines = .allocate(capacity: max(1, maxPositions * pairs))
        sines = .allocate(capacity: max(1, maxPositions * pairs))
        for p in 0..<maxPositions {
            for i in 0..<pairs {
                let (c, s) = RoPETable.angle(position: p, inverseFrequency: frequencies[i], magnitude: magnitude)
                cosines[p * pairs + i] = c
                sines[p * pairs + i] = s
            }
        }
    }

    deinit {
        cosines.deallocate()
        sines.deallocate()
    }

    /// cos and sin of `position * inverseFrequency`, times `magnitude`, computed in Double.
    @inline(__always)
    static func angle(position: Int, inverseFrequency: Double, magnitude: Double) -> (Float, Float) {
        let theta = Double(position) * inverseFrequency
        if magnitude == 1 { return (Float(Foundation.cos(theta)), Float(Foundation.sin(theta))) }
        return (Float(Foundation.cos(theta) * magnitude), Float(Foundation.sin(theta) * magnitude))
    }

    /// Writes the cos/sin of every pair at `position` (from the table, or computed when out of range).
    @inline(__always)
    func fill(position: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
        let pairs = ropeDims / 2
        if position >= 0 && position < maxPositions {
            cos.update(from: cosines + position * pairs, count: pairs)
            sin.update(from: sines + position * pairs, count: pairs)
        } else {
            inverseFrequencies.withUnsafeBufferPointer { frequencies in
                for i in 0..<pairs {
                    (cos[i], sin[i]) = RoPETable.angle(
                        position: position, inverseFrequency: frequencies[i], magnitude: magnitude)
                }
            }
        }
    }
}

/// Applies rotary position embeddings in place to `x`, laid out `[tokens][heads][headDim]`.
///
/// Normal layout rotates pairs `(2i, 2i+1)`; NeoX layout rotates `(i, i + ropeDims/2)`, for
/// `i < ropeDims/2`; dimensions at or past `ropeDims` are left unchanged. Rotation:
/// `(a, b) -> (a cos - b sin, a sin + b cos)`.
public func applyRoPE(
    _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, positions: UnsafePointer<Int32>,
    tokens: Int, table: RoPETable, neox: Bool
) {
    let ropeDims = table.ropeDims
    precondition(ropeDims <= headDim)
    let pairs = ropeDims / 2
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * pairs) { buffer in
        let cos = buffer.baseAddress.unsafelyUnwrapped
        let sin = cos + pairs
        for t in 0..<tokens {
            table.fill(position: Int(positions[t]), cos: cos, sin: sin)
            for h in 0..<heads {
                let v = x + (t * heads + h) * headDim
                for i in 0..<pairs {
                    let first = neox ? i : 2 * i
                    let second = neox ? i + pairs : 2 * i + 1
                    let a = v[first], b = v[second]
                    v[first] = a * cos[i] - b * sin[i]
                    v[second] = a * sin[i] + b * cos[i]
                }
            }
        }
    }
}

/// Applies rotary embeddings computing the angles directly (no table); same results as the table form.
public func applyRoPE(
    _ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, positions: UnsafePointer<Int32>,
    tokens: Int, base: Double, ropeDims: Int, neox: Bool
) {
    applyRoPE(
        x, heads: heads, headDim: headDim, positions: positions, tokens: tokens,
        table: RoPETable(base: base, ropeDims: ropeDims, maxPositions: 0), neox: neox)
}

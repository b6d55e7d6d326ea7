/// Element-wise kernels on float32 rows: RMS normalization, residual add, SwiGLU, GeGLU, soft-capping.
/// Every row is computed on its own with a fixed operation order, so results are batch invariant.
public enum Elementwise {}

/// RMS normalization: `output[r][i] = input[r][i] / sqrt(mean(input[r]^2) + eps) * weight[i]`.
///
/// The mean of squares is accumulated in 8 float lanes (column `i` in lane `i % 8`) and reduced in a
/// fixed order. `output` may equal `input`.
public func rmsNorm(
    _ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, rows: Int, width: Int,
    output: UnsafeMutablePointer<Float>
) {
    let vectorWidth = width & ~7
    for r in 0..<rows {
        let x = input + r * width
        let y = output + r * width
        var acc = SIMD8<Float>.zero
        var i = 0
        while i < vectorWidth {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            acc = acc.addingProduct(v, v)
            i += 8
        }
        var sum = SIMDKernels.horizontalSum(acc)
        for tail in vectorWidth..<width { sum = sum.addingProduct(x[tail], x[tail]) }
        let scale = 1 / (sum / Float(width) + eps).squareRoot()
        for j in 0..<width { y[j] = x[j] * scale * weight[j] }
    }
}

/// Residual add: `output[i] = a[i] + b[i]` for `count` elements (`output` may alias `a` or `b`).
public func add(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
    var i = 0
    while i + 8 <= count {
        let sum =
            UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
            + UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(output + i).storeBytes(of: sum, as: SIMD8<Float>.self)
        i += 8
    }
    while i < count { output[i] = a[i] + b[i]; i += 1 }
}

/// SwiGLU: `output[i] = silu(gate[i]) * up[i]`, with `silu(x) = x / (1 + exp(-x))` and the 8-lane
/// `SIMDKernels.exp` (the tail goes through the same function, so every element gets the same
/// arithmetic wherever it sits). `output` may equal `gate`.
public func siluMul(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
    gatedProduct(SiLU.self, gate: gate, up: up, count: count, output: output)
}

/// GeGLU with the tanh approximation of GELU (gemma's `gelu_pytorch_tanh`):
/// `output[i] = gelu(gate[i]) * up[i]`, `gelu(x) = 0.5 x (1 + tanh(z))`, `z = sqrt(2/π) (x + 0.044715 x³)`,
/// computed as the identical `x / (1 + e^(-2z))` with the 8-lane `SIMDKernels.exp` (no cancellation
/// near 0; the tail goes through the same function). `output` may equal `gate`.
public func geluTanhMul(gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>) {
    gatedProduct(GELUTanh.self, gate: gate, up: up, count: count, output: output)
}

/// The activation of a gated product, eight lanes at a time. A type rather than a closure, so that
/// each product is specialized with its activation inlined (a closure stayed a call per 8 lanes).
private protocol GatedActivation {
    static func apply(_ x: SIMD8<Float>) -> SIMD8<Float>
}

private enum SiLU: GatedActivation {
    @inline(__always)
    static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> { x / (1 + SIMDKernels.exp(-x)) }
}

private enum GELUTanh: GatedActivation {
    @inline(__always)
    static func apply(_ x: SIMD8<Float>) -> SIMD8<Float> {
        let c = SIMD8<Float>(repeating: 2 * 0.797_884_560_802_865_4)  // 2 sqrt(2/π)
        return x / (1 + SIMDKernels.exp(-(c * x.addingProduct(x * x * x, SIMD8(repeating: 0.044_715)))))
    }
}

/// `output[i] = Activation.apply(gate[i]) * up[i]`, eight lanes at a time; the tail is padded to
/// eight lanes so that every element goes through the same arithmetic.
@inline(__always)
private func gatedProduct<Activation: GatedActivation>(
    _: Activation.Type, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int, output: UnsafeMutablePointer<Float>
) {
    var i = 0
    while i < count {
        let n = min(8, count - i)
        var x = SIMD8<Float>.zero, u = SIMD8<Float>.zero
        if n == 8 {
            x = UnsafeRawPointer(gate + i).loadUnaligned(as: SIMD8<Float>.self)
            u = UnsafeRawPointer(up + i).loadUnaligned(as: SIMD8<Float>.self)
        } else {
            for lane in 0..<n { x[lane] = gate[i + lane]; u[lane] = up[i + lane] }
        }
        let y = Activation.apply(x) * u
        if n == 8 {
            UnsafeMutableRawPointer(output + i).storeBytes(of: y, as: SIMD8<Float>.self)
        } else {
            for lane in 0..<n { output[i + lane] = y[lane] }
        }
        i += 8
    }
}

/// Soft-capping in place: `x[i] = cap * tanh(x[i] / cap)` for `count` values (gemma's final logits),
/// with `tanh(v) = 2 / (1 + e^(-2v)) - 1` on the 8-lane `SIMDKernels.exp` (absolute error ~1e-7 × cap).
public func softCap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
    let inverse = SIMD8<Float>(repeating: -2 / cap), capped = SIMD8<Float>(repeating: cap)
    var i = 0
    while i < count {
        let n = min(8, count - i)
        var v = SIMD8<Float>.zero
        if n == 8 {
            v = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
        } else {
            for lane in 0..<n { v[lane] = x[i + lane] }
        }
        let y = capped * (2 / (1 + SIMDKernels.exp(v * inverse)) - 1)
        if n == 8 {
            UnsafeMutableRawPointer(x + i).storeBytes(of: y, as: SIMD8<Float>.self)
        } else {
            for lane in 0..<n { x[i + lane] = y[lane] }
        }
        i += 8
    }
}

/// Multiplies `count` values of `x` by `factor` in place (gemma's embedding scale).
public func multiplyInPlace(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
    for i in 0..<count { x[i] *= factor }
}

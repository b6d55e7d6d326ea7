import Foundation

/// Element-wise kernels on float32 rows: RMS normalization, residual add, SwiGLU.
/// Every row is computed on its own with a fixed operation order, so results are batch invariant.
public enum Elementwise {}

/// RMS normalization: `output[r][i] = input[r][i] / sqrt(mean(input[r]^2) + eps) * weight[i]`.
///
/// The mean of squares is accumulated in 8 float lanes (column `i` in lane `i % 8`) and reduced in a
/// fixed order. `output` may equal `input`.
public func rmsNorm(_ input: UnsafePointer<Float>, weight: UnsafePointer<Float>, eps: Float, rows: Int, width: Int,
                    output: UnsafeMutablePointer<Float>) {
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
    for i in 0..<count { output[i] = a[i] + b[i] }
}

/// SwiGLU: `gate[i] = silu(gate[i]) * up[i]` in place, with `silu(x) = x / (1 + exp(-x))`.
public func siluMul(gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, count: Int) {
    for i in 0..<count {
        let x = gate[i]
        gate[i] = x / (1 + Foundation.exp(-x)) * up[i]
    }
}

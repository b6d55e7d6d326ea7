import Kernels

/// Weight matrices applied to the same input (query/key/value, gate/up). When they share the
/// interleaved layout they are packed into one matrix, so the input is quantized once and the product
/// is one job for the worker pool; the outputs are then the same bits as separate products.
///
/// `@unchecked Sendable`: its matrices and offsets are never written after the model is loaded.
struct Projection: @unchecked Sendable {
    /// The matrices, in output order.
    let parts: [WeightMatrix]
    /// All parts as one interleaved matrix, when they could be packed together.
    let fused: WeightMatrix?

    /// Multiplies `tokens` rows of `input` by every part and returns where each part's rows are:
    /// in `outputs[i]` (`tokens * parts[i].rows` floats each), or, for the fused product, in place in
    /// `staging` (which holds `tokens` times the parts' total rows), so that nothing is copied twice.
    func run(
        input: UnsafePointer<Float>, tokens: Int, outputs: [UnsafeMutablePointer<Float>],
        staging: UnsafeMutablePointer<Float>, pool: WorkerPool, scratch: MatmulScratch
    ) -> [ProjectionRows] {
        guard let fused else {
            for (part, output) in zip(parts, outputs) {
                matmul(part, input: input, tokens: tokens, output: output, pool: pool, scratch: scratch)
            }
            return zip(parts, outputs).map { ProjectionRows(base: $1, stride: $0.rows) }
        }
        matmul(fused, input: input, tokens: tokens, output: staging, pool: pool, scratch: scratch)
        var offset = 0
        return parts.map { part in
            defer { offset += part.rows }
            return ProjectionRows(base: staging + offset, stride: fused.rows)
        }
    }
}

/// One part of a projection's output: row `t` at `base + t * stride`.
struct ProjectionRows {
    let base: UnsafeMutablePointer<Float>
    let stride: Int

    /// Row `t`.
    func row(_ t: Int) -> UnsafeMutablePointer<Float> { base + t * stride }

    /// Copies rows `range` (`width` floats each) to the same rows of the contiguous `destination`,
    /// unless they are there already.
    func copy(_ range: Range<Int>, width: Int, to destination: UnsafeMutablePointer<Float>) {
        guard base != destination || stride != width else { return }
        for t in range { (destination + t * width).update(from: row(t), count: width) }
    }
}

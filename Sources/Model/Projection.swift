import Kernels

/// Weight matrices applied to the same input (query/key/value, gate/up). When they share the
/// interleaved layout they are packed into one matrix, so the input is quantized once and the product
/// is one job for the worker pool; the outputs are then the same bits as separate products.
struct Projection: @unchecked Sendable {
    /// The matrices, in output order.
    let parts: [WeightMatrix]
    /// All parts as one interleaved matrix, when they could be packed together.
    let fused: WeightMatrix?

    /// Multiplies `tokens` rows of `input` by every part, writing part `i`'s rows to `outputs[i]`
    /// (`tokens * parts[i].rows` floats each). `staging` holds `tokens` times the parts' total rows, for the
    /// fused product.
    func run(input: UnsafePointer<Float>, tokens: Int, outputs: [UnsafeMutablePointer<Float>],
             staging: UnsafeMutablePointer<Float>, pool: WorkerPool, scratch: MatmulScratch) {
        guard let fused else {
            for (part, output) in zip(parts, outputs) {
                matmul(part, input: input, tokens: tokens, output: output, pool: pool, scratch: scratch)
            }
            return
        }
        matmul(fused, input: input, tokens: tokens, output: staging, pool: pool, scratch: scratch)
        var source = UnsafePointer(staging)
        for t in 0..<tokens {
            for (part, output) in zip(parts, outputs) {
                (output + t * part.rows).update(from: source, count: part.rows)
                source += part.rows
            }
        }
    }
}

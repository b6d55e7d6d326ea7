import GGUF
import Kernels

/// A layer's mixture of experts: the router and, per expert, its gate/up projection and down matrix.
///
/// GGUF stacks the experts' matrices in one 3-D tensor per kind (`ffn_gate_exps`, `ffn_up_exps`:
/// `[embedding, expert width, experts]`; `ffn_down_exps`: `[expert width, embedding, experts]`).
/// Rows are quantized one by one and the expert index is the outermost dimension, so expert `e` is
/// the contiguous row range `e * rows ..< (e + 1) * rows`: each is bound as its own ``WeightMatrix``
/// (and repacked like any matrix, gate and up fused), so the dense kernels run it unchanged.
///
/// `@unchecked Sendable`: pointers to weights that are never written after load.
struct ExpertWeights: @unchecked Sendable {
    /// The router: one row (logit) per expert.
    let router: WeightMatrix
    /// Gate and up of each expert.
    let gateUp: [Projection]
    /// Down of each expert.
    let down: [WeightMatrix]
    let configuration: ExpertConfiguration

    /// Checks that block `layer` has the router and the three stacked expert tensors, shaped for
    /// `experts` and a model `width` wide, each row a whole number of blocks. Run by
    /// ``ModelSupport/check(_:)`` and by the loader, so both refuse a malformed file the same way.
    static func checkShapes(
        file: GGUFFile, layer n: TensorManifest.Layer, width: Int,
        experts e: ExpertConfiguration
    ) throws(ModelError) {
        let shapes: [(String, [Int])] = [
            (n.router, [width, e.count]),
            (n.gateExperts, [width, e.feedForwardWidth, e.count]),
            (n.upExperts, [width, e.feedForwardWidth, e.count]),
            (n.downExperts, [e.feedForwardWidth, width, e.count])
        ]
        for (name, dimensions) in shapes {
            guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
            guard tensor.dimensions == dimensions, dimensions[0] % tensor.type.blockSize == 0 else {
                throw .tensorShape(name, expected: dimensions, actual: tensor.dimensions)
            }
        }
    }

    /// Binds block `layer`'s experts from `file` (after ``checkShapes(file:layer:width:experts:)``),
    /// calling `bind` with each tensor name used. Matrices of the interleaved types are repacked on
    /// `pool`, the file's pages released as they are.
    init(
        file: GGUFFile, layer n: TensorManifest.Layer, width: Int, experts e: ExpertConfiguration,
        pool: WorkerPool?, bind: (String) -> Void
    ) throws(ModelError) {
        try Self.checkShapes(file: file, layer: n, width: width, experts: e)
        configuration = e
        /// The tensor `name`, checked for a type the kernels compute with and for its byte size.
        func stacked(_ name: String, rows: Int, columns: Int, count: Int) throws(ModelError) -> [WeightMatrix] {
            guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
            bind(name)
            guard tensor.type.isSupported, WeightMatrix.supports(tensor.type) else {
                throw .unsupportedTensorType(name, tensor.type)
            }
            let rowBytes = columns / tensor.type.blockSize * tensor.type.bytesPerBlock
            let bytes = file.bytes(of: tensor)
            let (total, overflow) = rows.multipliedReportingOverflow(by: rowBytes * count)
            guard let base = bytes.baseAddress, !overflow, bytes.count >= total else {
                throw .invalidTensorData(name, "holds \(bytes.count) bytes, expected \(count) × \(rows) rows of \(rowBytes)")
            }
            return (0..<count).map { expert in
                WeightMatrix(type: tensor.type, rows: rows, columns: columns, data: base + expert * rows * rowBytes)
            }
        }
        let release: @Sendable (UnsafeRawBufferPointer) -> Void = { file.releasePages($0) }
        let routers = try stacked(n.router, rows: e.count, columns: width, count: 1)
        router = WeightMatrix.interleaving(routers, pool: pool, release: release) ?? routers[0]
        let gates = try stacked(n.gateExperts, rows: e.feedForwardWidth, columns: width, count: e.count)
        let ups = try stacked(n.upExperts, rows: e.feedForwardWidth, columns: width, count: e.count)
        let downs = try stacked(n.downExperts, rows: width, columns: e.feedForwardWidth, count: e.count)
        // Each expert is small (a few MiB), below the size that `interleaving` splits over the pool,
        // so the experts themselves are spread over the pool's threads, each packed by one thread.
        var gateUp = [Projection?](repeating: nil, count: e.count)
        var down = [WeightMatrix?](repeating: nil, count: e.count)
        gateUp.withUnsafeMutableBufferPointer { gateUpSlots in
            down.withUnsafeMutableBufferPointer { downSlots in
                let gateUp = gateUpSlots, down = downSlots
                let pack = { (experts: Range<Int>) in
                    for expert in experts {
                        let parts = [gates[expert], ups[expert]]
                        if let fused = WeightMatrix.interleaving(parts, release: release) {
                            gateUp[expert] = Projection(parts: parts, fused: fused)
                        } else {
                            let separate = parts.map { WeightMatrix.interleaving([$0], release: release) ?? $0 }
                            gateUp[expert] = Projection(parts: separate, fused: nil)
                        }
                        down[expert] = WeightMatrix.interleaving([downs[expert]], release: release) ?? downs[expert]
                    }
                }
                if let pool { pool.parallelFor(e.count, pack) } else { pack(0..<e.count) }
            }
        }
        self.gateUp = gateUp.compactMap { $0 }
        self.down = down.compactMap { $0 }
    }
}

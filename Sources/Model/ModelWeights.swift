import GGUF
import Kernels

/// The tensors of one transformer block.
struct LayerWeights: @unchecked Sendable {
    var attentionNorm: [Float]
    /// Query, key and value.
    var attentionInput: Projection
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var attentionOutput: WeightMatrix
    var feedForwardNorm: [Float]
    /// Gate and up.
    var feedForwardInput: Projection
    var down: WeightMatrix
}

/// All weights of a Llama-family model. Matrices stay quantized: in the memory map, or, for the types
/// the vector kernels interleave (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K), repacked once at load into
/// that layout (the same values, moved; the file's pages are then released). Query/key/value and
/// gate/up become one matrix each when their types match. Only the small norm and bias vectors become
/// `Float`.
struct ModelWeights: @unchecked Sendable {
    var tokenEmbedding: GGUFTensorInfo
    var embeddingBytes: UnsafeRawBufferPointer
    var layers: [LayerWeights]
    var outputNorm: [Float]
    var output: WeightMatrix

    init(file: GGUFFile, configuration c: ModelConfiguration) throws(ModelError) {
        func info(_ name: String) throws(ModelError) -> GGUFTensorInfo {
            guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
            guard tensor.type.isSupported, WeightMatrix.supports(tensor.type) else {
                throw .unsupportedTensorType(name, tensor.type)
            }
            return tensor
        }
        func fileMatrix(_ name: String, columns: Int, rows: Int) throws(ModelError) -> WeightMatrix {
            let tensor = try info(name)
            guard tensor.dimensions == [columns, rows] else {
                throw .tensorShape(name, expected: [columns, rows], actual: tensor.dimensions)
            }
            guard columns % tensor.type.blockSize == 0 else {
                throw .tensorShape(name, expected: [columns, rows], actual: tensor.dimensions)
            }
            let bytes = file.bytes(of: tensor)
            guard let base = bytes.baseAddress else { throw .missingTensor(name) }
            return WeightMatrix(type: tensor.type, rows: rows, columns: columns, data: base)
        }
        /// The matrices as one interleaved matrix when possible (releasing the file's pages), else nil.
        func interleaved(_ names: [String], _ parts: [WeightMatrix]) -> WeightMatrix? {
            guard let packed = WeightMatrix.interleaving(parts) else { return nil }
            for name in names { if let tensor = file.tensor(named: name) { file.releasePages(of: tensor) } }
            return packed
        }
        func matrix(_ name: String, columns: Int, rows: Int) throws(ModelError) -> WeightMatrix {
            let plain = try fileMatrix(name, columns: columns, rows: rows)
            return interleaved([name], [plain]) ?? plain
        }
        func projection(_ shapes: [(name: String, rows: Int)], columns: Int) throws(ModelError) -> Projection {
            var parts: [WeightMatrix] = []
            for shape in shapes { parts.append(try fileMatrix(shape.name, columns: columns, rows: shape.rows)) }
            if let fused = interleaved(shapes.map(\.name), parts) { return Projection(parts: parts, fused: fused) }
            // Mixed types: each part on its own, interleaved where its type allows.
            let separate = zip(shapes, parts).map { shape, part in interleaved([shape.name], [part]) ?? part }
            return Projection(parts: separate, fused: nil)
        }
        func vector(_ name: String, count: Int) throws(ModelError) -> [Float] {
            let tensor = try info(name)
            guard tensor.elementCount == count, tensor.dimensions.first == count else {
                throw .tensorShape(name, expected: [count], actual: tensor.dimensions)
            }
            do {
                return try dequantize(tensor.type, bytes: file.bytes(of: tensor), count: count)
            } catch {
                throw .unsupportedTensorType(name, tensor.type)
            }
        }
        func optionalVector(_ name: String, count: Int) throws(ModelError) -> [Float]? {
            file.tensor(named: name) == nil ? nil : try vector(name, count: count)
        }

        let width = c.embeddingWidth
        tokenEmbedding = try info("token_embd.weight")
        embeddingBytes = file.bytes(of: tokenEmbedding)
        var layers: [LayerWeights] = []
        for i in 0..<c.layerCount {
            let p = "blk.\(i)."
            layers.append(LayerWeights(
                attentionNorm: try vector(p + "attn_norm.weight", count: width),
                attentionInput: try projection([(p + "attn_q.weight", c.qWidth), (p + "attn_k.weight", c.kvWidth),
                                                 (p + "attn_v.weight", c.kvWidth)], columns: width),
                queryBias: try optionalVector(p + "attn_q.bias", count: c.qWidth),
                keyBias: try optionalVector(p + "attn_k.bias", count: c.kvWidth),
                valueBias: try optionalVector(p + "attn_v.bias", count: c.kvWidth),
                attentionOutput: try matrix(p + "attn_output.weight", columns: c.qWidth, rows: width),
                feedForwardNorm: try vector(p + "ffn_norm.weight", count: width),
                feedForwardInput: try projection([(p + "ffn_gate.weight", c.feedForwardWidth),
                                                  (p + "ffn_up.weight", c.feedForwardWidth)], columns: width),
                down: try matrix(p + "ffn_down.weight", columns: c.feedForwardWidth, rows: width)
            ))
        }
        self.layers = layers
        outputNorm = try vector("output_norm.weight", count: width)
        output = try matrix(c.tiedEmbedding ? "token_embd.weight" : "output.weight",
                            columns: width, rows: c.vocabularySize)
    }

    /// Writes the embedding of `token` (already range-checked) into `destination`.
    func embed(_ token: Int32, width: Int, into destination: UnsafeMutablePointer<Float>) {
        let type = tokenEmbedding.type
        let rowBytes = width / type.blockSize * type.bytesPerBlock
        guard let base = embeddingBytes.baseAddress else { return }
        dequantize(type, from: base + Int(token) * rowBytes, count: width, into: destination)
    }
}

import GGUF
import Kernels

/// The tensors of one transformer block, bound to the memory-mapped file.
struct LayerWeights: @unchecked Sendable {
    var attentionNorm: [Float]
    var query: WeightMatrix
    var key: WeightMatrix
    var value: WeightMatrix
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var attentionOutput: WeightMatrix
    var feedForwardNorm: [Float]
    var gate: WeightMatrix
    var up: WeightMatrix
    var down: WeightMatrix
}

/// All weights of a Llama-family model. Matrices stay quantized in the memory map; only the small
/// norm and bias vectors are converted to `Float` at load.
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
        func matrix(_ name: String, columns: Int, rows: Int) throws(ModelError) -> WeightMatrix {
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
                query: try matrix(p + "attn_q.weight", columns: width, rows: c.qWidth),
                key: try matrix(p + "attn_k.weight", columns: width, rows: c.kvWidth),
                value: try matrix(p + "attn_v.weight", columns: width, rows: c.kvWidth),
                queryBias: try optionalVector(p + "attn_q.bias", count: c.qWidth),
                keyBias: try optionalVector(p + "attn_k.bias", count: c.kvWidth),
                valueBias: try optionalVector(p + "attn_v.bias", count: c.kvWidth),
                attentionOutput: try matrix(p + "attn_output.weight", columns: c.qWidth, rows: width),
                feedForwardNorm: try vector(p + "ffn_norm.weight", count: width),
                gate: try matrix(p + "ffn_gate.weight", columns: width, rows: c.feedForwardWidth),
                up: try matrix(p + "ffn_up.weight", columns: width, rows: c.feedForwardWidth),
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

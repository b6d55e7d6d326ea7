import GGUF
import Kernels

/// The tensors of one transformer block.
///
/// `@unchecked Sendable`: pointers to weights that are never written after load.
struct LayerWeights: @unchecked Sendable {
    var attentionNorm: [Float]
    /// Query, key and value.
    var attentionInput: Projection
    var queryBias: [Float]?
    var keyBias: [Float]?
    var valueBias: [Float]?
    var attentionOutput: WeightMatrix
    var feedForwardNorm: [Float]
    /// Gate and up (nil when the layer has experts instead).
    var feedForwardInput: Projection?
    var down: WeightMatrix?
    /// The mixture of experts that replaces gate/up/down, or nil for a dense layer.
    var experts: ExpertWeights?
    /// Query and key norm weights: `headDimension` values (per head: qwen3, gemma3), or the whole
    /// projection's width (olmoe).
    var queryNorm: [Float]?
    var keyNorm: [Float]?
    /// Norms of the attention and feed-forward outputs (gemma3).
    var postAttentionNorm: [Float]?
    var postFeedForwardNorm: [Float]?
}

/// All weights of a Llama-family model. Matrices stay quantized: in the memory map, or, for the types
/// the vector kernels interleave (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K), repacked once at load into
/// that layout (the same values, moved; the file's pages are then released). Query/key/value and
/// gate/up become one matrix each when their types match. Only the small norm and bias vectors become
/// `Float`.
///
/// `@unchecked Sendable`: pointers to weights that are never written after load.
struct ModelWeights: @unchecked Sendable {
    var tokenEmbedding: GGUFTensorInfo
    var embeddingBytes: UnsafeRawBufferPointer
    var layers: [LayerWeights]
    var outputNorm: [Float]
    var output: WeightMatrix
    /// Llama 3 RoPE frequency divisors from `rope_freqs.weight` (checked: F32, `ropeDimensions / 2`
    /// finite positive values), or nil when the file has none.
    var ropeFrequencyFactors: [Float]?
    /// Phi-3's LongRoPE divisors from `rope_factors_short.weight` and `rope_factors_long.weight`
    /// (checked like `rope_freqs.weight`), or nil when the file has none.
    var longRoPEFactors: (short: [Float], long: [Float])?
    /// The name of every tensor bound above, for the check that the file holds no other.
    var boundNames: Set<String>

    /// Binds the tensors named by ``TensorManifest`` for `c`, checking every name, shape and type.
    /// Large matrices are repacked on `pool`'s threads, and each tensor's file pages are released as
    /// soon as it is repacked, so that the file and its repacked copy are never both resident.
    init(file: GGUFFile, configuration c: ModelConfiguration, pool: WorkerPool? = nil) throws(ModelError) {
        var bound: Set<String> = []
        func info(_ name: String) throws(ModelError) -> GGUFTensorInfo {
            guard let tensor = file.tensor(named: name) else { throw .missingTensor(name) }
            bound.insert(name)
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
            guard let packed = WeightMatrix.interleaving(parts, pool: pool, release: { file.releasePages($0) }) else { return nil }
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
        /// A matrix whose consecutive row ranges are separate projections (phi3's `attn_qkv`: query,
        /// key, value rows; `ffn_up`: gate, then up rows), split into views of the file's rows.
        func fusedProjection(_ name: String, rows: [Int], columns: Int) throws(ModelError) -> Projection {
            let whole = try fileMatrix(name, columns: columns, rows: rows.reduce(0, +))
            var parts: [WeightMatrix] = []
            var offset = 0
            for count in rows {
                parts.append(
                    WeightMatrix(type: whole.type, rows: count, columns: columns, data: whole.data + offset * whole.rowBytes))
                offset += count
            }
            return Projection(parts: parts, fused: interleaved([name], parts))
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
        tokenEmbedding = try info(TensorManifest.tokenEmbedding)
        embeddingBytes = file.bytes(of: tokenEmbedding)
        var layers: [LayerWeights] = []
        let biases = c.architecture == .llama || c.architecture == .qwen2
        for i in 0..<c.layerCount {
            let n = TensorManifest.Layer(i)
            layers.append(
                LayerWeights(
                    attentionNorm: try vector(n.attentionNorm, count: width),
                    attentionInput: c.fusedQueryKeyValue
                        ? try fusedProjection(n.queryKeyValue, rows: [c.qWidth, c.kvWidth, c.kvWidth], columns: width)
                        : try projection(
                            [(n.query, c.qWidth), (n.key, c.kvWidth), (n.value, c.kvWidth)],
                            columns: width),
                    queryBias: biases ? try optionalVector(n.queryBias, count: c.qWidth) : nil,
                    keyBias: biases ? try optionalVector(n.keyBias, count: c.kvWidth) : nil,
                    valueBias: biases ? try optionalVector(n.valueBias, count: c.kvWidth) : nil,
                    attentionOutput: try matrix(n.attentionOutput, columns: c.qWidth, rows: width),
                    feedForwardNorm: try vector(n.feedForwardNorm, count: width),
                    feedForwardInput: c.experts != nil
                        ? nil
                        : c.fusedGateUp
                            ? try fusedProjection(n.up, rows: [c.feedForwardWidth, c.feedForwardWidth], columns: width)
                            : try projection([(n.gate, c.feedForwardWidth), (n.up, c.feedForwardWidth)], columns: width),
                    down: c.experts != nil ? nil : try matrix(n.down, columns: c.feedForwardWidth, rows: width),
                    experts: try c.experts.map { (e) throws(ModelError) in
                        try ExpertWeights(file: file, layer: n, width: width, experts: e, pool: pool) { bound.insert($0) }
                    },
                    queryNorm: c.queryKeyNorm
                        ? try vector(n.queryNorm, count: c.queryKeyNormOverProjection ? c.qWidth : c.headDimension) : nil,
                    keyNorm: c.queryKeyNorm
                        ? try vector(n.keyNorm, count: c.queryKeyNormOverProjection ? c.kvWidth : c.headDimension) : nil,
                    postAttentionNorm: c.postNorms ? try vector(n.postAttentionNorm, count: width) : nil,
                    postFeedForwardNorm: c.postNorms ? try vector(n.postFeedForwardNorm, count: width) : nil
                ))
        }
        self.layers = layers
        outputNorm = try vector(TensorManifest.outputNorm, count: width)
        output = try matrix(
            c.tiedEmbedding ? TensorManifest.tokenEmbedding : TensorManifest.output,
            columns: width, rows: c.vocabularySize)
        if c.architecture == .llama, let tensor = file.tensor(named: ModelConfiguration.ropeFrequencyTensor) {
            ropeFrequencyFactors = try Self.ropeFrequencyFactors(tensor, file: file, pairs: c.ropeDimensions / 2)
            bound.insert(tensor.name)
        } else {
            ropeFrequencyFactors = nil
        }
        if case .longRoPE = c.ropeScaling,
            let short = file.tensor(named: RoPEScaling.longRoPEShortFactorsTensor),
            let long = file.tensor(named: RoPEScaling.longRoPELongFactorsTensor)
        {
            longRoPEFactors = (
                try Self.ropeFrequencyFactors(short, file: file, pairs: c.ropeDimensions / 2),
                try Self.ropeFrequencyFactors(long, file: file, pairs: c.ropeDimensions / 2)
            )
            bound.formUnion([short.name, long.name])
        } else {
            longRoPEFactors = nil
        }
        boundNames = bound
    }

    /// Reads and checks `rope_freqs.weight`: F32, exactly `pairs` values, each finite and positive
    /// (they divide the frequencies; llama.cpp's converters write them from Meta's formula).
    static func ropeFrequencyFactors(
        _ tensor: GGUFTensorInfo, file: GGUFFile,
        pairs: Int
    ) throws(ModelError) -> [Float] {
        guard tensor.type == .f32 else {
            throw .invalidTensorData(tensor.name, "RoPE frequency factors must be F32, found \(tensor.type)")
        }
        guard tensor.dimensions == [pairs] else {
            throw .tensorShape(tensor.name, expected: [pairs], actual: tensor.dimensions)
        }
        let bytes = file.bytes(of: tensor)
        guard bytes.count == pairs * MemoryLayout<Float>.size else {
            throw .invalidTensorData(tensor.name, "holds \(bytes.count) bytes, expected \(pairs * 4)")
        }
        let factors = (0..<pairs).map { i in
            Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
        }
        if let bad = factors.firstIndex(where: { !$0.isFinite || $0 <= 0 }) {
            throw .invalidTensorData(tensor.name, "factor \(bad) is \(factors[bad]); every factor must be finite and positive")
        }
        return factors
    }

    /// Writes the embedding of `token` (already range-checked) into `destination`.
    func embed(_ token: Int32, width: Int, into destination: UnsafeMutablePointer<Float>) {
        let type = tokenEmbedding.type
        let rowBytes = width / type.blockSize * type.bytesPerBlock
        guard let base = embeddingBytes.baseAddress else { return }
        dequantize(type, from: base + Int(token) * rowBytes, count: width, into: destination)
    }
}

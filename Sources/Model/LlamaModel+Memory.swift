import Kernels

extension LlamaModel {
    /// Bytes of weights one decode step reads: every layer matrix and the output head in the layout the
    /// products read (repacked or the file's), plus one embedding row. The norms and biases (a few KB)
    /// are left out. Divided by the machine's read bandwidth, the fastest a single stream can decode.
    public var weightBytesPerToken: Int {
        var total = weights.output.streamedBytes
        for layer in weights.layers {
            total += layer.attentionInput.streamedBytes + layer.attentionOutput.streamedBytes
            total += layer.feedForwardInput.streamedBytes + layer.down.streamedBytes
        }
        let embedding = weights.tokenEmbedding
        let rowBytes = configuration.embeddingWidth / embedding.type.blockSize * embedding.type.bytesPerBlock
        return total + rowBytes
    }

    /// Multiply-adds times two per token for the matrix products (the head included); attention not
    /// counted.
    public var matrixFlopsPerToken: Int {
        var total = weights.output.rows * weights.output.columns
        for layer in weights.layers {
            for part in layer.attentionInput.parts + layer.feedForwardInput.parts { total += part.rows * part.columns }
            total += layer.attentionOutput.rows * layer.attentionOutput.columns + layer.down.rows * layer.down.columns
        }
        return 2 * total
    }

    /// The weight bytes the forward pass reads from the memory map (matrices not repacked), so that a
    /// loader can page them in before the first step. Repacked matrices are in memory already and
    /// their file pages were released; the embedding is read a row per token and is left out.
    public var fileBackedWeights: [UnsafeRawBufferPointer] {
        var matrices = [weights.output]
        for layer in weights.layers {
            matrices += layer.attentionInput.fused.map { [$0] } ?? layer.attentionInput.parts
            matrices += layer.feedForwardInput.fused.map { [$0] } ?? layer.feedForwardInput.parts
            matrices += [layer.attentionOutput, layer.down]
        }
        return matrices.filter { !$0.isRepacked }.map {
            UnsafeRawBufferPointer(start: $0.data, count: $0.byteCount)
        }
    }
}

extension Projection {
    /// Bytes one token's product reads.
    var streamedBytes: Int { fused?.streamedBytes ?? parts.reduce(0) { $0 + $1.streamedBytes } }
}

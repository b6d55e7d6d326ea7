import Kernels

extension LlamaModel {
    /// Bytes of weights one decode step reads: every layer matrix and the output head in the layout the
    /// products read (repacked or the file's), plus one embedding row. The norms and biases (a few KB)
    /// are left out. Divided by the machine's read bandwidth, the fastest a single stream can decode.
    /// A mixture of experts counts its router and `usedCount` experts (the parameters one token
    /// activates).
    public var weightBytesPerToken: Int {
        var total = weights.output.streamedBytes
        for layer in weights.layers {
            total += layer.attentionInput.streamedBytes + layer.attentionOutput.streamedBytes
            total += (layer.feedForwardInput?.streamedBytes ?? 0) + (layer.down?.streamedBytes ?? 0)
            if let experts = layer.experts, let gateUp = experts.gateUp.first, let down = experts.down.first {
                total += experts.router.streamedBytes
                total += experts.configuration.usedCount * (gateUp.streamedBytes + down.streamedBytes)
            }
        }
        let embedding = weights.tokenEmbedding
        let rowBytes = configuration.embeddingWidth / embedding.type.blockSize * embedding.type.bytesPerBlock
        return total + rowBytes
    }

    /// Multiply-adds times two per token for the matrix products (the head included; a mixture of
    /// experts' router and `usedCount` experts); attention not counted.
    public var matrixFlopsPerToken: Int {
        var total = weights.output.rows * weights.output.columns
        for layer in weights.layers {
            for part in layer.attentionInput.parts + (layer.feedForwardInput?.parts ?? []) { total += part.rows * part.columns }
            total += layer.attentionOutput.rows * layer.attentionOutput.columns
            if let down = layer.down { total += down.rows * down.columns }
            if let experts = layer.experts, let gateUp = experts.gateUp.first, let down = experts.down.first {
                total += experts.router.rows * experts.router.columns
                let expert = gateUp.parts.reduce(down.rows * down.columns) { $0 + $1.rows * $1.columns }
                total += experts.configuration.usedCount * expert
            }
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
            if let input = layer.feedForwardInput { matrices += input.fused.map { [$0] } ?? input.parts }
            matrices += [layer.attentionOutput] + (layer.down.map { [$0] } ?? [])
            if let experts = layer.experts {
                matrices.append(experts.router)
                for gateUp in experts.gateUp { matrices += gateUp.fused.map { [$0] } ?? gateUp.parts }
                matrices += experts.down
            }
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

import Foundation
import Testing

@testable import GGUF

/// Path of the real SmolLM2 model (TANDEM_MODEL or the cache path), if it exists.
func realModelPath() -> String? {
    let path =
        ProcessInfo.processInfo.environment["TANDEM_MODEL"]
        ?? (NSHomeDirectory() + "/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf")
    return FileManager.default.fileExists(atPath: path) ? path : nil
}

/// Values checked against `gguf.GGUFReader` (gguf-py 0.19) on SmolLM2-135M-Instruct.Q4_1.gguf.
@Test(.enabled(if: realModelPath() != nil, "real model not present"))
func parsesRealModel() throws {
    let path = try #require(realModelPath())
    let clock = ContinuousClock()
    let start = clock.now
    let file = try GGUFFile(path: path)
    let elapsed = clock.now - start
    print("parsed \(path) in \(elapsed)")

    #expect(file.version == 3)
    #expect(file.fileSize == 98_362_432)
    #expect(file.alignment == 32)
    #expect(file.dataOffset == 1_785_664)
    #expect(file.architecture == "llama")
    #expect(file.metadataKeys.count == 33)
    #expect(file.metadataKeys.first == "general.architecture")
    #expect(file.metadataKeys.last == "general.quantization_version")
    #expect(file["general.name"]?.string == "Smollm2 135M 8k Lc100K Mix1 Ep2")
    #expect(file["general.languages"]?.strings == ["en"])
    #expect(file["llama.block_count"] == .uint32(30))
    #expect(file["llama.context_length"]?.int == 8192)
    #expect(file["llama.embedding_length"]?.int == 576)
    #expect(file["llama.feed_forward_length"]?.int == 1536)
    #expect(file["llama.attention.head_count"]?.int == 9)
    #expect(file["llama.attention.head_count_kv"]?.int == 3)
    #expect(file["llama.rope.freq_base"] == .float32(100_000))
    #expect(file["llama.attention.layer_norm_rms_epsilon"] == .float32(1e-5))
    #expect(file["llama.vocab_size"]?.int == 49152)
    #expect(file["llama.rope.dimension_count"]?.int == 64)
    #expect(file["general.file_type"]?.int == 3)
    #expect(file["tokenizer.ggml.model"]?.string == "gpt2")
    #expect(file["tokenizer.ggml.pre"]?.string == "smollm")
    #expect(file["tokenizer.ggml.add_space_prefix"]?.bool == false)
    #expect(file["tokenizer.ggml.bos_token_id"]?.int == 1)
    #expect(file["tokenizer.ggml.eos_token_id"]?.int == 2)
    #expect(file["tokenizer.ggml.padding_token_id"]?.int == 2)
    #expect(file["tokenizer.chat_template"]?.string?.hasPrefix("{% for message in messages %}") == true)

    let tokens = try #require(file["tokenizer.ggml.tokens"]?.strings)
    #expect(tokens.count == 49152)
    #expect(tokens[0] == "<|endoftext|>")
    #expect(tokens[1] == "<|im_start|>")
    #expect(tokens[2] == "<|im_end|>")
    let tokenTypes = try #require(file["tokenizer.ggml.token_type"]?.ints)
    #expect(tokenTypes.count == 49152)
    let merges = try #require(file["tokenizer.ggml.merges"]?.strings)
    #expect(merges.count == 48900)
    #expect(merges[0] == "Ġ t")

    #expect(file.tensors.count == 272)
    #expect(file.tensors.filter { $0.type == .q4_1 }.count == 210)
    #expect(file.tensors.filter { $0.type == .f32 }.count == 61)
    let embedding = try #require(file.tensor(named: "token_embd.weight"))
    #expect(embedding.type == .q8_0)
    #expect(embedding.dimensions == [576, 49152])
    #expect(embedding.offset == 1_785_664)
    #expect(embedding.byteCount == 30_081_024)
    let q = try #require(file.tensor(named: "blk.0.attn_q.weight"))
    #expect(q.type == .q4_1)
    #expect(q.dimensions == [576, 576])
    let down = try #require(file.tensor(named: "blk.0.ffn_down.weight"))
    #expect(down.dimensions == [1536, 576])
    #expect(down.offset == 31_868_992 && down.byteCount == 552_960)
    let norm = try #require(file.tensor(named: "output_norm.weight"))
    #expect(norm.type == .f32 && norm.offset == 98_360_128 && norm.byteCount == 2304)
    #expect(file.tensor(named: "output.weight") == nil)  // tied embedding

    // Spot-check dequantized values against gguf-py.
    let row0 = try dequantize(.q8_0, bytes: file.bytes(of: embedding), count: 576)
    #expect(Array(row0[0..<4]) == realEmbeddingRow0Prefix)
    let normValues = try dequantize(.f32, bytes: file.bytes(of: norm), count: 4)
    #expect(normValues == realOutputNormPrefix)
    let qRow = try dequantize(.q4_1, bytes: file.bytes(of: q), count: 576)
    #expect(Array(qRow[0..<4]) == realAttnQRow0Prefix)
}

/// First values of the dequantized tensors, from gguf-py's `gguf.quants.dequantize`.
let realEmbeddingRow0Prefix: [Float] = [0xbdda3400, 0x3d071400, 0x3d456c00, 0xbcbb0800].map { Float(bitPattern: $0) }
let realOutputNormPrefix: [Float] = [1.7578125, 1.8203125, 1.78125, 1.6015625]
let realAttnQRow0Prefix: [Float] = [0xbdc54000, 0x3e212000, 0xbdc54000, 0xbf3b0000].map { Float(bitPattern: $0) }

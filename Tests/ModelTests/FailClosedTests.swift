import Foundation
import GGUF
import Model
import Testing

/// Files Tandem must refuse rather than run wrong (written by scripts/make_fixtures.py
/// --synthetic as refuse-*.gguf): each differs from a runnable tiny llama in one thing the forward
/// pass does not implement, or carries a malformed rope_freqs.weight or mixture of experts. Loading and `ModelSupport`
/// must throw the same `ModelError`, and its message must name the cause.
@Suite struct FailClosedTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var file: String
        var error: ModelError
        /// Words the user must see in the message.
        var message: [String]
        var testDescription: String { file }
    }

    static let cases: [Case] = [
        Case(
            file: "refuse-arch-phi2", error: .unsupportedArchitecture("phi2"),
            message: ["unsupported model architecture 'phi2' (supported: llama, qwen2, qwen3, gemma2, gemma3, qwen3moe, olmoe, phi3)"]),
        Case(
            file: "refuse-gemma3-no-window", error: .missingMetadata("gemma3.attention.sliding_window"),
            message: ["gemma3.attention.sliding_window"]),
        Case(
            file: "refuse-gemma3-attn-softcap",
            error: .unsupportedFeature("attention logit soft-capping ('gemma3.attn_logit_softcapping')"),
            message: ["soft-capping", "gemma3.attn_logit_softcapping"]),
        Case(
            file: "refuse-qwen3-bias",
            error: .unconsumedTensors(
                architecture: "qwen3", names: ["blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"], count: 3),
            message: ["'blk.0.attn_q.bias'", "qwen3 forward pass would not use"]),
        Case(
            file: "refuse-rope-yarn", error: .missingMetadata("llama.rope.scaling.original_context_length"),
            message: ["llama.rope.scaling.original_context_length"]),
        Case(
            file: "refuse-rope-unknown", error: .unsupportedRoPEScaling(key: "llama.rope.scaling.type", type: "dynamic"),
            message: ["'dynamic'", "llama.rope.scaling.type", "supported: none, linear, llama3, yarn, longrope"]),
        Case(
            file: "refuse-yarn-ext-factor",
            error: .unsupportedFeature("YaRN setting 'llama.rope.scaling.yarn_ext_factor' = 0.5"),
            message: ["llama.rope.scaling.yarn_ext_factor"]),
        Case(
            // `longrope` needs Phi-3's factor tensors.
            file: "refuse-rope-longrope", error: .missingTensor("rope_factors_long.weight"),
            message: ["rope_factors_long.weight"]),
        Case(
            file: "refuse-rope-llama3-incomplete", error: .missingMetadata("llama.rope.scaling.low_freq_factor"),
            message: ["llama.rope.scaling.low_freq_factor"]),
        Case(
            file: "refuse-tokenizer-pre",
            error: .unsupportedTokenizer(key: "tokenizer.ggml.pre", name: "made-up", supported: []),
            message: ["unsupported tokenizer 'made-up' in 'tokenizer.ggml.pre'"]),
        Case(
            file: "refuse-sliding-window",
            error: .unsupportedFeature("sliding-window attention ('qwen2.attention.sliding_window' = 64, context length 512)"),
            message: ["sliding-window attention"]),
        Case(
            file: "refuse-tokenizer-t5",
            error: .unsupportedTokenizer(key: "tokenizer.ggml.model", name: "t5", supported: ["gpt2", "llama"]),
            message: ["unsupported tokenizer 't5'", "supported: gpt2, llama"]),
        Case(
            file: "refuse-expert-count",
            error: .unsupportedFeature("mixture of experts ('qwen3.expert_count' = 8); the qwen3 architecture has none"),
            message: ["mixture of experts", "qwen3.expert_count"]),
        Case(
            file: "refuse-moe-used-over-count",
            error: .invalidMetadata("llama.expert_used_count", "5 experts per token, but the file has 4"),
            message: ["llama.expert_used_count", "5 experts per token"]),
        Case(
            file: "refuse-moe-used-too-many",
            error: .invalidMetadata("llama.expert_used_count", "257 experts per token; Tandem runs at most 256"),
            message: ["llama.expert_used_count", "at most 256"]),
        Case(
            file: "refuse-moe-no-used-count", error: .missingMetadata("llama.expert_used_count"),
            message: ["llama.expert_used_count"]),
        Case(
            file: "refuse-moe-zero-experts",
            error: .invalidMetadata("qwen3moe.expert_count", "a qwen3moe file needs at least one expert"),
            message: ["qwen3moe.expert_count"]),
        Case(
            file: "refuse-moe-down-shape",
            error: .tensorShape("blk.0.ffn_down_exps.weight", expected: [128, 64, 4], actual: [96, 64, 4]),
            message: ["blk.0.ffn_down_exps.weight", "[96, 64, 4]", "[128, 64, 4]"]),
        Case(
            file: "refuse-moe-shared",
            error: .unsupportedFeature("shared experts ('llama.expert_shared_count' = 1); the llama architecture has none"),
            message: ["shared experts", "llama.expert_shared_count"]),
        Case(
            file: "refuse-moe-sigmoid",
            error: .unsupportedFeature("expert gating function 2 in 'llama.expert_gating_func' (supported: 1, softmax)"),
            message: ["gating", "llama.expert_gating_func"]),
        Case(
            file: "refuse-moe-groups", error: .unsupportedFeature("mixture-of-experts variant 'llama.expert_group_count'"),
            message: ["llama.expert_group_count"]),
        Case(
            file: "refuse-qwen3-as-qwen2",
            error: .unconsumedTensors(
                architecture: "qwen2",
                names: ["blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"], count: 2),
            message: ["'blk.0.attn_q_norm.weight'", "qwen2 forward pass would not use"]),
        Case(
            file: "refuse-extra-norm",
            error: .unconsumedTensors(architecture: "llama", names: ["blk.0.post_attention_norm.weight"], count: 1),
            message: ["'blk.0.post_attention_norm.weight'"]),
        Case(
            file: "refuse-rope-freqs-nan",
            error: .invalidTensorData("rope_freqs.weight", "factor 2 is nan; every factor must be finite and positive"),
            message: ["rope_freqs.weight", "nan"]),
        Case(
            file: "refuse-rope-freqs-zero",
            error: .invalidTensorData("rope_freqs.weight", "factor 7 is 0.0; every factor must be finite and positive"),
            message: ["rope_freqs.weight", "positive"]),
        Case(
            file: "refuse-rope-freqs-length", error: .tensorShape("rope_freqs.weight", expected: [8], actual: [9]),
            message: ["rope_freqs.weight", "[9]", "[8]"]),
        Case(
            file: "refuse-rope-freqs-f16",
            error: .invalidTensorData("rope_freqs.weight", "RoPE frequency factors must be F32, found F16"),
            message: ["rope_freqs.weight", "F32"]),
        // Phi-3: fused projections of the wrong shape, malformed LongRoPE factors, a variant tensor.
        Case(
            file: "refuse-phi3-qkv-shape", error: .tensorShape("blk.0.attn_qkv.weight", expected: [64, 128], actual: [64, 96]),
            message: ["blk.0.attn_qkv.weight", "[64, 96]", "[64, 128]"]),
        Case(
            file: "refuse-phi3-up-shape", error: .tensorShape("blk.0.ffn_up.weight", expected: [64, 256], actual: [64, 128]),
            message: ["blk.0.ffn_up.weight", "[64, 128]", "[64, 256]"]),
        Case(
            file: "refuse-phi3-factors-nan",
            error: .invalidTensorData("rope_factors_long.weight", "factor 1 is nan; every factor must be finite and positive"),
            message: ["rope_factors_long.weight", "nan"]),
        Case(
            file: "refuse-phi3-factors-length", error: .tensorShape("rope_factors_short.weight", expected: [8], actual: [9]),
            message: ["rope_factors_short.weight", "[9]", "[8]"]),
        Case(
            file: "refuse-phi3-one-factor-set", error: .missingTensor("rope_factors_short.weight"),
            message: ["rope_factors_short.weight"]),
        Case(
            file: "refuse-phi3-gate",
            error: .unconsumedTensors(architecture: "phi3", names: ["blk.0.ffn_gate.weight"], count: 1),
            message: ["'blk.0.ffn_gate.weight'", "phi3 forward pass would not use"])
    ]

    @Test(arguments: cases)
    func refusedWithANamedReason(_ c: Case) throws {
        let file = try Fixtures.generatedModel(c.file)
        #expect(throws: c.error) { _ = try ModelSupport.check(file) }
        #expect(throws: c.error) { _ = try LlamaModel(file: file, threads: 1) }
        for words in c.message {
            #expect(c.error.description.contains(words), "\(c.error.description) lacks \(words)")
        }
    }

    /// The runnable fixtures pass, and every tensor in them is one the loader binds.
    @Test(arguments: [
        "tiny-llama-q8", "tiny-llama-mixed", "tiny-qwen2", "tiny-llama-f32", "tiny-llama3-rope-freqs",
        "tiny-llama3-rope-metadata", "tiny-llama-rope-linear", "tiny-qwen3", "tiny-qwen3-q8", "tiny-gemma3",
        "tiny-gemma3-q8", "tiny-gemma2", "tiny-qwen3moe", "tiny-mixtral", "tiny-olmoe", "tiny-qwen3moe-q8",
        "tiny-mixtral-q4k", "tiny-phi3", "tiny-phi3-short", "tiny-phi3-q8", "tiny-mistral", "tiny-qwen2-yarn"
    ])
    func runnableFilesPass(name: String) throws {
        let file = try Fixtures.generatedModel(name)
        let configuration = try ModelSupport.check(file)
        let consumed = TensorManifest.consumedNames(configuration)
        for tensor in file.tensors { #expect(consumed.contains(tensor.name), "\(tensor.name)") }
    }

    /// The unconsumed-tensor error names at most `namedTensorLimit` tensors and counts the rest.
    @Test func manyUnconsumedTensorsAreCounted() {
        let names = (0..<10).map { "blk.\($0).ffn_gate_exps.weight" }
        #expect(throws: ModelError.unconsumedTensors(architecture: "llama", names: Array(names.prefix(4)), count: 10)) {
            try ModelSupport.checkAllConsumed(
                tensorNames: ["token_embd.weight"] + names, consumed: ["token_embd.weight"],
                architecture: "llama")
        }
        let message = ModelError.unconsumedTensors(architecture: "llama", names: Array(names.prefix(4)), count: 10)
            .description
        #expect(message.contains("10 tensors") && message.contains("and 6 more"))
    }
}

import Foundation
import GGUF
import Model
import Testing

/// Small random models (written by scripts/make_fixtures.py --synthetic) against the float64
/// reference forward: every architecture (llama, qwen2, qwen3, gemma2, gemma3, phi3, qwen3moe, olmoe,
/// Mixtral-style llama), every supported tensor type, GQA, tied and separate heads, RoPE scaling (llama3,
/// linear, LongRoPE, YaRN), partial rotary dimensions, Gemma's sliding-window layers and soft-capping,
/// Mistral's and Phi-3's windows, mixture-of-experts routing.
@Suite struct SyntheticModelReferenceTests {
    struct Reference: Decodable {
        struct Prompt: Decodable {
            var tokens: [Int32]
            var logits: [[Double]]
            var greedy_tokens: [Int32]
            var greedy_margins: [Double]
        }
        var prompts: [Prompt]
    }

    /// Worst |Δlogit| relative to the largest |logit| of the row. With F32 weights only float
    /// rounding separates Tandem from float64 (measured 8e-7); quantized weights also quantize the
    /// activations to 8 bits per block (like llama.cpp), measured at 3-5% on these random models,
    /// whose logits are far less smooth than a trained model's. A wrong formula is off by ~100%.
    static let cases: [(name: String, relativeTolerance: Double)] = [
        ("tiny-llama-f32", 1e-4),
        ("tiny-llama-q8", 0.05),
        ("tiny-llama-mixed", 0.08),
        ("tiny-qwen2", 0.08),
        // RoPE scaling, F32 weights: Llama 3 factors from rope_freqs.weight, Llama 3 factors from
        // metadata, linear. With the scaling dropped, the worst relative error is 1.07-1.25.
        ("tiny-llama3-rope-freqs", 1e-4),
        ("tiny-llama3-rope-metadata", 1e-4),
        ("tiny-llama-rope-linear", 1e-4),
        // Qwen3: per-head q/k norms, no biases, head size 32 with n_embd / n_head = 16 (F32), and a
        // Q8_0 file with a separate head.
        ("tiny-qwen3", 1e-4),
        ("tiny-qwen3-q8", 0.05),
        // Gemma 3: scaled embedding, (1 + w) norms stored shifted, post-norms, GeGLU, q/k norms, five
        // local layers (window 8, RoPE base 10000) and a global one with linear scaling (F32); and a
        // Q8_0 file of 7 layers (window 12). See docs/models.md for what each ablation does.
        ("tiny-gemma3", 1e-4),
        ("tiny-gemma3-q8", 0.08),
        // Gemma 2: even layers local (window 8), attention and final-logit soft-capping.
        ("tiny-gemma2", 1e-4),
        // Phi-3: fused QKV and gate/up, NeoX RoPE on 12 of 16 dimensions, LongRoPE long factors
        // (original context 16, prompts to 41) and attention factor; the short factors (run with a
        // context equal to the original one, see `contextLengths`); Q8_0 with a window of 12.
        ("tiny-phi3", 1e-4),
        ("tiny-phi3-short", 1e-4),
        ("tiny-phi3-q8", 0.05),
        // Mistral: a llama file with a sliding window of 16 on every layer.
        ("tiny-mistral", 1e-4),
        // Qwen2.5 long context: YaRN factor 4, original context 2048, attention factor 0.1 ln 4 + 1.
        ("tiny-qwen2-yarn", 1e-4),
        // Mixtures of experts (8 experts): Qwen3-MoE (top-2 renormalised), Mixtral-style llama
        // (top-2, softmax over the selected), OLMoE (top-3 not renormalised, q/k norms over the
        // whole projection), and a Q8_0 Qwen3-MoE.
        ("tiny-qwen3moe", 1e-4),
        ("tiny-mixtral", 1e-4),
        ("tiny-olmoe", 1e-4),
        // Against the reference with 8-bit activation rounding emulated (make_fixtures.py: exact float64
        // routes differently at 2 positions); measured 2.5e-7, an integer quant flipped at a rounding
        // boundary would cost ~1e-3.
        ("tiny-qwen3moe-q8", 1e-3),
        // Q4_K gate/up and Q6_K down experts (Mixtral layout), against the emulated reference too.
        ("tiny-mixtral-q4k", 1e-3)
    ]

    /// Fixtures run with a context shorter than the file's (the reference's `run_context`).
    static let contextLengths = ["tiny-phi3-short": 256]

    @Test(arguments: cases.map(\.name))
    func logitsMatchTheFloat64Reference(name: String) throws {
        let tolerance = try #require(Self.cases.first { $0.name == name }).relativeTolerance
        let model = try LlamaModel(file: Fixtures.generatedModel(name), contextLength: Self.contextLengths[name])
        let reference = try Fixtures.json("generated/\(name).json", as: Reference.self)
        var worst = 0.0
        var checkedSteps = 0, equalSteps = 0
        for prompt in reference.prompts {
            let logits = try logitsOfEveryPosition(model, tokens: prompt.tokens + prompt.greedy_tokens, chunk: 7)
            for (position, expected) in prompt.logits.enumerated() {
                let scale = expected.map(abs).max() ?? 1
                for (id, value) in expected.enumerated() {
                    worst = max(worst, abs(Double(logits[position][id]) - value) / scale)
                }
            }
            for step in prompt.greedy_tokens.indices {
                let row = logits[prompt.tokens.count - 1 + step]
                // A margin is clear when the tolerated error (`tolerance` of the row's largest
                // |logit|, on each of the two logits) cannot close it.
                let scale = Double(row.map(abs).max() ?? 1)
                guard prompt.greedy_margins[step] > max(0.05, 2 * tolerance * scale) else { continue }
                let argmax = row.indices.max { row[$0] < row[$1] } ?? -1
                #expect(Int32(argmax) == prompt.greedy_tokens[step], "\(name) step \(step)")
                checkedSteps += 1
                if Int32(argmax) == prompt.greedy_tokens[step] { equalSteps += 1 }
            }
        }
        print("\(name): worst relative |Δlogit| \(worst), greedy tokens equal at \(equalSteps) of \(checkedSteps) clear steps")
        #expect(checkedSteps > 0)
        #expect(worst < tolerance)
    }
}

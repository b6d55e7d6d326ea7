import ArgumentParser
import Engine
import Foundation
import Tokenizer

/// `tandem generate`: a raw completion of a prompt (no chat template), streamed to stdout.
struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Complete a prompt (no chat template) and stream the text to stdout."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The prompt. Special-token text such as <|im_start|> becomes its special token.")
    var prompt: String

    @Option(help: "Maximum number of tokens to generate.")
    var maxTokens = 128

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(help: "Keep only the K most likely tokens (0: off).")
    var topK = 40

    @Option(help: "Nucleus sampling mass (1: off).")
    var topP: Float = 0.95

    @Option(help: "Minimum probability relative to the most likely token (0: off).")
    var minP: Float = 0.05

    @Option(help: "Penalty for tokens already in the prompt or output (1: off).")
    var repetitionPenalty: Float = 1

    @Option(help: "Penalty for tokens already in the output (0: off).")
    var presencePenalty: Float = 0

    @Option(help: "Penalty per occurrence in the output (0: off).")
    var frequencyPenalty: Float = 0

    @Option(help: "Random seed; the same seed gives the same output.")
    var seed: UInt64?

    @Flag(help: "Keep generating through end-of-generation tokens until --max-tokens.")
    var ignoreEOS = false

    @Flag(help: "Print one JSON object (text, token ids, finish reason, timings) instead of streaming.")
    var json = false

    func run() throws {
        let file = try modelOptions.openFile()
        let tokenizer = try modelOptions.loadTokenizer(file)
        let model = try modelOptions.loadModel(file)
        let sampling = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty,
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, seed: seed)
        do { try sampling.validate() } catch { throw CLIError("\(error)") }
        guard maxTokens >= 0 else { throw CLIError("--max-tokens must be >= 0") }

        let promptTokens = tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
        let generator = Generator(model: model, endOfGeneration: tokenizer.endOfGenerationTokens)
        var decoder = IncrementalDecoder(tokenizer: tokenizer)
        let output = FileHandle.standardOutput
        let options = Generator.Options(maxTokens: maxTokens, sampling: sampling, ignoreEOS: ignoreEOS)
        let result: Generator.Result
        do {
            result = try generator.generate(prompt: promptTokens, options: options) { token in
                if !json { output.write(Data(decoder.append(token).utf8)) }
                return true
            }
        } catch {
            throw CLIError("\(error)")
        }
        if json {
            let report = GenerateReport(
                text: tokenizer.decode(result.tokens), token_ids: result.tokens, prompt_token_ids: promptTokens,
                finish_reason: result.finishReason.rawValue,
                timings: .init(
                    prompt_tokens: promptTokens.count, generated_tokens: result.tokens.count,
                    prompt_seconds: result.prefillSeconds, decode_seconds: result.decodeSeconds,
                    prompt_tokens_per_s: result.promptTokensPerSecond,
                    decode_tokens_per_s: result.decodeTokensPerSecond))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            output.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            output.write(Data((decoder.flush() + "\n").utf8))
            standardError(
                String(
                    format: "[%d prompt tokens: %.1f tok/s, %d generated: %.1f tok/s, finish: %@]",
                    promptTokens.count, result.promptTokensPerSecond, result.tokens.count,
                    result.decodeTokensPerSecond, result.finishReason.rawValue))
        }
    }
}

/// The `--json` output of `generate`.
private struct GenerateReport: Encodable {
    struct Timings: Encodable {
        var prompt_tokens: Int
        var generated_tokens: Int
        var prompt_seconds: Double
        var decode_seconds: Double
        var prompt_tokens_per_s: Double
        var decode_tokens_per_s: Double
    }
    var text: String
    var token_ids: [Int32]
    var prompt_token_ids: [Int32]
    var finish_reason: String
    var timings: Timings
}

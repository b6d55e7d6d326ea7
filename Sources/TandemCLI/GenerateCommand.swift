import ArgumentParser
import Engine
import Foundation
import Tokenizer

/// `tandem generate`: a raw completion of a prompt (no chat template), streamed to stdout.
struct GenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Complete a prompt (no chat template) and stream the text to stdout."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var speculationOptions: SpeculationOptions

    @Option(help: "The prompt. Special-token text such as <|im_start|> becomes its special token.")
    var prompt: String

    @Option(help: "Maximum number of tokens to generate (fewer if the context ends first).")
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

    @Option(name: .customLong("stop"), help: "A string that ends generation (repeatable); it is not printed.")
    var stopStrings: [String] = []

    @Flag(help: "Keep generating through end-of-generation tokens until --max-tokens.")
    var ignoreEOS = false

    @Flag(help: "Print one JSON object (text, token ids, finish reason, timings) instead of streaming.")
    var json = false

    func run() async throws {
        guard maxTokens >= 1 else { throw CLIError("--max-tokens must be >= 1") }
        let file = try modelOptions.openFile()
        let tokenizer = try modelOptions.loadTokenizer(file)
        let model = try modelOptions.loadModel(file)
        let sampling = SamplingParameters(
            temperature: temperature, topK: topK, topP: topP, minP: minP, repetitionPenalty: repetitionPenalty,
            presencePenalty: presencePenalty, frequencyPenalty: frequencyPenalty, seed: seed)
        do { try sampling.validate() } catch { throw CLIError("\(error)") }

        let promptTokens = tokenizer.encode(prompt, addSpecial: true, parseSpecial: true)
        let context = model.configuration.contextLength
        guard promptTokens.count < context else {
            throw CLIError("the prompt has \(promptTokens.count) tokens, but the model's context holds \(context)")
        }
        let budget = min(maxTokens, context - promptTokens.count)
        // One request: a KV cache of its length, and room for the drafts of two steps in flight.
        var configuration = Engine.Configuration()
        configuration.speculation = try speculationOptions.speculation(for: model, path: try modelOptions.resolvedPath())
        var cache = CPUDevice.CacheConfiguration()
        cache.tokens = promptTokens.count + budget + 2 * (configuration.speculation.map { $0.maxDraftTokens + 1 } ?? 0)
        cache.precision = .float32  // single requests keep the f32 cache (docs/benchmarks.md)
        let engine = Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
        defer { engine.shutdown() }
        let request = GenerationRequest(
            id: "generate", promptTokens: promptTokens, sampling: sampling, maxTokens: budget, ignoreEOS: ignoreEOS,
            stopStrings: stopStrings)
        let stream: AsyncStream<GenerationEvent>
        do { stream = try engine.submit(request) } catch { throw CLIError("\(error)") }

        let output = FileHandle.standardOutput
        var result = GenerationResult(id: request.id)
        for await event in stream {
            result.append(event)
            if !json, case .output(let piece) = event { output.write(Data(piece.text.utf8)) }
        }
        let timings = SingleRequestTimings(result.usage)
        if json {
            let report = GenerateReport(
                text: result.text, token_ids: result.tokenIDs, prompt_token_ids: promptTokens,
                finish_reason: result.finishReason.rawValue,
                timings: .init(
                    prompt_tokens: promptTokens.count, generated_tokens: result.usage.completionTokens,
                    prompt_seconds: timings.prefillSeconds, decode_seconds: timings.decodeSeconds,
                    prompt_tokens_per_s: timings.prefillTokensPerSecond, decode_tokens_per_s: timings.decodeTokensPerSecond,
                    drafted_tokens: engine.currentStatistics.draftedTokens,
                    accepted_draft_tokens: engine.currentStatistics.acceptedDraftTokens))
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            output.write(try encoder.encode(report) + Data("\n".utf8))
        } else {
            output.write(Data("\n".utf8))
            let statistics = engine.currentStatistics
            let drafts =
                configuration.speculation.map {
                    String(
                        format: ", drafts accepted: %d of %d (costs %.2f + %.2f per token)", statistics.acceptedDraftTokens,
                        statistics.draftedTokens, $0.draftCost, $0.tokenCost)
                } ?? ""
            standardError(
                String(
                    format: "[%d prompt tokens: %.1f tok/s, %d generated: %.1f tok/s%@, finish: %@]",
                    promptTokens.count, timings.prefillTokensPerSecond, result.usage.completionTokens,
                    timings.decodeTokensPerSecond, drafts, result.finishReason.rawValue))
        }
    }
}

/// Prefill and decode rates of one request, from its usage: the prefill ends with the first
/// token; the decode rate counts the tokens after it.
struct SingleRequestTimings {
    var prefillSeconds: Double
    var decodeSeconds: Double
    var prefillTokensPerSecond: Double
    var decodeTokensPerSecond: Double

    init(_ usage: GenerationUsage) {
        prefillSeconds = usage.timeToFirstTokenSeconds ?? usage.totalSeconds
        decodeSeconds = max(usage.totalSeconds - prefillSeconds, 0)
        prefillTokensPerSecond = Double(usage.promptTokens) / max(prefillSeconds, 1e-9)
        decodeTokensPerSecond = Double(max(usage.completionTokens - 1, 0)) / max(decodeSeconds, 1e-9)
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
        var drafted_tokens: Int
        var accepted_draft_tokens: Int
    }
    var text: String
    var token_ids: [Int32]
    var prompt_token_ids: [Int32]
    var finish_reason: String
    var timings: Timings
}

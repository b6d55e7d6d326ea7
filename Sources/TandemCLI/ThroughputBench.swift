import ArgumentParser
import Engine
import Foundation
import JSON
import Model
import Tokenizer

/// `tandem bench throughput`: offline batch throughput, like `vllm bench throughput`.
struct ThroughputBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "throughput",
        abstract: "Offline throughput of many requests at once (like `vllm bench throughput`), async vs sync."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions

    @Option(help: "Number of requests.")
    var numPrompts = 64

    @Option(help: "Prompt tokens per request (random token ids, distinct per request).")
    var inputLen = 128

    @Option(help: "Generated tokens per request (end-of-generation tokens are ignored).")
    var outputLen = 128

    @Option(help: "Sampling temperature (0: greedy, like the llama.cpp comparison; vLLM's bench samples at 1). Seeded per request.")
    var temperature: Float = 0

    @Option(help: "Top-p with --temperature above 0 (1 disables).")
    var topP: Float = 1

    @Flag(
        help:
            "The costliest parameters a request may send: top_k = vocabulary - 1, all penalties, 1,024 logit biases, 20 logprobs and 16 stop strings of 1,024 bytes that never match (with --temperature, else greedy plus the rest)."
    )
    var worstCaseSampling = false

    @Option(help: "Constrain every request to this JSON Schema file ('default': the schema of `bench grammar`).")
    var jsonSchema: String?

    @Flag(help: "With --json-schema: warm up with one constrained request of --output-len tokens first (the mask cache a server keeps per schema).")
    var warmConstraint = false

    @Flag(help: "Run both modes in one run and compare: throughput ratio and identical outputs.")
    var compareSync = false

    @Option(help: "Write a Chrome trace / Perfetto JSON of the steps (host and device tracks).")
    var trace: String?

    @Option(help: "Write an SVG picture of the step timeline (sync above async with --compare-sync).")
    var svg: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() async throws {
        guard numPrompts > 0, inputLen > 0, outputLen > 0 else { throw CLIError("counts and lengths must be positive") }
        var sampling = SamplingParameters(temperature: temperature, topP: topP)
        let file = try modelOptions.openFile()
        let tokenizer = try modelOptions.loadTokenizer(file)
        let model = try modelOptions.loadModel(file)
        let vocabulary = model.configuration.vocabularySize
        if worstCaseSampling {
            sampling.topK = vocabulary - 1
            sampling.repetitionPenalty = 1.1
            sampling.presencePenalty = 0.5
            sampling.frequencyPenalty = 0.5
            for i in 0..<SamplingParameters.maxLogitBiasEntries { sampling.logitBias[Int32(i * 37 % vocabulary)] = 0.01 }
        }
        do { try sampling.validate(vocabularySize: vocabulary) } catch { throw CLIError("\(error)") }
        let requests = makeRequests(vocabulary: vocabulary, tokenizer: tokenizer, sampling: sampling)

        let modes: [Bool] = compareSync ? [true, false] : [!engineOptions.sync]  // async first
        var reports: [(name: String, report: ThroughputReport, results: [GenerationResult], steps: [StepRecord])] = []
        for asynchronous in modes {
            let name = asynchronous ? "async" : "sync"
            let engine = Engine(
                model: model, tokenizer: tokenizer,
                configuration: try engineOptions.configuration(
                    for: model, path: try modelOptions.resolvedPath(), asynchronous: asynchronous,
                    recordSteps: trace != nil || svg != nil),
                cache: try engineOptions.cache(for: model))
            var requests = requests
            if let jsonSchema {
                let schema: JSONValue
                if jsonSchema == "default" {
                    schema = GrammarBench.defaultSchema
                } else {
                    guard let parsed = try? JSONValue.parse(Array(try Data(contentsOf: URL(fileURLWithPath: jsonSchema)))) else {
                        throw CLIError("\(jsonSchema) is not JSON")
                    }
                    schema = parsed
                }
                let runtime: ConstraintRuntime
                do { runtime = try engine.constraint(.jsonSchema(schema)) } catch { throw CLIError("\(error)") }
                for index in requests.indices { requests[index].constraint = runtime }
            }
            // Warm up (page in weights, grow buffers) outside the measurement.
            var warmup = GenerationRequest(
                id: "warmup", promptTokens: Array(requests[0].promptTokens.prefix(16)), maxTokens: 4, ignoreEOS: true)
            if warmConstraint, let constraint = requests[0].constraint {
                warmup.constraint = constraint
                warmup.maxTokens = outputLen
            }
            _ = try await engine.generateBatch([warmup])
            let before = engine.currentStatistics
            let progress = ProgressBar(label: "\(name) ", total: requests.count)
            let start = DispatchTime.now().uptimeNanoseconds
            let results = try await engine.generateBatch(requests) { done in progress.update(done) }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            progress.finish()
            let after = engine.currentStatistics
            let steps = engine.steps.filter { $0.prepareStart >= start }
            engine.shutdown()
            reports.append(
                (
                    name, ThroughputReport(results: results, seconds: seconds, before: before, after: after),
                    results, steps
                ))
        }

        if let trace {
            try TimelineExport.chromeTrace(reports.map { ($0.name, $0.steps) }).write(to: URL(fileURLWithPath: trace))
        }
        if let svg {
            try TimelineExport.svg(reports.reversed().map { ($0.name, $0.steps) })
                .write(toFile: svg, atomically: true, encoding: .utf8)
        }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        if compareSync, reports.count == 2 {
            let asyncReport = reports[0], syncReport = reports[1]
            let identical = zip(asyncReport.results, syncReport.results).allSatisfy { $0.tokenIDs == $1.tokenIDs }
            let speedup = asyncReport.report.output_tokens_per_s / max(syncReport.report.output_tokens_per_s, 1e-9)
            if json {
                let object = Comparison(
                    async: asyncReport.report, sync: syncReport.report, speedup: speedup,
                    identical_outputs: identical)
                print(String(decoding: try encoder.encode(object), as: UTF8.self))
            } else {
                printTable([("async", asyncReport.report), ("sync", syncReport.report)])
                print(
                    String(
                        format: "async/sync output throughput: %.3fx; identical outputs: %@", speedup,
                        identical ? "yes" : "NO"))
            }
        } else if let only = reports.first {
            if json {
                print(String(decoding: try encoder.encode(only.report), as: UTF8.self))
            } else {
                printTable([(only.name, only.report)])
            }
        }
    }

    private func makeRequests(vocabulary: Int, tokenizer: Tokenizer, sampling: SamplingParameters) -> [GenerationRequest] {
        // Random ordinary tokens, like vLLM's random dataset; distinct per request.
        var state: UInt64 = 0x5EED
        let usable = (0..<Int32(vocabulary)).filter { !tokenizer.isControl($0) }
        return (0..<numPrompts).map { index in
            let prompt = (0..<inputLen).map { _ -> Int32 in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return usable[Int((state >> 33) % UInt64(usable.count))]
            }
            var seeded = sampling
            seeded.seed = UInt64(index)
            // Stop strings of 1,024 bytes that never match: every step feeds every automaton.
            let stops = worstCaseSampling ? (0..<16).map { String(repeating: "\u{1}", count: 1023) + String($0) } : []
            return GenerationRequest(
                id: "bench-\(index)", promptTokens: prompt, sampling: seeded, maxTokens: outputLen,
                ignoreEOS: true, stopStrings: stops, topLogprobs: worstCaseSampling ? 20 : nil)
        }
    }

    private func printTable(_ rows: [(String, ThroughputReport)]) {
        print("mode    requests/s  output tok/s  total tok/s  decode tok/s  device idle  mean batch  tokens/step  steps  preemptions  wall s")
        for (name, r) in rows {
            print(
                String(
                    format: "%-6@ %11.2f %13.1f %12.1f %13.1f %11.2f%% %11.1f %12.1f %6d %12d %7.2f",
                    name, r.requests_per_s, r.output_tokens_per_s, r.total_tokens_per_s, r.decode_tokens_per_s,
                    r.device_idle_fraction * 100, r.mean_batch_size, r.mean_tokens_per_step, r.steps,
                    r.preemptions, r.elapsed_s))
        }
        for (name, r) in rows where r.drafted_tokens > 0 {
            print(
                String(
                    format: "%@: drafts accepted %d of %d (%.1f%%), mean accepted length %.2f", name, r.accepted_draft_tokens,
                    r.drafted_tokens, 100 * r.draft_acceptance_rate, r.mean_accepted_length))
        }
    }
}

/// The figures `bench throughput` reports for one mode (vLLM's names where they exist).
struct ThroughputReport: Encodable {
    var requests: Int
    var elapsed_s: Double
    var requests_per_s: Double
    var output_tokens_per_s: Double
    var total_tokens_per_s: Double
    var device_idle_fraction: Double
    var device_busy_s: Double
    var device_idle_s: Double
    var host_prepare_s: Double
    var mean_batch_size: Double
    var mean_tokens_per_step: Double
    /// Batched decode rate: tokens of the decode-only steps over their device time (busy + idle),
    /// the figure a peer's decode loop reports once all prompts are prefilled.
    var decode_tokens_per_s: Double
    var decode_steps: Int
    var steps: Int
    var preemptions: Int
    /// Speculative decoding: drafts verified and accepted, accepted / drafted, and the tokens a
    /// verifying sequence-step yielded on average.
    var drafted_tokens: Int
    var accepted_draft_tokens: Int
    var draft_acceptance_rate: Double
    var mean_accepted_length: Double

    init(results: [GenerationResult], seconds: Double, before: EngineStatistics, after: EngineStatistics) {
        let promptTokens = results.reduce(0) { $0 + $1.usage.promptTokens }
        let outputTokens = results.reduce(0) { $0 + $1.tokenIDs.count }
        requests = results.count
        elapsed_s = seconds
        requests_per_s = Double(results.count) / seconds
        output_tokens_per_s = Double(outputTokens) / seconds
        total_tokens_per_s = Double(promptTokens + outputTokens) / seconds
        device_busy_s = after.deviceBusySeconds - before.deviceBusySeconds
        device_idle_s = after.deviceIdleSeconds - before.deviceIdleSeconds
        device_idle_fraction = device_idle_s / max(device_busy_s + device_idle_s, 1e-12)
        host_prepare_s = after.hostPrepareSeconds - before.hostPrepareSeconds
        steps = after.steps - before.steps
        mean_batch_size = Double(after.scheduledSequences - before.scheduledSequences) / Double(max(steps, 1))
        mean_tokens_per_step = Double(after.scheduledTokens - before.scheduledTokens) / Double(max(steps, 1))
        preemptions = after.preemptions - before.preemptions
        decode_steps = after.decodeOnlySteps - before.decodeOnlySteps
        decode_tokens_per_s =
            Double(after.decodeOnlyTokens - before.decodeOnlyTokens)
            / max(after.decodeOnlyDeviceSeconds - before.decodeOnlyDeviceSeconds, 1e-12)
        drafted_tokens = after.draftedTokens - before.draftedTokens
        accepted_draft_tokens = after.acceptedDraftTokens - before.acceptedDraftTokens
        draft_acceptance_rate = Double(accepted_draft_tokens) / Double(max(drafted_tokens, 1))
        let verifications = after.verifications - before.verifications
        mean_accepted_length = verifications > 0 ? 1 + Double(accepted_draft_tokens) / Double(verifications) : 0
    }
}

private struct Comparison: Encodable {
    var async: ThroughputReport
    var sync: ThroughputReport
    var speedup: Double
    var identical_outputs: Bool
}

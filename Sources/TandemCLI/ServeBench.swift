import ArgumentParser
import Foundation
import ServingBenchmark

/// `tandem bench serve`: load-test a running OpenAI-compatible server (Tandem, vLLM,
/// llama.cpp's llama-server, …) with streaming requests, with the metrics of `vllm bench serve`.
struct ServeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Benchmark a running OpenAI-compatible server (like `vllm bench serve`).",
        discussion: """
            Sends --num-prompts streaming requests of random English words (~--input-len tokens, made \
            exact with the server's /tokenize when it has one) with max_tokens = --output-len and \
            temperature 0, arriving as a Poisson/gamma process of --request-rate (inf: all at once), at \
            most --max-concurrency at a time. With --shared-prefixes, each prompt starts with one of that many \
            shared prefixes of --shared-prefix-len tokens (a system prompt on the chat endpoint). Reports TTFT, TPOT, ITL and E2EL (mean/median/p99 ms), \
            throughputs and goodput, defined as vLLM defines them. Set OPENAI_API_KEY to send a bearer token.
            """
    )

    @Option(help: "Server root URL, e.g. http://127.0.0.1:8000 (without /v1).")
    var baseURL: String

    @Option(help: "Model name to send (default: the first one GET /v1/models lists).")
    var model: String?

    @Option(help: "API endpoint: /v1/completions or /v1/chat/completions.")
    var endpoint = "/v1/completions"

    @Option(help: "Number of requests.")
    var numPrompts = 100

    @Option(help: "Requests per second (Poisson/gamma arrivals), or inf to send all at once.")
    var requestRate = "inf"

    @Option(help: "Gamma shape of the arrivals: 1 = Poisson, < 1 burstier, > 1 more regular.")
    var burstiness = 1.0

    @Option(help: "Most requests in flight at once (default: no limit).")
    var maxConcurrency: Int?

    @Option(help: "Prompt length in tokens.")
    var inputLen = 128

    @Option(help: "max_tokens of each request.")
    var outputLen = 128

    @Option(help: "Distinct shared prefixes (system prompts): each request starts with one, each one used by as many requests (0: none).")
    var sharedPrefixes = 0

    @Option(help: "Length of each shared prefix in tokens (with --shared-prefixes).")
    var sharedPrefixLen = 0

    @Flag(help: "Send ignore_eos: true so each request generates exactly --output-len tokens.")
    var ignoreEos = false

    @Option(help: "Seed for the prompts and arrival times.")
    var seed: UInt64 = 0

    @Option(parsing: .upToNextOption, help: "Goodput objectives as KEY:MS pairs, keys ttft, tpot, e2el (e.g. ttft:500 tpot:50).")
    var goodput: [String] = []

    @Flag(help: "Do not calibrate prompt lengths with the server's /tokenize.")
    var noCalibrate = false

    @Flag(help: "Print one JSON object with vLLM's result keys instead of the table.")
    var json = false

    func run() async throws {
        let rate: Double
        if requestRate.lowercased() == "inf" {
            rate = .infinity
        } else if let value = Double(requestRate), value > 0 {
            rate = value
        } else {
            throw CLIError("--request-rate must be a positive number or inf")
        }
        var settings = ServingBenchmarkConfiguration(baseURL: baseURL)
        settings.model = model
        settings.endpoint = endpoint
        settings.numPrompts = numPrompts
        settings.requestRate = rate
        settings.burstiness = burstiness
        settings.maxConcurrency = maxConcurrency
        settings.inputLength = inputLen
        settings.outputLength = outputLen
        settings.sharedPrefixes = sharedPrefixes
        settings.sharedPrefixLength = sharedPrefixLen
        settings.ignoreEOS = ignoreEos
        settings.seed = seed
        settings.calibratePrompts = !noCalibrate
        settings.apiKey = ProcessInfo.processInfo.environment["OPENAI_API_KEY"]

        let result: ServingBenchmarkResult
        do {
            settings.objectives = try ServiceLevelObjectives(parsing: goodput)
            let benchmark = try ServingBenchmark(configuration: settings)
            let progress = ProgressBar(label: "requests ", total: numPrompts)
            result = try await benchmark.run(
                progress: { done, _ in progress.update(done) },
                log: { line in FileHandle.standardError.write(Data((line + "\n").utf8)) }
            )
            progress.finish()
        } catch let error as ServingBenchmarkError {
            throw CLIError(error.description)
        }

        if json {
            print(result.json)
        } else {
            print(result.table)
        }
        if result.failed > 0 {
            var report = "\(result.failed) request(s) failed:\n"
            for (message, count) in result.errors.sorted(by: { $0.value > $1.value }).prefix(5) {
                report += "  \(count)× \(message.prefix(300))\n"
            }
            FileHandle.standardError.write(Data(report.utf8))
        }
    }
}

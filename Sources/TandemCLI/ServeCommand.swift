import ArgumentParser
import Engine
import Foundation
import Server

/// `tandem serve`: the OpenAI-compatible HTTP server.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the model over an OpenAI-compatible HTTP API (completions, chat, streaming, metrics)."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var engineOptions: EngineOptions

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on.")
    var port = 8080

    @Option(
        parsing: .upToNextOption,
        help: "The model names clients use, the first one primary, the others aliases (default: the GGUF file's name without extension).")
    var servedModelName: [String] = []

    @Option(
        help: ArgumentHelp(
            "What GET /get_load answers: object ({\"load\": n}, read by vllm-router) or sglang (a list per rank, read by sglang-router's power_of_two policy).",
            valueName: "format"))
    var getLoadFormat = LoadReportFormat.object

    @Option(help: "Require `Authorization: Bearer KEY` on every request except GET /health, GET /metrics and the chat page.")
    var apiKey: String?

    @Option(help: "Requests waiting for their first token at which new ones get 429.")
    var maxWaiting = 512

    @Option(help: "Seconds in-flight requests may run after SIGTERM/SIGINT before they are aborted.")
    var shutdownGrace: Double = 30

    @Option(help: "Seconds a connection may stay idle (before a request's headers arrive, and between requests).")
    var idleTimeout: Double = 60

    @Option(help: "Seconds from a request's headers to the end of its body.")
    var bodyTimeout: Double = 60

    @Option(help: "Most open connections (more wait in the listen backlog).")
    var maxConnections = 1024

    @Option(help: "Seconds a generation request may run before it is aborted (finish reason 'abort'); default: no limit.")
    var requestTimeout: Double?

    @Flag(name: .customLong("no-ui"), help: "Do not serve the chat page at / (then / is a 404).")
    var noUI = false

    func validate() throws {
        for name in servedModelName where name.isEmpty || name.utf8.count > 1024 {
            throw ValidationError("--served-model-name: names must be 1 to 1024 bytes long")
        }
        guard Set(servedModelName).count == servedModelName.count else {
            throw ValidationError("--served-model-name: a name is given twice")
        }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxWaiting >= 1 else { throw ValidationError("--max-waiting must be >= 1") }
        guard maxConnections >= 1 else { throw ValidationError("--max-connections must be >= 1") }
        for (name, value) in [
            ("--shutdown-grace", shutdownGrace), ("--idle-timeout", idleTimeout), ("--body-timeout", bodyTimeout),
            ("--request-timeout", requestTimeout ?? 1)
        ] {
            guard value.isFinite, value >= 0, value <= 86_400 else { throw ValidationError("\(name) must be in [0, 86400] seconds") }
        }
    }

    func run() async throws {
        AllocatorPolicy.apply()
        let path = try modelOptions.resolvedPath()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.servedModelNames =
            servedModelName.isEmpty ? [URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent] : servedModelName
        configuration.loadReportFormat = getLoadFormat
        configuration.apiKey = apiKey
        configuration.maxWaiting = maxWaiting
        configuration.shutdownGrace = shutdownGrace
        configuration.idleTimeout = idleTimeout
        configuration.bodyTimeout = bodyTimeout
        configuration.maxConnections = maxConnections
        configuration.requestTimeout = requestTimeout
        configuration.serveChatPage = !noUI
        let arguments = ["--model", path] + (modelOptions.threads.map { ["--threads", String($0)] } ?? [])
        let server = OpenAIServer(configuration: configuration) {
            let options = try ModelOptions.parse(arguments)
            let file = try options.openFile()
            let tokenizer = try options.loadTokenizer(file)
            let model = try options.loadModel(file)
            let engine = Engine(
                model: model, tokenizer: tokenizer, configuration: try engineOptions.configuration(for: model, path: try options.resolvedPath()),
                cache: try engineOptions.cache(for: model))
            var served = ServedModel(engine: engine, chatTemplate: file.metadata["tokenizer.chat_template"]?.string)
            served.file = ModelFileInfo(
                path: try options.resolvedPath(), architecture: file.metadata["general.architecture"]?.string ?? "unknown")
            if case .failure(let error) = served.chat {
                standardError("tandem serve: the model's chat template cannot be used (chat requests will fail; completions work): \(error)")
            }
            return served
        }
        let names = configuration.servedModelNames.map { "'\($0)'" }.joined(separator: ", ")
        standardError("tandem serve: http://\(host):\(port)/v1 (model \(names))")
        if !noUI { standardError("tandem serve: chat page at http://\(host):\(port)/") }
        try await server.run()
    }
}

extension LoadReportFormat: ExpressibleByArgument {}

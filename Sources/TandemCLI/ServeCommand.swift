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

    @Option(help: "The model name clients use (default: the GGUF file's name without extension).")
    var servedModelName: String?

    @Option(help: "Require `Authorization: Bearer KEY` on /v1 requests.")
    var apiKey: String?

    @Option(help: "Requests waiting for their first token at which new ones get 429.")
    var maxWaiting = 512

    @Option(help: "Seconds in-flight requests may run after SIGTERM/SIGINT before they are aborted.")
    var shutdownGrace: Double = 30

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        guard maxWaiting >= 1 else { throw ValidationError("--max-waiting must be >= 1") }
        guard shutdownGrace >= 0, shutdownGrace.isFinite else { throw ValidationError("--shutdown-grace must be >= 0") }
    }

    func run() async throws {
        let path = try modelOptions.resolvedPath()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.servedModelName = servedModelName
            ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        configuration.apiKey = apiKey
        configuration.maxWaiting = maxWaiting
        configuration.shutdownGrace = shutdownGrace
        let arguments = ["--model", path] + (modelOptions.threads.map { ["--threads", String($0)] } ?? [])
        let engineConfiguration = engineOptions.configuration()
        let server = OpenAIServer(configuration: configuration) {
            let options = try ModelOptions.parse(arguments)
            let file = try options.openFile()
            let tokenizer = try options.loadTokenizer(file)
            let model = try options.loadModel(file)
            let engine = Engine(model: model, tokenizer: tokenizer, configuration: engineConfiguration)
            return try ServedModel(engine: engine, chatTemplate: file.metadata["tokenizer.chat_template"]?.string)
        }
        standardError("tandem serve: http://\(host):\(port)/v1 (model '\(configuration.servedModelName)')")
        try await server.run()
    }
}

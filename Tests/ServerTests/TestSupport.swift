import AsyncHTTPClient
import Engine
import Foundation
import GGUF
import Hummingbird
import HummingbirdTesting
import Model
import ModelStore
import NIOCore
import Testing
import Tokenizer

@testable import Server

/// All server tests, one at a time (they share the CPU with the model; timing matters in some).
@Suite(.serialized) enum AllServerTests {}

/// The default model, loaded once for all server tests.
enum ServerTestModel {
    static let loaded: Result<(LlamaModel, Tokenizer, String?), any Error> = Result {
        let path = try ProcessInfo.processInfo.environment["TANDEM_MODEL"] ?? DefaultModel.resolve()
        let file = try GGUFFile(path: path)
        return (
            try LlamaModel(file: file), try Tokenizer(metadata: file.metadata),
            file.metadata["tokenizer.chat_template"]?.string
        )
    }

    static func engine(kvCacheTokens: Int = 4096, maxSequences: Int = 32, speculation: Speculation? = nil) throws -> Engine {
        let (model, tokenizer, _) = try loaded.get()
        var configuration = Engine.Configuration()
        configuration.maxBatchTokens = 256
        configuration.maxSequences = maxSequences
        configuration.speculation = speculation
        var cache = CPUDevice.CacheConfiguration()
        cache.tokens = kvCacheTokens
        return Engine(model: model, tokenizer: tokenizer, configuration: configuration, cache: cache)
    }

    static func server(
        _ configure: (inout ServerConfiguration) -> Void = { _ in }, kvCacheTokens: Int = 4096,
        maxSequences: Int = 32, speculation: Speculation? = nil
    ) throws -> OpenAIServer {
        var configuration = ServerConfiguration()
        configuration.servedModelNames = ["smollm"]
        configuration.port = 0
        configure(&configuration)
        let engine = try engine(kvCacheTokens: kvCacheTokens, maxSequences: maxSequences, speculation: speculation)
        return OpenAIServer(
            configuration: configuration,
            model: try ServedModel(engine: engine, chatTemplate: try loaded.get().2))
    }

    static var tokenizer: Tokenizer { get throws { try loaded.get().1 } }
}

extension OpenAIServer {
    var engine: Engine? { state.model?.engine }

    /// Runs `body` against the server in-process (HummingbirdTesting's router mode), then shuts the engine down.
    func withRouter<T: Sendable>(_ body: @Sendable (any TestClientProtocol) async throws -> T) async throws -> T {
        defer { engine?.shutdown() }
        return try await makeApplication().test(.router) { client in try await body(client) }
    }

    /// Runs the full service group on a free port and gives `body` the base URL; then shuts
    /// down gracefully and checks that the group ends without error.
    func withLive<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let group = makeServiceGroup(handleSignals: false)
        let task = Task { try await group.run() }
        var port: Int?
        for _ in 0..<500 {
            port = boundPort
            if port != nil { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        guard let port else {
            await group.triggerGracefulShutdown()
            throw TestFailure("the server did not start")
        }
        do {
            let result = try await body("http://127.0.0.1:\(port)")
            await group.triggerGracefulShutdown()
            try await task.value
            return result
        } catch {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
            throw error
        }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// JSON helpers for tests.
func json(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func parse(_ buffer: ByteBuffer) throws -> JSONValue {
    try JSONValue.parse(Array(buffer.readableBytesView))
}

/// The `data:` payloads of an SSE body, in order.
func sseEvents(_ text: String) -> [String] {
    text.components(separatedBy: "\n\n").compactMap { block in
        let line = block.trimmingCharacters(in: .whitespacesAndNewlines)
        return line.hasPrefix("data: ") ? String(line.dropFirst(6)) : nil
    }
}

extension JSONValue {
    subscript(index: Int) -> JSONValue? {
        guard let items = array, index < items.count else { return nil }
        return items[index]
    }
}

/// Whether the engine's KV cache empties within two seconds.
func eventuallyEmpty(_ engine: Engine) async throws -> Bool {
    for _ in 0..<200 {
        if engine.currentStatistics.kvCacheUsage == 0 && engine.currentStatistics.runningRequests == 0 { return true }
        try await Task.sleep(for: .milliseconds(10))
    }
    return false
}

/// An AsyncHTTPClient POST with a JSON body.
func post(
    _ client: HTTPClient, _ url: String, _ body: String, headers: [(String, String)] = []
) async throws
    -> (status: Int, retryAfter: String?, body: String)
{
    var request = HTTPClientRequest(url: url)
    request.method = .POST
    request.headers.add(name: "Content-Type", value: "application/json")
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    request.body = .bytes(ByteBuffer(string: body))
    let response = try await client.execute(request, timeout: .seconds(60))
    let bytes = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), response.headers.first(name: "Retry-After"), String(buffer: bytes))
}

func get(_ client: HTTPClient, _ url: String) async throws -> (status: Int, body: String) {
    let response = try await client.execute(HTTPClientRequest(url: url), timeout: .seconds(30))
    let bytes = try await response.body.collect(upTo: 16 << 20)
    return (Int(response.status.code), String(buffer: bytes))
}

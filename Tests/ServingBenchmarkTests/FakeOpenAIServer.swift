import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A tiny OpenAI-style server on 127.0.0.1 for the benchmark's end-to-end tests.
///
/// `GET /v1/models` lists "fake"; `POST /tokenize` counts whitespace-separated words plus one BOS;
/// `POST /v1/completions` streams `max_tokens` chunks: an empty chunk at once, the first token
/// after `firstTokenDelay`, each next one `interTokenDelay` later (each written in two pieces to
/// split the SSE event across reads), then usage and `[DONE]`. The model name selects misbehaviour:
/// "fake-nousage" sends no usage, "broken" answers 500, "cutoff" closes the connection after two
/// tokens.
final class FakeOpenAIServer: Sendable {
    let port: Int
    let firstTokenDelay: Duration
    let interTokenDelay: Duration
    private let channel: NIOAsyncChannel<NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>, Never>
    private let serving: Task<Void, Never>

    init(firstTokenDelay: Duration = .milliseconds(100), interTokenDelay: Duration = .milliseconds(30)) async throws {
        self.firstTokenDelay = firstTokenDelay
        self.interTokenDelay = interTokenDelay
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .bind(host: "127.0.0.1", port: 0) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    return try NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>(
                        wrappingChannelSynchronously: channel)
                }
            }
        self.channel = channel
        port = channel.channel.localAddress?.port ?? 0
        let first = firstTokenDelay, gap = interTokenDelay
        serving = Task {
            try? await channel.executeThenClose { inbound in
                await withDiscardingTaskGroup { group in
                    do {
                        for try await connection in inbound {
                            group.addTask { await Self.serve(connection, firstTokenDelay: first, interTokenDelay: gap) }
                        }
                    } catch {}
                }
            }
        }
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    func stop() async {
        try? await channel.channel.close()
        serving.cancel()
    }

    private static func serve(
        _ connection: NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>,
        firstTokenDelay: Duration, interTokenDelay: Duration
    ) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            var body = ByteBuffer()
            for try await part in inbound {
                switch part {
                case .head(let requestHead):
                    head = requestHead
                    body.clear()
                case .body(var piece):
                    body.writeBuffer(&piece)
                case .end:
                    guard let head else { return }
                    let object = (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
                    let keepOpen = try await respond(
                        head: head, request: object, outbound: outbound,
                        firstTokenDelay: firstTokenDelay, interTokenDelay: interTokenDelay)
                    if !keepOpen { return }
                }
            }
        }
    }

    /// Answers one request; returns false to close the connection.
    private static func respond(
        head: HTTPRequestHead, request: [String: Any],
        outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        firstTokenDelay: Duration, interTokenDelay: Duration
    ) async throws -> Bool {
        func send(_ status: HTTPResponseStatus, json: String) async throws {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "Content-Length", value: String(json.utf8.count))
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers)))
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: json))))
            try await outbound.write(.end(nil))
        }
        func wordCount(_ text: Any?) -> Int { ((text as? String) ?? "").split(separator: " ").count }

        switch (head.method, head.uri) {
        case (.GET, "/v1/models"):
            try await send(.ok, json: #"{"object":"list","data":[{"id":"fake","object":"model"}]}"#)
        case (.POST, "/tokenize"):
            let count = 1 + wordCount(request["prompt"])
            try await send(.ok, json: "{\"count\":\(count),\"tokens\":[\((0..<count).map(String.init).joined(separator: ","))]}")
        case (.POST, "/v1/completions"):
            let model = request["model"] as? String ?? ""
            if model == "broken" {
                try await send(.internalServerError, json: #"{"error":{"message":"broken on purpose"}}"#)
                return true
            }
            let maxTokens = request["max_tokens"] as? Int ?? 1
            let promptTokens = 1 + wordCount(request["prompt"])
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "text/event-stream")
            try await outbound.write(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers)))
            func event(_ data: String) async throws {
                let bytes = "data: \(data)\n\n"
                let middle = bytes.index(bytes.startIndex, offsetBy: bytes.count / 2)
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: String(bytes[..<middle])))))
                try await Task.sleep(for: .milliseconds(1))
                try await outbound.write(.body(.byteBuffer(ByteBuffer(string: String(bytes[middle...])))))
            }
            try await event(#"{"choices":[{"index":0,"text":""}]}"#)
            try await Task.sleep(for: firstTokenDelay)
            for index in 0..<maxTokens {
                if index > 0 { try await Task.sleep(for: interTokenDelay) }
                if model == "cutoff" && index == 2 { return false }
                let finish = index == maxTokens - 1 ? "\"length\"" : "null"
                try await event("{\"choices\":[{\"index\":0,\"text\":\" w\(index)\",\"finish_reason\":\(finish)}]}")
            }
            if model != "fake-nousage" {
                try await event("{\"choices\":[],\"usage\":{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(maxTokens)}}")
            }
            try await outbound.write(.body(.byteBuffer(ByteBuffer(string: "data: [DONE]\n\n"))))
            try await outbound.write(.end(nil))
        default:
            try await send(.notFound, json: #"{"error":{"message":"not found"}}"#)
        }
        return true
    }
}

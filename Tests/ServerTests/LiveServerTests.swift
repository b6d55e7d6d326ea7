import AsyncHTTPClient
import Engine
import Foundation
import NIOCore
import Testing

@testable import Server

/// Tests over a real socket with AsyncHTTPClient, running the full service group.
extension AllServerTests {
    @Suite struct LiveServerTests {
        @Test func completionsOverSocketAndDisconnectFreesBlocks() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            try await server.withLive { base in
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                defer { _ = client.shutdown() }
                let ok = try await post(client, base + "/v1/completions", #"{"prompt":"Hello","max_tokens":4,"ignore_eos":true}"#)
                #expect(ok.status == 200)
                #expect(try JSONValue.parse(Array(ok.body.utf8))["usage"]?["completion_tokens"]?.integer == 4)

                // Stream a long request and drop the connection after a few chunks.
                let streaming = Task {
                    var request = HTTPClientRequest(url: base + "/v1/completions")
                    request.method = .POST
                    request.body = .bytes(ByteBuffer(string: #"{"prompt":"Tell me a story","max_tokens":1500,"ignore_eos":true,"stream":true}"#))
                    let response = try await client.execute(request, timeout: .seconds(60))
                    var chunks = 0
                    for try await _ in response.body {
                        chunks += 1
                        if chunks >= 5 { break }
                    }
                    return chunks
                }
                #expect(try await streaming.value == 5)
                // The engine aborts the request and frees its blocks.
                #expect(try await eventuallyEmpty(engine))
                #expect(engine.currentStatistics.finishedRequests["abort"] == 1)
                // The handler forgets the request once it sees the stream end, just after the engine.
                for _ in 0..<200 where !server.state.inFlightIDs.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                #expect(server.state.inFlightIDs.isEmpty)
                // And keeps serving.
                let after = try await post(client, base + "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3}"#)
                #expect(after.status == 200)
            }
        }

        @Test func fullQueueAnswers429AndRecovers() async throws {
            let server = try ServerTestModel.server({ $0.maxWaiting = 1 }, maxSequences: 1)
            try await server.withLive { base in
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                defer { _ = client.shutdown() }
                let long = #"{"prompt":"Count to one hundred:","max_tokens":60,"ignore_eos":true}"#
                // The first request streams; once its first chunk is here it is running.
                let (firstStarted, started) = AsyncStream<Void>.makeStream()
                let first = Task {
                    defer { started.finish() }
                    var request = HTTPClientRequest(url: base + "/v1/completions")
                    request.method = .POST
                    request.body = .bytes(ByteBuffer(string: #"{"prompt":"Count to one hundred:","max_tokens":60,"ignore_eos":true,"stream":true}"#))
                    let response = try await client.execute(request, timeout: .seconds(120))
                    var text = ""
                    for try await chunk in response.body {
                        if text.isEmpty { started.yield() }
                        text += String(buffer: chunk)
                    }
                    return (status: Int(response.status.code), retryAfter: String?.none, body: text)
                }
                for await _ in firstStarted { break }
                let second = Task { try await post(client, base + "/v1/completions", long) }
                for _ in 0..<500 where server.state.waitingCount == 0 { try await Task.sleep(for: .milliseconds(5)) }
                let refused = try await post(client, base + "/v1/completions", #"{"prompt":"Hi","max_tokens":2}"#)
                #expect(refused.status == 429)
                #expect(refused.retryAfter == "1")
                #expect(try JSONValue.parse(Array(refused.body.utf8))["error"]?["message"] != nil)
                #expect(try await first.value.status == 200)
                #expect(try await second.value.status == 200)
                let recovered = try await post(client, base + "/v1/completions", #"{"prompt":"Hi","max_tokens":2}"#)
                #expect(recovered.status == 200)
            }
        }

        @Test func healthIs503WhileLoading() async throws {
            let (_, _, template) = try ServerTestModel.loaded.get()
            var configuration = ServerConfiguration()
            configuration.port = 0
            let gate = Gate()
            let server = OpenAIServer(configuration: configuration) {
                gate.wait()
                return try ServedModel(engine: try ServerTestModel.engine(), chatTemplate: template)
            }
            defer { gate.open() }
            try await server.withLive { base in
                let client = HTTPClient(eventLoopGroupProvider: .singleton)
                defer { _ = client.shutdown() }
                #expect(try await get(client, base + "/health").status == 503)
                let early = try await post(client, base + "/v1/completions", #"{"prompt":"Hi","max_tokens":1}"#)
                #expect(early.status == 503)
                gate.open()
                var status = 0
                for _ in 0..<200 {
                    status = try await get(client, base + "/health").status
                    if status == 200 { break }
                    try await Task.sleep(for: .milliseconds(10))
                }
                #expect(status == 200)
            }
        }

        /// Graceful shutdown: a request still running after the grace period ends with finish reason
        /// `abort` (and `[DONE]`), and the service group returns normally.
        @Test func gracefulShutdownAbortsAfterGrace() async throws {
            let server = try ServerTestModel.server { $0.shutdownGrace = 0.3 }
            let engine = try #require(server.engine)
            let group = server.makeServiceGroup(handleSignals: false)
            let running = Task { try await group.run() }
            for _ in 0..<500 where server.boundPort == nil { try await Task.sleep(for: .milliseconds(10)) }
            let port = try #require(server.boundPort)
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            defer { _ = client.shutdown() }
            let streaming = Task {
                try await post(
                    client, "http://127.0.0.1:\(port)/v1/completions",
                    #"{"prompt":"Tell me a story","max_tokens":2000,"ignore_eos":true,"stream":true}"#)
            }
            for _ in 0..<500 where engine.currentStatistics.runningRequests == 0 { try await Task.sleep(for: .milliseconds(5)) }
            await group.triggerGracefulShutdown()
            let response = try await streaming.value
            let events = sseEvents(response.body)
            #expect(events.last == "[DONE]")
            let last = try JSONValue.parse(Array(events.dropLast().last?.utf8 ?? "".utf8))
            #expect(last["choices"]?[0]?["finish_reason"] == "abort")
            try await running.value
        }
    }
}

/// A one-shot gate a loader thread waits on.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false

    func wait() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}

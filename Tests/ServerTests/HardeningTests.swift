import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import Server

#if canImport(Glibc)
import Glibc
#endif

/// Hostile requests and clients: each case here crashed, hung or misbehaved before the hardening.
extension AllServerTests {
    @Suite struct HardeningTests {
        /// Status and JSON body of one request in router mode.
        private func send(
            _ client: any TestClientProtocol, _ path: String, _ body: String,
            headers: HTTPFields = [:]
        ) async throws -> (status: Int, body: JSONValue?) {
            try await client.execute(uri: path, method: .post, headers: headers, body: json(body)) { (response: TestResponse) async throws in
                (Int(response.status.code), try? parse(response.body))
            }
        }

        @Test func hugeMaxTokensIsABadRequestNotATrap() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                for (path, body, param) in [
                    ("/v1/completions", #"{"prompt":"Hi","max_tokens":9223372036854775807}"#, "max_tokens"),
                    (
                        "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":9223372036854775807}"#,
                        "max_completion_tokens"
                    ),
                    ("/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":-9223372036854775808}"#, "max_tokens"),
                    ("/v1/completions", #"{"prompt":"Hi","max_tokens":1e308}"#, "max_tokens")
                ] {
                    let response = try await send(client, path, body)
                    #expect(response.status == 400, "\(body)")
                    #expect(response.body?["error"]?["param"]?.string == param, "\(body)")
                }
                #expect(try await send(client, "/v1/completions", #"{"prompt":"Hi","max_tokens":2}"#).status == 200)
            }
        }

        @Test func penaltiesThatWouldOverflowLogitsAreRefused() async throws {
            let server = try ServerTestModel.server()
            try await server.withRouter { client in
                for body in [
                    #"{"prompt":"Hi","repetition_penalty":1e-40}"#, #"{"prompt":"Hi","repetition_penalty":1e30}"#,
                    #"{"prompt":"Hi","temperature":1e30}"#, #"{"prompt":"Hi","logit_bias":{"5":1e10}}"#,
                    #"{"prompt":"Hi","logit_bias":{"99999999":1}}"#, #"{"prompt":"Hi","logit_bias":{"x":1}}"#
                ] {
                    let response = try await send(client, "/v1/completions", body)
                    #expect(response.status == 400, "\(body)")
                }
            }
        }

        @Test func logitBiasSteersGreedyDecoding() async throws {
            let server = try ServerTestModel.server()
            let tokenizer = try ServerTestModel.tokenizer
            let target = tokenizer.encode(" banana", addSpecial: false, parseSpecial: false)[0]
            try await server.withRouter { client in
                let plain = try await send(client, "/v1/completions", #"{"prompt":"The capital of France is","max_tokens":3,"temperature":0}"#)
                let biased = try await send(
                    client, "/v1/completions",
                    #"{"prompt":"The capital of France is","max_tokens":3,"temperature":0,"logit_bias":{"\#(target)":100}}"#)
                #expect(plain.body?["choices"]?[0]?["text"]?.string?.hasPrefix(" Paris") == true)
                #expect(biased.body?["choices"]?[0]?["text"]?.string == " banana banana banana")
                let banned = try await send(
                    client, "/v1/completions",
                    #"{"prompt":"The capital of France is","max_tokens":1,"temperature":0,"logit_bias":{"\#(tokenizer.encode(" Paris", addSpecial: false, parseSpecial: false)[0])":-100}}"#
                )
                #expect(banned.body?["choices"]?[0]?["text"]?.string?.hasPrefix(" Paris") == false)
            }
        }

        @Test func fieldsThatWouldChangeTheOutputAreNamedNotIgnored() async throws {
            let server = try ServerTestModel.server()
            let chat = #""messages":[{"role":"user","content":"Hi"}],"max_tokens":1"#
            try await server.withRouter { client in
                for (extra, param) in [
                    (
                        #""response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object","minProperties":1}}}"#,
                        "response_format"
                    ),
                    (#""functions":[{"name":"f"}]"#, "functions"),
                    (
                        #""tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","minProperties":1}}}],"#
                            + #""tool_choice":"required""#, "tools"
                    ),
                    (#""tool_choice":"required""#, "tool_choice"), (#""guided_json":{"type":"number","multipleOf":2}"#, "guided_json"),
                    (#""grammar":"root ::= \"a\" undefined""#, "grammar"), (#""min_tokens":3"#, "min_tokens"),
                    (#""frobnicate":1"#, "frobnicate")
                ] {
                    let response = try await send(client, "/v1/chat/completions", "{\(chat),\(extra)}")
                    #expect(response.status == 400, "\(extra)")
                    #expect(response.body?["error"]?["param"]?.string == param, "\(extra)")
                }
                for extra in [
                    #""response_format":{"type":"text"}"#, #""tools":[]"#, #""tools":[{"type":"function","function":{"name":"f"}}]"#,
                    #""user":"u1""#, #""store":false"#,
                    #""metadata":{"k":"v"}"#, #""tool_choice":"none""#, #""chat_template_kwargs":{"enable_thinking":false}"#,
                    #""response_format":{"type":"json_object"}"#, #""guided_json":{}"#, #""grammar":"root ::= \"a\"""#
                ] {
                    #expect(try await send(client, "/v1/chat/completions", "{\(chat),\(extra)}").status == 200, "\(extra)")
                }
            }
        }

        @Test func everySpellingOfAProtectedPathNeedsTheKey() async throws {
            let server = try ServerTestModel.server { $0.apiKey = "sekrit" }
            try await server.withRouter { client in
                for path in [
                    "/v1/models", "//v1/models", "/v1//models", "/V1/models", "/v1/models/", "/%761/models", "/./v1/models",
                    "/tokenize", "//tokenize", "/detokenize", "/health/../v1/models", "/nothing"
                ] {
                    try await client.execute(uri: path, method: .get) { (response: TestResponse) async throws in
                        #expect(response.status == .unauthorized, "\(path)")
                    }
                }
                try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .ok) }
                try await client.execute(uri: "/v1/models", method: .get, headers: [.authorization: "Bearer sekrit"]) { #expect($0.status == .ok) }
            }
        }

        @Test func aTemplateThatDoesNotParseFailsChatsOnly() async throws {
            let engine = try ServerTestModel.engine()
            var configuration = ServerConfiguration()
            configuration.servedModelNames = ["smollm"]
            let server = OpenAIServer(configuration: configuration, model: ServedModel(engine: engine, chatTemplate: "{% for m in messages %}"))
            try await server.withRouter { client in
                let chat = try await send(client, "/v1/chat/completions", #"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1}"#)
                #expect(chat.status == 500)
                #expect(chat.body?["error"]?["code"]?.string == "chat_template_error")
                #expect(try await send(client, "/v1/completions", #"{"prompt":"Hi","max_tokens":1}"#).status == 200)
            }
        }

        @Test func aNonStreamingRequestIsAbortedWhenItsClientLeaves() async throws {
            let server = try ServerTestModel.server()
            let engine = try #require(server.engine)
            try await server.withLive { base in
                let port = try #require(Int(base.split(separator: ":").last ?? ""))
                let body = #"{"prompt":"Tell me a story","max_tokens":2000,"ignore_eos":true}"#
                let connection = try RawConnection(port: port)
                try connection.send(
                    "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
                for _ in 0..<500 where engine.currentStatistics.runningRequests == 0 { try await Task.sleep(for: .milliseconds(5)) }
                #expect(engine.currentStatistics.runningRequests == 1)
                connection.close()
                #expect(try await eventuallyEmpty(engine))
                #expect(engine.currentStatistics.finishedRequests["abort"] == 1)
                for _ in 0..<200 where !server.state.inFlightIDs.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
                #expect(server.state.inFlightIDs.isEmpty)
            }
        }

        @Test func theRequestDeadlineAbortsALongGeneration() async throws {
            let server = try ServerTestModel.server { $0.requestTimeout = 0.3 }
            let engine = try #require(server.engine)
            try await server.withRouter { client in
                let response = try await send(client, "/v1/completions", #"{"prompt":"Tell me a story","max_tokens":3000,"ignore_eos":true}"#)
                #expect(response.status == 200)
                #expect(response.body?["choices"]?[0]?["finish_reason"]?.string == "abort")
                let generated = response.body?["usage"]?["completion_tokens"]?.integer ?? 0
                #expect(generated > 0 && generated < 3000)
                #expect(try await eventuallyEmpty(engine))
            }
        }

        @Test func aHalfSentBodyIsCutOffAfterTheBodyTimeout() async throws {
            let server = try ServerTestModel.server { $0.bodyTimeout = 0.5 }
            try await server.withLive { base in
                let port = try #require(Int(base.split(separator: ":").last ?? ""))
                let connection = try RawConnection(port: port)
                try connection.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"prompt\":")
                let started = ContinuousClock.now
                #expect(connection.readUntilClosed(timeoutSeconds: 10))
                #expect(ContinuousClock.now - started < .seconds(5))
            }
        }

        @Test func shutdownEndsWithinTheGraceEvenWithAStuckClient() async throws {
            let server = try ServerTestModel.server { $0.shutdownGrace = 0.3 }
            let group = server.makeServiceGroup(handleSignals: false)
            let running = Task { try await group.run() }
            for _ in 0..<500 where server.boundPort == nil { try await Task.sleep(for: .milliseconds(10)) }
            let port = try #require(server.boundPort)
            let connection = try RawConnection(port: port)
            try connection.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"prompt\":")
            try await Task.sleep(for: .milliseconds(100))
            let started = ContinuousClock.now
            await group.triggerGracefulShutdown()
            _ = try? await running.value
            #expect(ContinuousClock.now - started < .seconds(2.3))
            connection.close()
        }
    }
}

/// A plain TCP connection to the server on loopback, for clients that misbehave.
final class RawConnection: @unchecked Sendable {  // used by one test task at a time
    private var descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw TestFailure("connect failed") }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(descriptor, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw TestFailure("send failed") }
    }

    /// Reads until the server closes the connection (true) or `timeoutSeconds` pass (false).
    func readUntilClosed(timeoutSeconds: Int) -> Bool {
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            if count == 0 { return true }
            if count < 0 { return errno == ECONNRESET }
        }
    }

    func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    deinit { close() }
}

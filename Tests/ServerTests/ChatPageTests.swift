import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Server

/// The chat page at `/`: served from the executable with its security headers, without the API key,
/// and not at all with `serveChatPage` off.
extension AllServerTests {
    @Suite struct ChatPageTests {
        /// The repository's `web/` folder, whose files the executable embeds.
        static let webFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("web")

        @Test func embeddedAssetsMatchTheWebFolder() throws {
            let files = ["index.html": ChatPageAssets.indexHTML, "chat.js": ChatPageAssets.chatJS, "chat.css": ChatPageAssets.chatCSS]
            for (name, embedded) in files {
                let source = try String(contentsOf: Self.webFolder.appendingPathComponent(name), encoding: .utf8)
                #expect(embedded == source, "web/\(name) differs from its embedded copy: run scripts/embed_web.py")
            }
            #expect(ChatPageAssets.iconSVG.hasPrefix("<svg"))
        }

        @Test func pageAndAssetsNeedNoKeyAndCarryTheHeaders() async throws {
            let server = try ServerTestModel.server { $0.apiKey = "sekrit" }
            try await server.withRouter { client in
                for (path, type, marker) in [
                    ("/", "text/html", "<script src=\"/ui/chat.js\""), ("/ui/chat.js", "text/javascript", "renderMarkdown"),
                    ("/ui/chat.css", "text/css", "prefers-color-scheme"), ("/ui/icon.svg", "image/svg+xml", "<svg")
                ] {
                    try await client.execute(uri: path, method: .get) { (response: TestResponse) async throws in
                        #expect(response.status == .ok, "\(path)")
                        #expect(response.headers[.contentType]?.hasPrefix(type) == true, "\(path)")
                        #expect(response.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                        #expect(response.headers[.contentSecurityPolicy]?.contains("unsafe") == false)
                        #expect(response.headers[.xContentTypeOptions] == "nosniff")
                        #expect(String(buffer: response.body).contains(marker), "\(path)")
                    }
                }
                // The page holds no inline script: every <script> names its source.
                try await client.execute(uri: "/", method: .get) { (response: TestResponse) async throws in
                    let html = String(buffer: response.body)
                    #expect(html.components(separatedBy: "<script").count == 2)
                    #expect(!html.contains("<script>"))
                    #expect(!html.contains(" style="))
                    #expect(!html.contains("onclick"))
                }
                // The API stays protected; a path next to the assets is not public.
                try await client.execute(uri: "/v1/models", method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "/ui/other.js", method: .get) { #expect($0.status == .unauthorized) }
                try await client.execute(uri: "//", method: .get) { #expect($0.status == .unauthorized) }
            }
        }

        @Test func noUIMeansNoPage() async throws {
            let server = try ServerTestModel.server { $0.serveChatPage = false }
            try await server.withRouter { client in
                for path in ["/", "/ui/chat.js"] {
                    try await client.execute(uri: path, method: .get) { (response: TestResponse) async throws in
                        #expect(response.status == .notFound, "\(path)")
                        #expect(try parse(response.body)["error"]?["message"]?.string?.contains("no route") == true)
                    }
                }
            }
            let keyed = try ServerTestModel.server {
                $0.serveChatPage = false
                $0.apiKey = "sekrit"
            }
            try await keyed.withRouter { client in
                try await client.execute(uri: "/", method: .get) { #expect($0.status == .unauthorized) }
            }
        }
    }
}

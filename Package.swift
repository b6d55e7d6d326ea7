// swift-tools-version:6.0
import PackageDescription

// Kernel code is compiled for AVX2 + FMA + F16C (x86-64-v3) on x86_64 hosts, which
// defines TANDEM_AVX2 and enables the intrinsic paths. Set TANDEM_PORTABLE=1 (or build on
// another architecture) to get the portable Swift SIMD fallback instead.
#if arch(x86_64)
let useAVX2 = Context.environment["TANDEM_PORTABLE"] == nil
#else
let useAVX2 = false
#endif

let kernelSettings: [SwiftSetting] =
    useAVX2
    ? [.define("TANDEM_AVX2"), .unsafeFlags(["-target-cpu", "haswell", "-Xcc", "-march=x86-64-v3"])]
    : []

let package = Package(
    name: "Tandem",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "tandem", targets: ["TandemCLI"]),
        .library(name: "TandemEngine", targets: ["Engine"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.25.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.20.0")
    ],
    targets: [
        // 1. Model formats: GGUF over a memory map; tensor types and reference dequantization.
        .target(name: "GGUF", swiftSettings: kernelSettings),
        // 2. Tokenizers built from GGUF metadata; incremental UTF-8-safe decoding.
        .target(name: "Tokenizer", dependencies: ["GGUF"]),
        // 3. Kernels: quantized matrix products, attention, norms, RoPE; a persistent worker pool.
        .target(name: "Kernels", dependencies: ["GGUF", "KernelIntrinsics"], swiftSettings: kernelSettings),
        // What Swift cannot emit (prefetch; tiles for AVX-512 VNNI and AMX chosen at run time), in C.
        .target(name: "KernelIntrinsics"),
        // 4. Model: architecture from metadata, weights bound to kernels, forward over a ragged batch.
        .target(name: "Model", dependencies: ["GGUF", "Kernels", "Tokenizer"], swiftSettings: kernelSettings),
        // Seedable random generators (SplitMix64, xoshiro256**) shared by sampling, benchmarks and tests.
        .target(name: "Randomness"),
        // Chat templates: a Jinja-subset interpreter for the models' own `tokenizer.chat_template`.
        .target(name: "ChatTemplate"),
        // Locating, fetching and verifying the default model.
        .target(name: "ModelStore"),
        // Sampling parameters and their valid ranges: the one place that checks them.
        .target(name: "Sampling"),
        // 5-6. Engine: sampler, block manager, scheduler, device, engine loop.
        .target(name: "Engine", dependencies: ["Model", "Tokenizer", "Kernels", "Randomness", "Sampling", "Grammar"], swiftSettings: kernelSettings),
        // JSON values and a strict parser with a depth limit (request bodies, schemas).
        .target(name: "JSON"),
        // Constrained decoding: JSON Schema, regular expressions and GBNF compiled to one grammar
        // over bytes, matched incrementally, with token masks over a vocabulary trie.
        .target(name: "Grammar", dependencies: ["JSON"]),
        // The validation layer: request bodies (JSON with a depth limit) to checked requests, every
        // field typed and ranged, OpenAI-style errors. No HTTP server, so its fuzzer builds quickly.
        .target(
            name: "APIRequests",
            dependencies: ["Sampling", "JSON", "Grammar", .product(name: "HTTPTypes", package: "swift-http-types")]
        ),
        // 7. The OpenAI-compatible HTTP server: routes, SSE, errors, Prometheus metrics.
        .target(
            name: "Server",
            dependencies: [
                "Engine", "Tokenizer", "ChatTemplate", "Model", "APIRequests",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras")
            ]
        ),
        // A streaming OpenAI client load generator (`tandem bench serve`), usable against any server.
        .target(
            name: "ServingBenchmark",
            dependencies: [
                "Randomness",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ]
        ),
        // The terminal chat's line editor (termios raw mode; no libedit needed).
        .target(name: "Terminal"),
        // 7. The `tandem` command.
        .executableTarget(
            name: "TandemCLI",
            dependencies: [
                "Engine", "Model", "Tokenizer", "GGUF", "ModelStore", "Server", "ServingBenchmark", "ChatTemplate", "APIRequests", "JSON",
                "Terminal", .product(name: "ArgumentParser", package: "swift-argument-parser")
            ],
            swiftSettings: kernelSettings
        ),
        // libFuzzer entry point for the GGUF reader (see scripts/fuzz-gguf.sh).
        .executableTarget(name: "GGUFFuzzer", dependencies: ["GGUF", "FuzzerDriver"]),
        // libFuzzer entry point for request decoding and validation (see scripts/fuzz-requests.sh).
        .executableTarget(name: "RequestFuzzer", dependencies: ["APIRequests", "FuzzerDriver"]),
        // libFuzzer entry point for the chat-template interpreter (see scripts/fuzz-template.sh).
        .executableTarget(name: "TemplateFuzzer", dependencies: ["ChatTemplate", "FuzzerDriver"]),
        // The bridge from a fuzzer's entry point to libFuzzer's driver (fuzzing builds only).
        .target(name: "FuzzerDriver"),

        .testTarget(name: "GGUFTests", dependencies: ["GGUF"], resources: []),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "GGUF", "Randomness"]),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "GGUF", "Randomness"], swiftSettings: kernelSettings),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Tokenizer", "GGUF", "Kernels", "ModelStore"]),
        .testTarget(name: "ChatTemplateTests", dependencies: ["ChatTemplate"]),
        .testTarget(name: "APIRequestsTests", dependencies: ["APIRequests", "Sampling", "JSON"]),
        .testTarget(name: "GrammarTests", dependencies: ["Grammar", "JSON"]),
        .testTarget(name: "TerminalTests", dependencies: ["Terminal"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Engine", "Model", "Tokenizer", "ModelStore", "GGUF", "ServingBenchmark", "APIRequests",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client")
            ]
        ),
        .testTarget(
            name: "ServingBenchmarkTests",
            dependencies: [
                "ServingBenchmark", "Randomness",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio")
            ]
        ),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Model", "Tokenizer", "ModelStore", "Randomness"])
    ]
)

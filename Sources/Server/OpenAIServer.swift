import Engine
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// The OpenAI-compatible HTTP server (Hummingbird 2) in front of an `Engine`.
///
/// `run()` starts the HTTP server at once and loads the model in the background (`/health`
/// answers 503 until it is ready), with the engine and the HTTP server as services of one
/// `ServiceGroup`. On SIGTERM/SIGINT the server stops accepting connections, lets in-flight
/// requests finish for `shutdownGrace` seconds, aborts the rest (finish reason `abort`) and returns.
///
/// JSON, chat templates and tokenization happen in the request handlers; the engine thread only
/// schedules and computes.
public final class OpenAIServer: Sendable {
    public let configuration: ServerConfiguration
    public let logger: Logger
    let state: ServerState
    let metrics: ServerMetrics
    let loader: (@Sendable () throws -> ServedModel)?
    let disconnects = DisconnectWatcher()
    private let port = NIOLockedValueBox<Int?>(nil)

    /// A server for a model that is already loaded.
    public init(configuration: ServerConfiguration, model: ServedModel, logger: Logger = Logger(label: "tandem.server")) {
        self.configuration = configuration
        self.logger = logger
        state = ServerState(model: model)
        metrics = ServerMetrics(modelName: configuration.servedModelName)
        metrics.setCacheConfig(model.engine)
        loader = nil
    }

    /// A server that loads its model in the background once it runs (`/health` is 503 until then).
    /// `load` runs on its own thread.
    public init(
        configuration: ServerConfiguration, logger: Logger = Logger(label: "tandem.server"),
        load: @escaping @Sendable () throws -> ServedModel
    ) {
        self.configuration = configuration
        self.logger = logger
        state = ServerState(model: nil)
        metrics = ServerMetrics(modelName: configuration.servedModelName)
        loader = load
    }

    /// The port the server listens on, once it does.
    public var boundPort: Int? { port.withLockedValue { $0 } }

    /// Whether the model is loaded.
    public var isReady: Bool { state.model != nil }

    /// The Hummingbird application (routes and HTTP server) without the engine service; for tests.
    public func makeApplication(services: [any Service] = []) -> Application<RouterResponder<ServerRequestContext>> {
        let bodyTimeout = TimeAmount.nanoseconds(Int64(configuration.bodyTimeout * 1e9))
        return Application(
            router: makeRouter(),
            server: .http1(
                configuration: .init(
                    additionalChannelHandlers: [ConnectionGuard(bodyTimeout: bodyTimeout)],
                    idleTimeout: .nanoseconds(Int64(configuration.idleTimeout * 1e9)))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port),
                serverName: "tandem",
                availableConnectionsDelegate: MaximumAvailableConnections(configuration.maxConnections)),
            services: services,
            onServerRunning: { [port] channel in port.withLockedValue { $0 = channel.localAddress?.port } },
            logger: logger)
    }

    /// The engine service and the HTTP server as one service group, shut down gracefully on
    /// SIGTERM and SIGINT when `handleSignals` (else by `ServiceGroup.triggerGracefulShutdown()`).
    ///
    /// The drain is bounded: requests still running `shutdownGrace` seconds after the signal are
    /// aborted, and one second later the services are cancelled, which closes whatever is still
    /// open (a client that never finishes sending its body, a connection that never closes), so the
    /// group returns within `shutdownGrace` + 2 seconds.
    public func makeServiceGroup(handleSignals: Bool = true) -> ServiceGroup {
        var group = ServiceGroupConfiguration(
            services: [
                .init(service: EngineService(server: self)),
                .init(service: HTTPService(server: self, application: makeApplication()))
            ],
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            cancellationSignals: [],
            logger: logger)
        group.maximumGracefulShutdownDuration = .milliseconds(Int64(max(configuration.shutdownGrace, 0) * 1000) + 1000)
        return ServiceGroup(configuration: group)
    }

    /// Runs until SIGTERM/SIGINT, then shuts down gracefully.
    public func run() async throws {
        try await makeServiceGroup().run()
    }

    /// Loads the model (if the server was given a loader) on a thread of its own.
    func loadModel() async throws {
        guard let loader, state.model == nil else { return }
        logger.info("loading the model")
        let started = Date()
        do {
            let model = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ServedModel, any Error>) in
                let thread = Thread { continuation.resume(with: Result { try loader() }) }
                thread.name = "tandem-load"
                thread.start()
            }
            metrics.setCacheConfig(model.engine)
            state.setPhase(.ready(model))
            logger.info("model ready", metadata: ["seconds": "\(String(format: "%.1f", Date().timeIntervalSince(started)))"])
        } catch {
            state.setPhase(.failed("\(error)"))
            throw error
        }
    }

    /// Graceful shutdown: refuse new requests, give in-flight ones `shutdownGrace` seconds, then abort them.
    func startDraining() {
        guard !state.isDraining else { return }
        state.beginDraining()
        let grace = configuration.shutdownGrace
        logger.info("shutting down", metadata: ["in_flight": "\(state.inFlightIDs.count)", "grace_seconds": "\(grace)"])
        // Requests that finish within the grace period leave `inFlightIDs`; the rest are aborted
        // (their streams end with finish reason `abort`, which lets the HTTP server finish).
        Task { [state, logger] in
            try? await Task.sleep(for: .seconds(max(grace, 0)))
            let remaining = state.inFlightIDs
            if !remaining.isEmpty, let engine = state.model?.engine {
                logger.info("aborting requests after the grace period", metadata: ["count": "\(remaining.count)"])
                for id in remaining { engine.abort(id: id) }
            }
        }
    }
}

/// The HTTP server as a service; its graceful shutdown starts the drain.
struct HTTPService: Service {
    let server: OpenAIServer
    let application: Application<RouterResponder<ServerRequestContext>>

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            server.startDraining()
        }
    }
}

/// The engine as a service: loads the model, and shuts the engine down after the HTTP server stopped.
struct EngineService: Service {
    let server: OpenAIServer

    func run() async throws {
        try await server.loadModel()
        // Returns on graceful shutdown (after the HTTP server, which is later in the group, has
        // finished) or throws on cancellation.
        try? await gracefulShutdown()
        if let model = server.state.model {
            for id in server.state.inFlightIDs { model.engine.abort(id: id) }
            if model.ownsEngine { model.engine.shutdown() }
        }
        server.logger.info("engine stopped")
    }
}

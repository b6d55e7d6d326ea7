import Engine
import Foundation
import NIOConcurrencyHelpers

/// What the HTTP handlers share: whether the model is loaded, whether the server is draining,
/// and the engine requests in flight (so that shutdown can abort them).
final class ServerState: Sendable {
    enum Phase {
        case loading
        case ready(ServedModel)
        case failed(String)
    }

    private struct Inner {
        var phase: Phase = .loading
        var draining = false
        /// Engine request ids of unfinished requests.
        var inFlight: Set<String> = []
        /// Engine requests that have not produced their first event yet.
        var notStarted: Set<String> = []
    }

    private let inner: NIOLockedValueBox<Inner>
    private let idle = NIOLockedValueBox<[CheckedContinuation<Void, Never>]>([])

    init(model: ServedModel?) {
        var inner = Inner()
        if let model { inner.phase = .ready(model) }
        self.inner = NIOLockedValueBox(inner)
    }

    var phase: Phase { inner.withLockedValue { $0.phase } }

    var model: ServedModel? {
        if case .ready(let model) = phase { return model }
        return nil
    }

    func setPhase(_ phase: Phase) { inner.withLockedValue { $0.phase = phase } }

    var isDraining: Bool { inner.withLockedValue { $0.draining } }

    /// Refuses new generation requests from now on.
    func beginDraining() { inner.withLockedValue { $0.draining = true } }

    var waitingCount: Int { inner.withLockedValue { $0.notStarted.count } }

    var inFlightIDs: [String] { inner.withLockedValue { Array($0.inFlight) } }

    /// Engine requests registered and not finished (one per choice).
    var inFlightCount: Int { inner.withLockedValue { $0.inFlight.count } }

    /// Registers engine requests about to be submitted; false when the server is draining.
    func register(_ ids: [String]) -> Bool {
        inner.withLockedValue {
            guard !$0.draining else { return false }
            $0.inFlight.formUnion(ids)
            $0.notStarted.formUnion(ids)
            return true
        }
    }

    func started(_ id: String) { _ = inner.withLockedValue { $0.notStarted.remove(id) } }

    func finished(_ ids: [String]) {
        let empty = inner.withLockedValue {
            for id in ids {
                $0.inFlight.remove(id)
                $0.notStarted.remove(id)
            }
            return $0.inFlight.isEmpty
        }
        if empty {
            for waiter in idle.withLockedValue({
                let w = $0; $0.removeAll(); return w
            }) { waiter.resume() }
        }
    }

    /// Returns once no engine request is in flight.
    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow = idle.withLockedValue { waiters in
                if inner.withLockedValue({ $0.inFlight.isEmpty }) { return true }
                waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}

import Dispatch
import Engine
import Foundation
import Synchronization

/// Ctrl-C (SIGINT) in `tandem chat`: while a reply streams, it aborts that reply (the chat goes
/// back to its prompt); with no reply running and no terminal to read keys from, it exits as
/// SIGINT would. While the line editor reads a line the terminal is in raw mode, so Ctrl-C is a
/// key there, not a signal.
final class ReplyInterrupter {
    /// What the signal handler touches (on a dispatch queue): the running reply and whether it was stopped.
    private final class Target: Sendable {
        let engine: Engine
        let exitWhenIdle: Bool
        /// `idle`: a Ctrl-C came while neither a reply ran nor a line was being read (between two
        /// prompts the terminal is not in raw mode, so the key is a signal there).
        let state = Mutex<(running: String?, interrupted: Bool, idle: Bool)>((nil, false, false))

        init(engine: Engine, exitWhenIdle: Bool) {
            self.engine = engine
            self.exitWhenIdle = exitWhenIdle
        }

        func interrupt() {
            let running = state.withLock { value -> String? in
                if value.running != nil {
                    value.interrupted = true
                } else {
                    value.idle = true
                }
                return value.running
            }
            if let running {
                engine.abort(id: running)
            } else if exitWhenIdle {
                exit(130)
            }
        }
    }

    private let target: Target
    private let source: any DispatchSourceSignal

    init(engine: Engine, exitWhenIdle: Bool) {
        let target = Target(engine: engine, exitWhenIdle: exitWhenIdle)
        self.target = target
        signal(SIGINT, SIG_IGN)
        source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        source.setEventHandler { target.interrupt() }
        source.resume()
    }

    deinit {
        source.cancel()
        signal(SIGINT, SIG_DFL)
    }

    /// Marks `id` as the reply Ctrl-C stops.
    func begin(_ id: String) {
        target.state.withLock { $0 = (id, false, false) }
    }

    /// The reply ended; returns whether Ctrl-C stopped it.
    func end() -> Bool {
        target.state.withLock { value in
            defer { value = (nil, false, false) }
            return value.interrupted
        }
    }

    /// Whether a Ctrl-C came between two prompts (and forgets it), so the chat can count it as
    /// one pressed at the prompt instead of losing it.
    func takeIdleInterrupt() -> Bool {
        target.state.withLock { value in
            defer { value.idle = false }
            return value.idle
        }
    }
}

import Foundation

/// A one-line progress bar on standard error, drawn only when standard error is a terminal.
///
/// `@unchecked Sendable`: the only mutable field, `lastDraw`, is read and written with `lock` held.
final class ProgressBar: @unchecked Sendable {
    enum Unit { case bytes, items }

    private let label: String
    private let total: Int
    private let unit: Unit
    private let enabled: Bool
    private let lock = NSLock()
    private var lastDraw: UInt64 = 0
    private let start = DispatchTime.now().uptimeNanoseconds

    init(label: String, total: Int, unit: Unit = .items) {
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        enabled = isatty(STDERR_FILENO) == 1
    }

    func update(_ done: Int, suffix: String = "") {
        guard enabled else { return }
        lock.lock()
        defer { lock.unlock() }
        let now = DispatchTime.now().uptimeNanoseconds
        guard now - lastDraw > 50_000_000 || done >= total else { return }
        lastDraw = now
        let fraction = min(Double(done) / Double(total), 1)
        let width = 30
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let amount = unit == .bytes ? "\(formatBytes(done)) / \(formatBytes(total))" : "\(done)/\(total)"
        let elapsed = Double(now - start) / 1e9
        let line = "\r\(label) ▕\(bar)▏ \(Int(fraction * 100))% \(amount) \(String(format: "%.1fs", elapsed)) \(suffix)"
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
    }

    func finish() {
        guard enabled else { return }
        update(total)
        FileHandle.standardError.write(Data("\n".utf8))
    }
}

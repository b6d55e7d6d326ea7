import ArgumentParser
import Foundation
import Kernels

/// `tandem bench memory`: the machine's memory read bandwidth (the single-stream decode limit),
/// measured here and cross-checked with sysbench when it is installed.
struct MemoryBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Measure memory read bandwidth (streaming 256-bit reads over a buffer far larger than the caches)."
    )

    @Option(help: "Threads that read (default: the CPUs this process may use).")
    var threads: Int?

    @Option(help: "Buffer size in MiB.")
    var mebibytes = 1024

    @Option(help: "Passes over the buffer; the best counts.")
    var passes = 8

    @Flag(help: "Skip the sysbench cross-check.")
    var noSysbench = false

    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        let threadCount = threads ?? WorkerPool.processorCount
        guard (1...1024).contains(threadCount), mebibytes >= 64, passes > 0 else {
            throw CLIError("--threads 1...1024, --mebibytes >= 64, --passes > 0")
        }
        let pool = WorkerPool(threads: threadCount)
        let result = MemoryBandwidth.measure(pool: pool, bytes: mebibytes << 20, passes: passes)
        let sysbench = noSysbench ? nil : Self.sysbench(threads: threadCount)
        if json {
            var fields = [
                String(format: #""threads": %d"#, threadCount), String(format: #""bytes": %ld"#, result.bytes),
                String(format: #""read_gb_per_s": %.2f"#, result.gigabytesPerSecond),
                String(format: #""median_read_gb_per_s": %.2f"#, result.medianGigabytesPerSecond)
            ]
            if let sysbench { fields.append(String(format: #""sysbench_read_gb_per_s": %.2f"#, sysbench)) }
            print("{" + fields.joined(separator: ", ") + "}")
            return
        }
        print(
            String(
                format: "memory read, %d threads, %d MiB x %d passes: %.1f GB/s best, %.1f GB/s median", threadCount,
                result.bytes >> 20, passes, result.gigabytesPerSecond, result.medianGigabytesPerSecond))
        if let sysbench {
            print(String(format: "sysbench memory (read, sequential, %d threads): %.1f GB/s", threadCount, sysbench))
        } else if !noSysbench {
            print("sysbench not found: `apt-get install -y sysbench` for the cross-check")
        }
    }

    /// `sysbench memory --memory-oper=read` with 512 MiB per thread, in 1e9 bytes per second, or nil when
    /// sysbench is not installed or its output is not understood.
    static func sysbench(threads: Int) -> Double? {
        let candidates = ["/usr/bin/sysbench", "/usr/local/bin/sysbench"]
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = [
            "memory", "--threads=\(threads)", "--memory-block-size=512M", "--memory-total-size=\(threads * 16)G",
            "--memory-oper=read", "--memory-access-mode=seq", "run"
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "32768.00 MiB transferred (4659.35 MiB/sec)"
        guard let line = output.split(separator: "\n").first(where: { $0.contains("MiB/sec") }),
            let open = line.lastIndex(of: "("),
            let rate = Double(line[line.index(after: open)...].split(separator: " ").first ?? "")
        else { return nil }
        return rate * 1_048_576 / 1e9
    }
}

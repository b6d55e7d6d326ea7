import ArgumentParser

/// `tandem bench`: performance measurements that print tables (and JSON with `--json`).
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure performance.",
        subcommands: [
            SingleStreamBench.self, ThroughputBench.self, KernelsBench.self, ServeBench.self, MemoryBench.self, GrammarBench.self,
            VerifyBench.self
        ]
    )
}

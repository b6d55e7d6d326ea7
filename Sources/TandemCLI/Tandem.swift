import ArgumentParser

/// The `tandem` command: generation, tokenization, inspection and benchmarks.
@main
struct Tandem: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tandem",
        abstract: "An LLM inference engine with continuous and asynchronous batching.",
        subcommands: [
            GenerateCommand.self, TokenizeCommand.self, DetokenizeCommand.self, InspectCommand.self, BenchCommand.self, ServeCommand.self,
            ChatCommand.self, GrammarCommand.self
        ]
    )
}

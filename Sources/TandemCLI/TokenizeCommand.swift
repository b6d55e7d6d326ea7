import ArgumentParser
import Foundation
import Tokenizer

/// `tandem tokenize`: stdin text to a JSON array of token ids.
struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Read UTF-8 text from stdin and print its token ids as a JSON array (no BOS/EOS added)."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Flag(help: "Treat special-token text such as <|im_start|> as plain text.")
    var noSpecial = false

    func run() throws {
        let tokenizer = try modelOptions.loadTokenizer(try modelOptions.openFile())
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let text = String(data: input, encoding: .utf8) else { throw CLIError("standard input is not valid UTF-8") }
        let ids = tokenizer.encode(text, addSpecial: false, parseSpecial: !noSpecial)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}

/// `tandem detokenize`: a JSON array of token ids on stdin back to text.
struct DetokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detokenize",
        abstract: "Read a JSON array of token ids from stdin and print the text they decode to."
    )

    @OptionGroup var modelOptions: ModelOptions

    func run() throws {
        let tokenizer = try modelOptions.loadTokenizer(try modelOptions.openFile())
        let input = FileHandle.standardInput.readDataToEndOfFile()
        guard let ids = try? JSONDecoder().decode([Int64].self, from: input) else {
            throw CLIError("standard input must be a JSON array of integers, e.g. [1, 2, 3]")
        }
        let vocabulary = Int64(tokenizer.vocabularySize)
        if let bad = ids.first(where: { $0 < 0 || $0 >= vocabulary }) {
            throw CLIError("token id \(bad) is outside the vocabulary (0..<\(vocabulary))")
        }
        FileHandle.standardOutput.write(Data(tokenizer.decode(ids.map { Int32($0) }).utf8))
    }
}

/// The per-token type stored in `tokenizer.ggml.token_type` (values as in llama.cpp).
public enum TokenType: Int32, Sendable {
    case undefined = 0
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// Maps a raw metadata value; anything outside 0...6 is ``undefined`` (as llama.cpp does).
    public init(raw: Int) {
        self = TokenType(rawValue: Int32(clamping: raw)) ?? .undefined
    }
}

/// The tokenizer family named by `tokenizer.ggml.model`.
public enum TokenizerModelKind: String, Sendable, CaseIterable {
    /// Byte-level BPE with ranked merges (GPT-2, Llama 3, Qwen2, SmolLM).
    case gpt2
    /// SentencePiece-style BPE driven by token scores, with `<0xXX>` byte fallback.
    case llama
}

/// Errors raised while building a ``Tokenizer`` from metadata or a ``TokenizerVocabulary``.
public enum TokenizerError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A required metadata key is absent (for example `tokenizer.ggml.tokens`).
    case missingKey(String)
    /// A metadata key is present but has the wrong type or shape.
    case invalidValue(key: String, reason: String)
    /// `tokenizer.ggml.model` names a tokenizer family this engine does not implement.
    case unknownModel(String)
    /// `tokenizer.ggml.pre` names a pre-tokenizer this engine does not implement.
    case unknownPreTokenizer(String)
    /// A merge rule is not of the form `"left right"`.
    case malformedMerge(index: Int, text: String)
    /// A special-token id lies outside the vocabulary.
    case tokenIdOutOfRange(key: String, id: Int, vocabularySize: Int)
    /// The vocabulary holds no tokens.
    case emptyVocabulary

    public var description: String {
        switch self {
        case .missingKey(let key):
            return "tokenizer metadata is missing required key '\(key)'"
        case .invalidValue(let key, let reason):
            return "tokenizer metadata key '\(key)' is invalid: \(reason)"
        case .unknownModel(let name):
            return "unknown tokenizer model '\(name)' (supported: 'gpt2' byte-level BPE, 'llama' SentencePiece BPE)"
        case .unknownPreTokenizer(let name):
            return "unknown pre-tokenizer type '\(name)'"
        case .malformedMerge(let index, let text):
            return "merge rule \(index) is malformed (expected 'left right'): '\(text)'"
        case .tokenIdOutOfRange(let key, let id, let size):
            return "token id \(id) for '\(key)' is outside the vocabulary of \(size) tokens"
        case .emptyVocabulary:
            return "tokenizer vocabulary is empty"
        }
    }
}

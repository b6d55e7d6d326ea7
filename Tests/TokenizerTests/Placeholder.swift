import Testing
@testable import Tokenizer

// The Tokenizer module; see DESIGN.md §2.

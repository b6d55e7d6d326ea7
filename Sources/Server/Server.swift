// The OpenAI-compatible server; see DESIGN.md §2 part 7.

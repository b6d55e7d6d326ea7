// Chat template interpreter; see DESIGN.md §2 part 2.

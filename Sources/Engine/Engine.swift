// The Engine module; see DESIGN.md §2.

// The Model module; see DESIGN.md §2.

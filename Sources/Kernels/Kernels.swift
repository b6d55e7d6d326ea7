// The Kernels module; see DESIGN.md §2.

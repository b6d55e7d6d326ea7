// Placeholder; the fuzzer entry point is added with the GGUF reader.

"""Independent float64 reference implementation of GGUF decoder-only transformers.

Written from the architecture definitions (llama / qwen2 as executed by ggml), not from the
Swift code. Used by scripts/make_fixtures.py to produce test fixtures.
"""

from .forward import ReferenceModel, ModelConfig  # noqa: F401

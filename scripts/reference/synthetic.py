"""Small random GGUF models that look like real llama.cpp models.

The files carry all metadata a llama.cpp loader reads (architecture hyper-parameters, a
gpt2-style byte-level BPE vocabulary with merges and ChatML control tokens) and the usual
tensor names. Weights are random (seeded) and stored in the requested GGML types:

* Q4_0/Q4_1/Q5_0/Q5_1/Q8_0/BF16 are produced with ``gguf.quants.quantize``.
* K-quants (Q4_K, Q5_K, Q6_K), which the gguf package cannot quantize, are written as random
  raw blocks with finite f16 super-block scales chosen so the dequantized weights have the
  requested standard deviation and roughly zero mean.

The reference forward dequantizes whatever bytes are stored, so the fixtures do not depend
on the quality of this quantization.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFWriter, TokenType
from gguf.quants import dequantize, quantize

CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# GPT-2 byte-level merges over the byte->unicode alphabet ("Ġ" is the space byte).
MERGES = [
    "Ġ t", "h e", "i n", "Ġ a", "r e", "o n", "Ġt he", "e r", "Ġ s", "a t", "Ġ w", "o r", "e n",
    "Ġ c", "i s", "e s", "Ġ o", "i t", "Ġ f", "a n", "Ġ b", "Ġ p", "in g", "Ġ m", "Ġ d", "a l",
    "l l", "Ġ i", "Ġ h", "o u", "Ġt h", "e d", "Ġ is", "Ġc at", "Ġ e", "Ġ l", "Ġ n", "Ċ Ċ",
    "Ġ Ġ", "Ġ 2", "s t",
]


def bytes_to_unicode() -> dict[int, str]:
    """The GPT-2 reversible byte -> printable unicode character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def build_vocab() -> tuple[list[str], list[int], list[str]]:
    """Returns (tokens, token_types, merges): 3 control tokens, 256 byte tokens in GPT-2 order,
    then one token per merge."""
    b2u = bytes_to_unicode()
    tokens = list(SPECIAL_TOKENS)
    types = [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    for ch in b2u.values():  # GPT-2 order: printable bytes first
        tokens.append(ch)
        types.append(int(TokenType.NORMAL))
    for m in MERGES:
        a, b = m.split(" ")
        assert a in tokens and b in tokens, m
        merged = a + b
        assert merged not in tokens, m
        tokens.append(merged)
        types.append(int(TokenType.NORMAL))
    return tokens, types, list(MERGES)


# ---------------------------------------------------------------------------- K-quant blocks
def _pack_k4_scales(sc: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Pack 8 six-bit scales and 8 six-bit mins per block into 12 bytes (ggml get_scale_min_k4)."""
    nb = sc.shape[0]
    q = np.zeros((nb, 12), dtype=np.uint8)
    for j in range(4):
        q[:, j] = (sc[:, j] & 63) | ((sc[:, j + 4] >> 4) << 6)
        q[:, j + 4] = (m[:, j] & 63) | ((m[:, j + 4] >> 4) << 6)
        q[:, j + 8] = (sc[:, j + 4] & 0xF) | ((m[:, j + 4] & 0xF) << 4)
    return q


def _f16_bytes(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float16).reshape(-1, 1).view(np.uint8)


def _random_k_blocks(rng: np.random.Generator, qtype: T, nb: int, d: float) -> np.ndarray:
    """nb raw blocks of a K-quant type with super-block scale d (and dmin derived from it)."""
    if qtype in (T.Q4_K, T.Q5_K):
        bits = 4 if qtype == T.Q4_K else 5
        half_range = ((1 << bits) - 1) / 2.0
        dmin_ratio = 8.0 if bits == 4 else 16.0
        sc = rng.integers(16, 64, size=(nb, 8)).astype(np.uint8)
        # choose mins so each sub-block is centred: dmin*m ~= d*sc*half_range
        m = np.clip(np.rint(sc * half_range / dmin_ratio), 0, 63).astype(np.uint8)
        parts = [_f16_bytes(np.full(nb, d)), _f16_bytes(np.full(nb, d * dmin_ratio)), _pack_k4_scales(sc, m)]
        if bits == 5:
            parts.append(rng.integers(0, 256, size=(nb, 32), dtype=np.uint8))  # qh
        parts.append(rng.integers(0, 256, size=(nb, 128), dtype=np.uint8))  # qs
        return np.concatenate(parts, axis=1)
    if qtype == T.Q6_K:
        ql = rng.integers(0, 256, size=(nb, 128), dtype=np.uint8)
        qh = rng.integers(0, 256, size=(nb, 64), dtype=np.uint8)
        mag = rng.integers(16, 128, size=(nb, 16))
        sign = np.where(rng.random((nb, 16)) < 0.5, -1, 1)
        scales = (mag * sign).astype(np.int8).view(np.uint8)
        return np.concatenate([ql, qh, scales, _f16_bytes(np.full(nb, d))], axis=1)
    raise ValueError(f"no random block generator for {qtype.name}")


def k_quant_tensor(rng: np.random.Generator, qtype: T, rows: int, cols: int, std: float) -> np.ndarray:
    """Random raw K-quant data (rows, bytes_per_row) whose dequantized values have ~std."""
    block, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if cols % block:
        raise ValueError(f"{qtype.name} needs rows of a multiple of {block} elements, got {cols}")
    nb = rows * cols // block
    state = rng.bit_generator.state
    probe = _random_k_blocks(rng, qtype, nb, 1.0)
    measured = float(np.std(dequantize(probe, qtype)))
    rng.bit_generator.state = state  # regenerate the same integers with the calibrated scale
    data = _random_k_blocks(rng, qtype, nb, std / measured)
    assert data.shape == (nb, type_size)
    return data.reshape(rows, cols // block * type_size)


# ---------------------------------------------------------------------------- model spec
@dataclass
class SyntheticSpec:
    name: str
    arch: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    rope_base: float
    weight_types: list[dict[str, T]]  # per layer: attn_q/k/v/output, ffn_gate/up/down -> type
    embd_type: T
    output_type: T | None  # None: tied embedding
    norm_eps: float = 1e-5
    n_ctx: int = 512
    seed: int = 0
    file_type: int = 0
    tokenizer_pre: str = "smollm"  # llama.cpp names: "smollm", "gpt-2", "qwen2", ...
    tokenizer_model: str = "gpt2"
    # `{arch}.rope.scaling.<key>` metadata, e.g. {"type": "linear", "factor": 4.0}
    rope_scaling: dict = field(default_factory=dict)
    # rope_freqs.weight: a dict of Llama 3 parameters (factor, low_freq_factor, high_freq_factor,
    # original_context_length) writes the factors llama.cpp's converter computes from them; an
    # array is written as given (for malformed-file tests); None: no tensor.
    rope_freqs: object = None
    # further metadata (full key -> value; str/int/float) and tensors (name -> array)
    extra_metadata: dict = field(default_factory=dict)
    extra_tensors: dict = field(default_factory=dict)
    # attention.key_length/value_length (0: n_embd // n_head, and no key written)
    head_dim: int = 0
    # attention.sliding_window (gemma local layers; every layer of a llama/phi3 file)
    sliding_window: int = 0
    # mixture of experts (0: dense): expert_count, expert_used_count, each expert's width (0:
    # n_ff; qwen3moe writes it as expert_feed_forward_length). weight_types' ffn_gate/up/down give
    # the types of the stacked ffn_*_exps tensors; the router ffn_gate_inp is F32, as llama.cpp's
    # quantizer keeps it. expert_shapes overrides a stacked tensor's numpy shape (malformed files).
    n_expert: int = 0
    n_expert_used: int = 0
    n_ff_exp: int = 0
    expert_shapes: dict = field(default_factory=dict)
    # rope.dimension_count when RoPE rotates only part of each head (0: the whole head)
    rope_dim: int = 0
    # phi3 LongRoPE: {"original_context_length": L}; writes rope_factors_short/long.weight (random
    # factors, short near 1, long growing to ~orig/…), rope.scaling.original_context_length and
    # rope.scaling.attn_factor as llama.cpp's converter computes it from context_length / L
    longrope: dict = field(default_factory=dict)
    # the context the model is run with (Tandem's contextLength, llama.cpp's n_ctx; 0: n_ctx)
    run_context: int = 0
    # tensors written instead of the generated ones (name -> array), or left out (name -> None);
    # for malformed-file tests
    tensor_overrides: dict = field(default_factory=dict)


OUTPUT_GAIN = 3.0
LAYER_TENSORS = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]


def _all(t: T) -> dict[str, T]:
    return {k: t for k in LAYER_TENSORS}


def default_specs() -> list[SyntheticSpec]:
    return [
        SyntheticSpec("tiny-llama-q8", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.Q8_0), _all(T.Q8_0)], T.Q8_0, None, seed=1, file_type=7),
        SyntheticSpec("tiny-llama-mixed", "llama", 256, 2, 8, 2, 512, 100000.0,
                      [dict(attn_q=T.Q4_K, attn_k=T.Q4_K, attn_v=T.Q6_K, attn_output=T.Q5_K,
                            ffn_gate=T.Q4_K, ffn_up=T.Q5_K, ffn_down=T.Q6_K),
                       dict(attn_q=T.Q5_K, attn_k=T.Q6_K, attn_v=T.Q4_K, attn_output=T.Q4_K,
                            ffn_gate=T.Q6_K, ffn_up=T.Q4_K, ffn_down=T.Q5_K)],
                      T.F16, T.Q6_K, seed=2, file_type=15),
        SyntheticSpec("tiny-qwen2", "qwen2", 128, 2, 4, 2, 256, 1000000.0,
                      [dict(attn_q=T.Q4_0, attn_k=T.Q4_1, attn_v=T.Q5_0, attn_output=T.Q5_1,
                            ffn_gate=T.Q4_0, ffn_up=T.Q5_1, ffn_down=T.Q4_1),
                       dict(attn_q=T.Q5_1, attn_k=T.Q5_0, attn_v=T.Q4_1, attn_output=T.BF16,
                            ffn_gate=T.Q5_0, ffn_up=T.Q4_0, ffn_down=T.Q8_0)],
                      T.F16, None, norm_eps=1e-6, seed=3, file_type=2, tokenizer_pre="qwen2"),
        SyntheticSpec("tiny-llama-f32", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=4, file_type=0, tokenizer_pre="gpt-2"),
        # Llama 3.1/3.2 layout: per-frequency factors in rope_freqs.weight, no scaling metadata.
        # A tiny original context (64) puts the smoothed band and the full factor within the
        # fixtures' 41 positions, so ignoring the factors changes the logits by far more than the
        # tolerance.
        SyntheticSpec("tiny-llama3-rope-freqs", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=5, file_type=0, tokenizer_pre="llama-bpe",
                      rope_freqs=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                      original_context_length=64)),
        # Llama 3 scaling from metadata alone (the factors must be computed by the reader).
        SyntheticSpec("tiny-llama3-rope-metadata", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=6, file_type=0, tokenizer_pre="llama-bpe",
                      rope_scaling=dict(type="llama3", factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                        original_context_length=48)),
        # Linear scaling: positions divided by the factor.
        SyntheticSpec("tiny-llama-rope-linear", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=7, file_type=0, tokenizer_pre="gpt-2",
                      rope_scaling=dict(type="linear", factor=4.0)),
        # Qwen3: per-head q/k RMSNorm, no biases, NeoX RoPE, head size (key_length 32) unrelated to
        # n_embd / n_head (16), as in real Qwen3 files.
        SyntheticSpec("tiny-qwen3", "qwen3", 64, 2, 4, 2, 128, 1000000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, None, norm_eps=1e-6, seed=10, file_type=0,
                      tokenizer_pre="qwen2", head_dim=32),
        SyntheticSpec("tiny-qwen3-q8", "qwen3", 128, 2, 4, 2, 256, 1000000.0,
                      [_all(T.Q8_0), _all(T.Q8_0)], T.Q8_0, T.Q8_0, norm_eps=1e-6, seed=11, file_type=7,
                      tokenizer_pre="qwen2", head_dim=64),
        # Gemma 3: six layers (0-4 local, 5 global), a window of 8 positions (the prompts run to 41),
        # key_length 32 with n_embd / n_head = 16, global linear RoPE scaling (not applied to the
        # local layers, which use base 10000), tied head.
        SyntheticSpec("tiny-gemma3", "gemma3", 64, 6, 4, 2, 128, 1000000.0,
                      [_all(T.F32)] * 6, T.F32, None, norm_eps=1e-6, seed=12, file_type=0,
                      tokenizer_pre="default", head_dim=32, sliding_window=8,
                      rope_scaling=dict(type="linear", factor=8.0)),
        # Gemma 2: even layers local (window 8, same RoPE base), attention soft-capping at 5 and
        # final at 15 (real files: 50 and 30), low enough to bend this random model's scores and logits.
        SyntheticSpec("tiny-gemma2", "gemma2", 64, 4, 4, 2, 128, 10000.0,
                      [_all(T.F32)] * 4, T.F32, None, norm_eps=1e-6, seed=14, file_type=0,
                      tokenizer_pre="default", head_dim=32, sliding_window=8,
                      extra_metadata={"gemma2.attn_logit_softcapping": 5.0, "gemma2.final_logit_softcapping": 15.0}),
        SyntheticSpec("tiny-gemma3-q8", "gemma3", 128, 7, 4, 1, 256, 1000000.0,
                      [_all(T.Q8_0)] * 7, T.Q8_0, None, norm_eps=1e-6, seed=13, file_type=7,
                      tokenizer_pre="default", head_dim=64, sliding_window=12),
        # Mixtures of experts, 8 experts so that routing matters. Qwen3-MoE: Qwen3 attention (head
        # size 32), top-2 renormalised, expert width 32 (expert_feed_forward_length) unlike the dense
        # feed_forward_length (128, unused, as in real files).
        SyntheticSpec("tiny-qwen3moe", "qwen3moe", 64, 2, 4, 2, 128, 1000000.0,
                      [_all(T.F32)] * 2, T.F32, T.F32, norm_eps=1e-6, seed=15, file_type=0,
                      tokenizer_pre="qwen2", head_dim=32, n_expert=8, n_expert_used=2, n_ff_exp=32),
        # Mixtral: a llama file with llama.expert_count/expert_used_count, normal RoPE, top-2.
        SyntheticSpec("tiny-mixtral", "llama", 64, 2, 4, 2, 32, 1000000.0,
                      [_all(T.F32)] * 2, T.F32, T.F32, seed=16, file_type=0, tokenizer_pre="llama-bpe",
                      n_expert=8, n_expert_used=2),
        # OLMoE: q/k norms over the whole projection, top-3 of 8 without renormalisation.
        SyntheticSpec("tiny-olmoe", "olmoe", 64, 2, 4, 4, 32, 10000.0,
                      [_all(T.F32)] * 2, T.F32, T.F32, seed=17, file_type=0, tokenizer_pre="gpt-2",
                      n_expert=8, n_expert_used=3),
        # Quantized: Q8_0 everywhere but the router (F32, as llama.cpp keeps it), head size 64.
        SyntheticSpec("tiny-qwen3moe-q8", "qwen3moe", 128, 2, 4, 2, 256, 1000000.0,
                      [_all(T.Q8_0)] * 2, T.Q8_0, T.Q8_0, norm_eps=1e-6, seed=18, file_type=7,
                      tokenizer_pre="qwen2", head_dim=64, n_expert=8, n_expert_used=2, n_ff_exp=64),
        # K-quant experts (Q4_K_M-style: Q4_K gate/up, Q6_K down), Q8_0 attention, Mixtral layout.
        SyntheticSpec("tiny-mixtral-q4k", "llama", 256, 2, 4, 2, 256, 1000000.0,
                      [dict(_all(T.Q8_0), ffn_gate=T.Q4_K, ffn_up=T.Q4_K, ffn_down=T.Q6_K)] * 2,
                      T.Q8_0, T.Q6_K, seed=19, file_type=15, tokenizer_pre="llama-bpe",
                      n_expert=8, n_expert_used=2),
        # Phi-3: fused attn_qkv and gate/up, NeoX RoPE on 12 of 16 dims per head, LongRoPE with an
        # original context of 16 in a 128-position file: run with its full context, the long
        # factors and attention factor sqrt(1 + ln 8 / ln 16) apply (llama.cpp's choice); the
        # prompts (41 positions) cross the original context.
        SyntheticSpec("tiny-phi3", "phi3", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=15, file_type=0, tokenizer_pre="gpt-2",
                      n_ctx=128, rope_dim=12, longrope=dict(original_context_length=16)),
        # The same layout run with a context of 256 = the original context: the short factors (and
        # still the file's attention factor, sqrt(1 + ln 4 / ln 256)); head size 32, RoPE on 24.
        # (256, not less: llama.cpp pads its context to a multiple of 256, so a smaller original
        # context could not be checked against it.)
        SyntheticSpec("tiny-phi3-short", "phi3", 64, 2, 2, 1, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=16, file_type=0, tokenizer_pre="gpt-2",
                      n_ctx=1024, rope_dim=24, longrope=dict(original_context_length=256), run_context=256),
        # Q8_0 Phi-3 with a sliding window of 12 on every layer (transformers' Phi3Model; llama.cpp
        # ignores Phi-3 windows), full rotary, long factors.
        SyntheticSpec("tiny-phi3-q8", "phi3", 128, 2, 4, 4, 256, 10000.0,
                      [_all(T.Q8_0), _all(T.Q8_0)], T.Q8_0, T.Q8_0, seed=17, file_type=7, tokenizer_pre="gpt-2",
                      n_ctx=128, sliding_window=12, longrope=dict(original_context_length=32)),
        # Mistral 7B v0.1 layout: a llama file with attention.sliding_window 16 < the 41 test positions.
        SyntheticSpec("tiny-mistral", "llama", 64, 2, 4, 2, 128, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, seed=18, file_type=0, tokenizer_pre="gpt-2",
                      n_ctx=128, sliding_window=16),
        # Qwen2.5 long context: YaRN factor 4 over an original context of 2048, default betas 32/1;
        # with 16 pairs and base 10000, pairs 0-4 keep their frequency, 5-10 are blended, 11-15
        # fully interpolated; cos/sin times 0.1 ln 4 + 1.
        SyntheticSpec("tiny-qwen2-yarn", "qwen2", 128, 2, 4, 2, 256, 10000.0,
                      [_all(T.F32), _all(T.F32)], T.F32, T.F32, norm_eps=1e-6, seed=19, file_type=0,
                      tokenizer_pre="qwen2", n_ctx=8192,
                      rope_scaling=dict(type="yarn", factor=4.0, original_context_length=2048)),
    ]


def refused_specs() -> list[SyntheticSpec]:
    """Files Tandem must refuse to load (no reference outputs): each differs from a runnable tiny
    llama in one way that the forward pass does not implement, or holds a malformed
    rope_freqs.weight."""
    def tiny(name: str, arch: str = "llama", **kw) -> SyntheticSpec:
        kw.setdefault("tokenizer_pre", "gpt-2")
        return SyntheticSpec(name, arch, 64, 1, 4, 2, 128, 10000.0, [_all(T.F32)], T.F32, None, seed=9, **kw)

    half = 64 // 4 // 2
    return [
        tiny("refuse-arch-phi2", arch="phi2"),
        tiny("refuse-gemma3-no-window", arch="gemma3", tokenizer_pre="default"),
        tiny("refuse-gemma3-attn-softcap", arch="gemma3", tokenizer_pre="default", sliding_window=8,
             extra_metadata={"gemma3.attn_logit_softcapping": 50.0}),
        # Qwen3 has no projection biases (llama.cpp loads none): a file with them is another variant.
        tiny("refuse-qwen3-bias", arch="qwen3", tokenizer_pre="qwen2", head_dim=16,
             extra_tensors={f"blk.0.{t}.bias": np.zeros(n, dtype=np.float32)
                            for t, n in (("attn_q", 64), ("attn_k", 32), ("attn_v", 32))}),
        # YaRN without the original context length its ramp is computed from.
        tiny("refuse-rope-yarn", rope_scaling=dict(type="yarn", factor=4.0)),
        tiny("refuse-rope-unknown", rope_scaling=dict(type="dynamic", factor=4.0)),
        # A YaRN setting llama.cpp reads for other models, not implemented (ext_factor != 1).
        tiny("refuse-yarn-ext-factor", rope_scaling=dict(type="yarn", factor=4.0, original_context_length=64),
             extra_metadata={"llama.rope.scaling.yarn_ext_factor": 0.5}),
        tiny("refuse-rope-longrope", rope_scaling=dict(type="longrope", factor=4.0)),
        tiny("refuse-rope-llama3-incomplete", rope_scaling=dict(type="llama3", factor=8.0)),
        tiny("refuse-tokenizer-t5", tokenizer_model="t5"),
        tiny("refuse-tokenizer-pre", tokenizer_pre="made-up"),
        tiny("refuse-sliding-window", arch="qwen2", tokenizer_pre="qwen2",
             extra_metadata={"qwen2.attention.sliding_window": 64}),
        # Experts in an architecture that has none.
        tiny("refuse-expert-count", arch="qwen3", tokenizer_pre="qwen2", head_dim=16,
             extra_metadata={"qwen3.expert_count": 8, "qwen3.expert_used_count": 2}),
        # Malformed or unknown mixtures of experts (llama files with 4 experts of width 128).
        tiny("refuse-moe-used-over-count", n_expert=4, n_expert_used=5),
        tiny("refuse-moe-no-used-count", extra_metadata={"llama.expert_count": 4}),
        tiny("refuse-moe-used-too-many", extra_metadata={"llama.expert_count": 300, "llama.expert_used_count": 257}),
        tiny("refuse-moe-zero-experts", arch="qwen3moe", tokenizer_pre="qwen2", head_dim=16,
             extra_metadata={"qwen3moe.expert_count": 0}),
        tiny("refuse-moe-down-shape", n_expert=4, n_expert_used=2, expert_shapes={"ffn_down": (4, 64, 96)}),
        tiny("refuse-moe-shared", n_expert=4, n_expert_used=2, extra_metadata={"llama.expert_shared_count": 1}),
        tiny("refuse-moe-sigmoid", n_expert=4, n_expert_used=2, extra_metadata={"llama.expert_gating_func": 2}),
        tiny("refuse-moe-groups", n_expert=4, n_expert_used=2, extra_metadata={"llama.expert_group_count": 2}),
        # Qwen3 written as qwen2: per-head query/key norms the qwen2 forward pass would skip.
        tiny("refuse-qwen3-as-qwen2", arch="qwen2", tokenizer_pre="qwen2",
             extra_tensors={"blk.0.attn_q_norm.weight": np.ones(16, dtype=np.float32),
                            "blk.0.attn_k_norm.weight": np.ones(16, dtype=np.float32)}),
        # Gemma-style post-attention norm in a llama file.
        tiny("refuse-extra-norm", extra_tensors={"blk.0.post_attention_norm.weight": np.ones(64, dtype=np.float32)}),
        tiny("refuse-rope-freqs-nan", rope_freqs=np.array([1.0, 1.0, np.nan] + [8.0] * (half - 3), dtype=np.float32)),
        tiny("refuse-rope-freqs-length", rope_freqs=np.ones(half + 1, dtype=np.float32)),
        tiny("refuse-rope-freqs-f16", rope_freqs=np.ones(half, dtype=np.float16)),
        tiny("refuse-rope-freqs-zero", rope_freqs=np.array([1.0] * (half - 1) + [0.0], dtype=np.float32)),
        # Phi-3 files with a malformed fused projection or LongRoPE factors, or a variant tensor.
        tiny("refuse-phi3-qkv-shape", arch="phi3", n_ctx=128, longrope=dict(original_context_length=32),
             tensor_overrides={"blk.0.attn_qkv.weight": np.zeros((96, 64), dtype=np.float32)}),
        tiny("refuse-phi3-up-shape", arch="phi3", n_ctx=128, longrope=dict(original_context_length=32),
             tensor_overrides={"blk.0.ffn_up.weight": np.zeros((128, 64), dtype=np.float32)}),
        tiny("refuse-phi3-factors-nan", arch="phi3", n_ctx=128, longrope=dict(original_context_length=32),
             tensor_overrides={"rope_factors_long.weight": np.array([1.0, np.nan] + [4.0] * (half - 2), dtype=np.float32)}),
        tiny("refuse-phi3-factors-length", arch="phi3", n_ctx=128, longrope=dict(original_context_length=32),
             tensor_overrides={"rope_factors_short.weight": np.ones(half + 1, dtype=np.float32)}),
        tiny("refuse-phi3-one-factor-set", arch="phi3", n_ctx=128, longrope=dict(original_context_length=32),
             tensor_overrides={"rope_factors_short.weight": None}),
        tiny("refuse-phi3-gate", arch="phi3", extra_tensors={"blk.0.ffn_gate.weight": np.zeros((128, 64), dtype=np.float32)}),
    ]


def llama3_rope_factors(base: float, dim: int, factor: float, low_freq_factor: float, high_freq_factor: float,
                        original_context_length: float) -> np.ndarray:
    """What llama.cpp's converter writes as rope_freqs.weight for `rope_type: llama3`: per
    frequency, 1 for short wavelengths, `factor` for long ones, and a smooth blend between."""
    low_wavelen = original_context_length / low_freq_factor
    high_wavelen = original_context_length / high_freq_factor
    out = []
    for i in range(0, dim, 2):
        freq = 1.0 / (base ** (i / dim))
        wavelen = 2 * np.pi / freq
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(factor)
        else:
            smooth = (original_context_length / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


def _add_weight(w: GGUFWriter, rng: np.random.Generator, name: str, qtype: T, rows: int, cols: int, std: float):
    if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
        w.add_tensor(name, k_quant_tensor(rng, qtype, rows, cols, std), raw_dtype=qtype)
        return
    x = (rng.standard_normal((rows, cols)) * std).astype(np.float32)
    if qtype == T.F32:
        w.add_tensor(name, x)
    elif qtype == T.F16:
        w.add_tensor(name, x.astype(np.float16))
    else:
        w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


ROUTER_GAIN = 2.0  # router logits of std ~2: the experts' probabilities differ clearly


def _add_experts(w: GGUFWriter, rng: np.random.Generator, spec: SyntheticSpec, p: str, types: dict) -> None:
    """The router (F32, [n_expert, n_embd]) and the stacked experts (numpy shape (n_expert, rows,
    cols), each expert's rows quantized as one matrix, as llama.cpp's converter stacks them)."""
    d, ff, n = spec.n_embd, spec.n_ff_exp or spec.n_ff, spec.n_expert
    w.add_tensor(p + "ffn_gate_inp.weight",
                 (rng.standard_normal((n, d)) * ROUTER_GAIN / np.sqrt(d)).astype(np.float32))
    for t, rows, cols in (("ffn_gate", ff, d), ("ffn_up", ff, d), ("ffn_down", d, ff)):
        gain = OUTPUT_GAIN if t == "ffn_down" else 1.0
        name = p + t.replace("ffn_", "ffn_") + "_exps.weight"
        shape = spec.expert_shapes.get(t, (n, rows, cols))
        qtype = types[t]
        x = (rng.standard_normal(shape) * gain / np.sqrt(cols)).astype(np.float32)
        if qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
            blocks = np.stack([k_quant_tensor(rng, qtype, shape[1], shape[2], gain / np.sqrt(cols))
                               for _ in range(shape[0])])
            w.add_tensor(name, blocks, raw_dtype=qtype)
        elif qtype == T.F32:
            w.add_tensor(name, x)
        elif qtype == T.F16:
            w.add_tensor(name, x.astype(np.float16))
        else:
            w.add_tensor(name, quantize(x, qtype), raw_dtype=qtype)


def write_model(spec: SyntheticSpec, path: Path) -> None:
    rng = np.random.default_rng(spec.seed)
    tokens, types, merges = build_vocab()
    if spec.arch == "phi3":  # llama.cpp's vocabulary loader looks some of Phi-3's tokens up by text
        extra = ["<|end|>", "<s>", "</s>", "<unk>"]
        tokens, types = tokens + extra, types + [int(TokenType.CONTROL)] * len(extra)
    n_vocab = len(tokens)
    head_dim = spec.head_dim or spec.n_embd // spec.n_head
    a = spec.arch
    w = GGUFWriter(str(path), a)
    w.add_type("model")
    w.add_name(spec.name)
    w.add_context_length(spec.n_ctx)
    w.add_embedding_length(spec.n_embd)
    w.add_block_count(spec.n_layer)
    w.add_feed_forward_length(spec.n_ff)
    w.add_head_count(spec.n_head)
    w.add_head_count_kv(spec.n_head_kv)
    w.add_rope_freq_base(spec.rope_base)
    w.add_layer_norm_rms_eps(spec.norm_eps)
    if a not in ("gemma2", "gemma3"):  # llama.cpp's Gemma converters write none (rope covers the whole head)
        w.add_rope_dimension_count(spec.rope_dim or head_dim)
    if spec.head_dim:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    if spec.sliding_window:
        w.add_sliding_window(spec.sliding_window)
    if spec.n_expert:
        w.add_expert_count(spec.n_expert)
        w.add_expert_used_count(spec.n_expert_used)
        if a == "qwen3moe":
            w.add_expert_feed_forward_length(spec.n_ff_exp or spec.n_ff)
    w.add_vocab_size(n_vocab)
    w.add_file_type(spec.file_type)
    w.add_quantization_version(2)
    for key, value in spec.rope_scaling.items():
        full = f"{a}.rope.scaling.{key}"
        if isinstance(value, str):
            w.add_string(full, value)
        elif key == "original_context_length":
            w.add_uint32(full, int(value))
        else:
            w.add_float32(full, float(value))
    if spec.longrope:
        orig = int(spec.longrope["original_context_length"])
        scale = spec.n_ctx / orig
        w.add_uint32(f"{a}.rope.scaling.original_context_length", orig)
        # convert_hf_to_gguf.py (Phi3MiniModel): sqrt(1 + ln(scale) / ln(orig)) for longrope
        w.add_float32(f"{a}.rope.scaling.attn_factor",
                      float(np.sqrt(1 + np.log(scale) / np.log(orig))) if scale > 1 else 1.0)
    for key, value in spec.extra_metadata.items():
        if isinstance(value, str):
            w.add_string(key, value)
        elif isinstance(value, int):
            w.add_uint32(key, value)
        else:
            w.add_float32(key, float(value))
    w.add_tokenizer_model(spec.tokenizer_model)
    if spec.tokenizer_pre:
        w.add_tokenizer_pre(spec.tokenizer_pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_pad_token_id(0)
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML_TEMPLATE)

    d, ff = spec.n_embd, spec.n_ff
    n_q, n_kv = spec.n_head * head_dim, spec.n_head_kv * head_dim
    # embedding std chosen so tied/untied output logits have std ~4 (well separated argmax)
    emb_std = 4.0 / np.sqrt(d)
    _add_weight(w, rng, "token_embd.weight", spec.embd_type, n_vocab, d, emb_std)
    shapes = dict(attn_q=(n_q, d), attn_k=(n_kv, d), attn_v=(n_kv, d), attn_output=(d, n_q),
                  ffn_gate=(ff, d), ffn_up=(ff, d), ffn_down=(d, ff))
    fused = {}
    if a == "phi3":  # attn_qkv = q, k, v rows; ffn_up = gate, up rows (the converter's layout)
        shapes = dict(attn_qkv=(n_q + 2 * n_kv, d), attn_output=(d, n_q), ffn_up=(2 * ff, d), ffn_down=(d, ff))
        fused = dict(attn_qkv="attn_q", ffn_up="ffn_up")
    for layer in range(spec.n_layer):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32))
        for t in shapes:
            rows, cols = shapes[t]
            if spec.n_expert and t.startswith("ffn_"):
                continue
            # residual-branch outputs get a gain so the layers, not the (tied) embedding, dominate the
            # residual stream; otherwise a tied model just predicts its input token again.
            gain = OUTPUT_GAIN if t in ("attn_output", "ffn_down") else 1.0
            qtype = spec.weight_types[layer][fused.get(t, t)]
            if p + t + ".weight" in spec.tensor_overrides:
                if spec.tensor_overrides[p + t + ".weight"] is not None:
                    w.add_tensor(p + t + ".weight", spec.tensor_overrides[p + t + ".weight"])
                continue
            _add_weight(w, rng, p + t + ".weight", qtype, rows, cols, gain / np.sqrt(cols))
        if a == "qwen2":
            for t, n in (("attn_q", n_q), ("attn_k", n_kv), ("attn_v", n_kv)):
                w.add_tensor(p + t + ".bias", (0.2 * rng.standard_normal(n)).astype(np.float32))
        if a in ("qwen3", "gemma3", "qwen3moe"):  # per-head norms (gemma: 1 + w, as the converter writes them)
            for t in ("attn_q_norm", "attn_k_norm"):
                w.add_tensor(p + t + ".weight", (1.0 + 0.2 * rng.standard_normal(head_dim)).astype(np.float32))
        if a == "olmoe":  # q/k norms over the whole projection
            for t, width in (("attn_q_norm", n_q), ("attn_k_norm", n_kv)):
                w.add_tensor(p + t + ".weight", (1.0 + 0.2 * rng.standard_normal(width)).astype(np.float32))
        if spec.n_expert:
            _add_experts(w, rng, spec, p, spec.weight_types[layer])
        if a in ("gemma2", "gemma3"):
            w.add_tensor(p + "post_attention_norm.weight", (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32))
            w.add_tensor(p + "post_ffw_norm.weight", (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32))
    w.add_tensor("output_norm.weight", (1.0 + 0.1 * rng.standard_normal(d)).astype(np.float32))
    if spec.output_type is not None:
        _add_weight(w, rng, "output.weight", spec.output_type, n_vocab, d, emb_std)
    if isinstance(spec.rope_freqs, dict):
        sc = spec.rope_freqs
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(
            spec.rope_base, head_dim, sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"],
            sc["original_context_length"]))
    elif spec.rope_freqs is not None:
        w.add_tensor("rope_freqs.weight", np.asarray(spec.rope_freqs))
    if spec.longrope:
        half = (spec.rope_dim or head_dim) // 2
        ramp = np.arange(half) / max(half - 1, 1)
        # Phi-3's factors: short ones near 1, long ones growing with the wavelength
        factors = {"rope_factors_short.weight": (1.0 + 0.5 * ramp * rng.random(half)).astype(np.float32),
                   "rope_factors_long.weight": (1.0 + 15.0 * ramp ** 2 + rng.random(half)).astype(np.float32)}
        for name, value in factors.items():
            value = spec.tensor_overrides.get(name, value)
            if value is not None:
                w.add_tensor(name, np.asarray(value))
    for name, value in spec.extra_tensors.items():
        w.add_tensor(name, value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

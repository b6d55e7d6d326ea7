"""Float64 forward pass of a llama-family GGUF model.

Every tensor is dequantized with ``gguf.quants.dequantize`` (the gguf package's own numpy
implementation of the GGML block formats) and then promoted to float64; all arithmetic is
float64, so the result is the "exact" output of the quantized weights with unquantized
activations.

Architecture (llama, qwen2, qwen3, gemma3; mixtures of experts below), per layer::

    h   = RMSNorm(x) * attn_norm
    q,k,v = Wq h (+bq), Wk h (+bk), Wv h (+bv)     # biases: qwen2 only
    q,k = RoPE(q, k, pos)                           # llama: NORMAL (adjacent pairs 2i,2i+1)
                                                    # qwen2: NEOX   (pairs i, i+n_rot/2)
                                                    # angle of pair i: pos * base^(-2i/n_rot), with
                                                    # RoPE scaling (see _inv_freq): linear divides pos
                                                    # by the factor; llama3 divides each frequency by
                                                    # rope_freqs.weight[i] (llama.cpp) or, without that
                                                    # tensor, by Meta's per-frequency factor
    a   = softmax(q k^T / sqrt(head_dim) + causal) v   # grouped-query: q head h uses kv head h // (H/Hkv)
    x   = x + Wo a
    h   = RMSNorm(x) * ffn_norm
    x   = x + Wdown (silu(Wgate h) * Wup h)
    logits = Wout (RMSNorm(x) * output_norm)        # Wout = output.weight, else token_embd.weight (tied)

gemma2 (transformers' Gemma2Model): the gemma3 layer below without q/k norms; layer i is local when i
is even (pattern 2), local and global layers share rope.freq_base; scores are soft-capped,
s = cap * tanh(s / cap) with cap = attn_logit_softcapping (50), and so are the final logits
(final_logit_softcapping, 30); query_pre_attn_scalar = head_dim except 27B (46 layers): n_embd / n_head.

qwen3 (transformers' Qwen3Attention): as qwen2 without biases, plus a per-head RMSNorm of q and k
(weights attn_q_norm/attn_k_norm, head_dim values) before RoPE; head_dim from attention.key_length.

gemma3 (transformers' Gemma3TextModel / Gemma3DecoderLayer), per layer::

    x   = embedding * sqrt(n_embd)                  # once, before the first layer (float32 sqrt, as llama.cpp)
    h   = RMSNorm1p(x, input_layernorm)             # RMSNorm1p(x, w) = x / rms(x) * (1 + w)
    q,k,v = Wq h, Wk h, Wv h;  q,k = RMSNorm1p per head (q_norm, k_norm);  q,k = RoPE NEOX
    a   = softmax(q k^T * query_pre_attn_scalar^-0.5 + mask) v
    x   = x + RMSNorm1p(Wo a, post_attention_layernorm)
    h   = RMSNorm1p(x, pre_feedforward_layernorm)
    x   = x + RMSNorm1p(Wdown (gelu_tanh(Wgate h) * Wup h), post_feedforward_layernorm)
    logits = Wemb RMSNorm1p(x, norm)                # tied head; final soft-capping if the file gives one

  * Layer i is a sliding-window ("local") layer unless (i + 1) % 6 == 0 (transformers'
    sliding_window_pattern = 6, llama.cpp's set_swa_pattern(6)). A local layer's query at position p
    sees positions p - window + 1 .. p (transformers: kv_idx > q_idx - sliding_window), with
    window = gemma3.attention.sliding_window, and rotates with RoPE base rope_local_base_freq =
    10000 and no scaling; global layers use rope.freq_base and the linear rope scaling factor if any.
  * query_pre_attn_scalar is not in GGUF: transformers' configs give head_dim (256) for every size
    but 27B, whose value is n_embd / n_head (168); llama.cpp picks the same by layer count (62 = 27B).
  * GGUF stores Gemma's norm weights already shifted: llama.cpp's converter writes w + 1 for every
    tensor whose name ends in norm.weight (Gemma3Model.norm_shift = 1). The reference undoes the
    shift (w_hf = w_gguf - 1) and computes transformers' (1 + w_hf).

Mixtures of experts (qwen3moe, olmoe, and llama files with llama.expert_count: Mixtral) replace the
feed-forward of every layer::

    p   = softmax(Wrouter h)                        # ffn_gate_inp, one logit per expert
    E   = the expert_used_count most probable experts (ties to the lower index)
    w_e = p_e, divided by sum_{e in E} p_e when the family renormalises
    x   = x + sum_{e in E} w_e * Wdown_e (silu(Wgate_e h) * Wup_e h)   # ffn_{gate,up,down}_exps[e]

  * Mixtral (transformers' MixtralSparseMoeBlock): softmax, top-k, divided by the sum (= a softmax
    over the selected logits); expert width feed_forward_length.
  * Qwen3-MoE (Qwen3MoeSparseMoeBlock): divided by the sum when norm_top_k_prob (true in the released
    configs; GGUF: expert_weights_norm when present); expert width expert_feed_forward_length; the
    attention is Qwen3's (per-head q/k norms).
  * OLMoE (OlmoeSparseMoeBlock, norm_topk_prob false): not renormalised; its attention normalises
    the whole q and k projections (q_norm over n_head * head_dim values, k_norm over
    n_head_kv * head_dim) before splitting them into heads; NeoX RoPE.

phi3 (transformers' Phi3Model): the llama layer with q, k, v as consecutive row blocks of one
matrix attn_qkv (transformers' qkv_proj) and gate, up as the two halves of ffn_up (gate_up_proj,
`gate, up = chunk(2)`: gate first); NeoX RoPE on the first rope.dimension_count dims of each head
(partial_rotary_factor); LongRoPE when the file has rope_factors_short/long.weight: every frequency
divided by the chosen factor, cos and sin (of the rotated dims only) multiplied by the attention
factor (rope.scaling.attn_factor, else sqrt(1 + ln(s) / ln(orig))). Which factors: llama.cpp's rule,
the long ones when the context the model runs with (`run_context`, default the file's
context_length) exceeds rope.scaling.original_context_length (transformers switches on the sequence
length instead; Tandem follows llama.cpp, see docs/models.md). A sliding window
(attention.sliding_window < context_length) applies to every layer, as in transformers (llama.cpp
disables Phi-3's).

Mistral (llama files with attention.sliding_window < context_length): every layer sees only the
window (transformers' MistralModel), with the usual RoPE.

YaRN (rope.scaling.type = yarn; transformers' _compute_yarn_parameters): with d = rope dims and
dim(r) = d ln(orig / (2 pi r)) / (2 ln base), low = max(0, floor(dim(beta_fast))),
high = min(d - 1, ceil(dim(beta_slow))), ramp_i = clip((i - low) / (high - low), 0, 1) and
inv_freq_i = base^(-2i/d) * (ramp_i / factor + (1 - ramp_i)); cos and sin are multiplied by
rope.scaling.attn_factor, else 0.1 ln(factor) + 1. beta_fast/beta_slow default to 32/1.

GGUF llama Q/K weights were permuted by convert_hf_to_gguf.py so that ggml's NORMAL rope
(adjacent pairs) reproduces the HF rotate_half rope; we therefore rotate adjacent pairs for
llama exactly like ggml does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, asdict
from pathlib import Path

import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

# ggml rope modes per architecture (llama.cpp: LLAMA_ROPE_TYPE_NORM / LLAMA_ROPE_TYPE_NEOX)
ROPE_NEOX_ARCHS = {"qwen2", "qwen2moe", "qwen3", "qwen3moe", "olmoe", "phi3", "gemma", "gemma2", "gemma3", "stablelm", "gptneox", "falcon"}
SUPPORTED_ARCHS = {"llama", "qwen2", "qwen3", "gemma2", "gemma3", "qwen3moe", "olmoe", "phi3"}
# Top-k renormalisation of each mixture-of-experts family when the file has no expert_weights_norm:
# Mixtral (transformers' MixtralSparseMoeBlock divides the top-k probabilities by their sum),
# Qwen3-MoE (norm_top_k_prob, true in the released configs), OLMoE (norm_topk_prob false).
EXPERT_NORM_DEFAULT = {"llama": True, "qwen3moe": True, "olmoe": False}
GEMMA2_SLIDING_WINDOW_PATTERN = 2  # transformers' Gemma2 layer_types (even layers slide); llama.cpp set_swa_pattern(2)
GEMMA3_SLIDING_WINDOW_PATTERN = 6  # transformers' Gemma3TextConfig default; llama.cpp set_swa_pattern(6)
GEMMA3_LOCAL_ROPE_BASE = 10000.0  # transformers' rope_local_base_freq; llama.cpp rope_freq_base_train_swa


@dataclass
class ModelConfig:
    architecture: str
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    rms_eps: float
    rope_freq_base: float
    rope_dim: int
    rope_neox: bool
    tied_embedding: bool
    rope_scaling_type: str = "none"  # none | linear | llama3 | longrope | yarn
    rope_attn_factor: float = 1.0  # longrope / yarn: cos and sin multiplied by it
    longrope_long: bool = False  # longrope: the long factors (run_context > original context)
    run_context: int = 0  # the context the model runs with (llama.cpp's n_ctx); 0: n_ctx_train
    yarn_beta_fast: float = 32.0
    yarn_beta_slow: float = 1.0
    rope_scaling_factor: float = 1.0
    rope_low_freq_factor: float = 0.0
    rope_high_freq_factor: float = 0.0
    rope_original_context: float = 0.0
    rope_freqs_tensor: bool = False
    qk_norm: bool = False  # qwen3, gemma3: per-head RMSNorm of q and k before RoPE
    gemma: bool = False  # gemma3: scaled embedding, (1 + w) norms, post-norms, GeGLU
    sliding_window: int = 0  # gemma3: window of the local layers (0: none)
    local_layers: list = None  # gemma3: per layer, whether it is a sliding-window layer
    local_rope_base: float = 0.0
    query_scale: float = 0.0  # 1/sqrt(query_pre_attn_scalar)
    final_logit_softcap: float = 0.0
    attn_logit_softcap: float = 0.0  # gemma2: scores = cap * tanh(scores / cap) before the mask
    embedding_scale: float = 1.0  # gemma3: sqrt(n_embd)
    activation: str = "silu"  # silu | gelu_tanh
    qk_norm_full: bool = False  # olmoe: q/k RMSNorm over the whole projection, not per head
    n_expert: int = 0  # mixture of experts (0: dense feed-forward)
    n_expert_used: int = 0
    n_ff_exp: int = 0  # rows of each expert's gate/up
    expert_norm: bool = False  # divide the top-k probabilities by their sum

    def to_json(self) -> dict:
        return asdict(self)


def _field(reader: GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(f"missing GGUF metadata key {key}")
        return default
    return f.contents()


K_QUANT_TYPES = {"Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K"}


def quantize_activations(x: np.ndarray, block: int) -> np.ndarray:
    """x rounded as llama.cpp's Q8_0 / Q8_K activations (and Tandem's): per block of `block` values,
    q = round_half_even(x * 127 / max|x|) in float32, value = q * max|x| / 127."""
    shape = x.shape
    b = x.reshape(-1, shape[-1] // block, block).astype(np.float32)
    m = np.abs(b).max(axis=-1, keepdims=True)
    safe = np.where(m > 0, m, np.float32(1))
    q = np.rint(b * np.float32(127) / safe)
    return (q.astype(np.float64) * (safe.astype(np.float64) / 127.0)).reshape(shape)


class ReferenceModel:
    """Loads a GGUF file and runs the float64 forward pass.

    With `activation_quantization`, the input of every product with a quantized weight (and of
    the output head) is first rounded to 8 bits per block, as llama.cpp's CPU backend and Tandem
    compute (blocks of 32 for the 32-element formats, 256 for K-quants): the reference for what
    a faithful 8-bit-activation implementation computes, as opposed to the exact float64 result."""

    def __init__(self, path: str | Path, activation_quantization: bool = False, run_context: int = 0):
        self.activation_quantization = activation_quantization
        self.path = Path(path)
        r = GGUFReader(str(path))
        self.reader = r
        arch = _field(r, "general.architecture")
        if arch not in SUPPORTED_ARCHS:
            raise ValueError(f"unsupported architecture {arch}")
        n_embd = int(_field(r, f"{arch}.embedding_length"))
        n_head = int(_field(r, f"{arch}.attention.head_count"))
        head_dim = int(_field(r, f"{arch}.attention.key_length", n_embd // n_head))
        self.tensors: dict[str, np.ndarray] = {}
        self.tensor_types: dict[str, str] = {}
        for t in r.tensors:
            shape = tuple(int(s) for s in reversed(t.shape.tolist()))  # numpy order: (ne1, ne0)
            w = dequantize(t.data, t.tensor_type).reshape(shape).astype(np.float64)
            self.tensors[t.name] = w
            self.tensor_types[t.name] = t.tensor_type.name
        emb = self.tensors["token_embd.weight"]
        tied = "output.weight" not in self.tensors
        self.cfg = ModelConfig(
            architecture=arch,
            n_embd=n_embd,
            n_layer=int(_field(r, f"{arch}.block_count")),
            n_head=n_head,
            n_head_kv=int(_field(r, f"{arch}.attention.head_count_kv", n_head)),
            head_dim=head_dim,
            n_ff=int(_field(r, f"{arch}.feed_forward_length", 0)),
            n_vocab=int(emb.shape[0]),
            n_ctx_train=int(_field(r, f"{arch}.context_length")),
            rms_eps=float(_field(r, f"{arch}.attention.layer_norm_rms_epsilon")),
            rope_freq_base=float(_field(r, f"{arch}.rope.freq_base", 10000.0)),
            rope_dim=int(_field(r, f"{arch}.rope.dimension_count", head_dim)),
            rope_neox=arch in ROPE_NEOX_ARCHS,
            tied_embedding=tied,
        )
        self.cfg.run_context = run_context or self.cfg.n_ctx_train
        self._read_rope_scaling(r, arch)
        c = self.cfg
        c.query_scale = 1.0 / math.sqrt(c.head_dim)
        c.qk_norm = arch in ("qwen3", "gemma3", "qwen3moe", "olmoe")
        c.qk_norm_full = arch == "olmoe"
        c.n_expert = int(_field(r, f"{arch}.expert_count", 0))
        if c.n_expert:
            c.n_expert_used = int(_field(r, f"{arch}.expert_used_count"))
            # Qwen3-MoE: moe_intermediate_size; Mixtral, OLMoE: intermediate_size.
            c.n_ff_exp = int(_field(r, f"{arch}.expert_feed_forward_length")) if arch == "qwen3moe" else c.n_ff
            c.expert_norm = bool(_field(r, f"{arch}.expert_weights_norm", EXPERT_NORM_DEFAULT[arch]))
        window = int(_field(r, f"{arch}.attention.sliding_window", 0))
        if arch in ("llama", "phi3") and 0 < window < c.n_ctx_train:
            # Mistral / Phi-3 (and a Mixtral-style llama file with a window): every layer sees the
            # window, RoPE as usual (no local base).
            c.sliding_window = window
            c.local_layers = [True] * c.n_layer
        if arch == "gemma2":
            # Gemma 2: as Gemma 3 without q/k norms; every other layer local (same RoPE base);
            # attention and final-logit soft-capping from metadata.
            c.gemma = True
            c.qk_norm = False
            c.embedding_scale = float(np.sqrt(np.float32(n_embd)))
            c.activation = "gelu_tanh"
            c.sliding_window = int(_field(r, f"{arch}.attention.sliding_window"))
            c.local_layers = [(i + 1) % GEMMA2_SLIDING_WINDOW_PATTERN != 0 for i in range(c.n_layer)]
            c.local_rope_base = c.rope_freq_base
            scalar = n_embd // n_head if c.n_layer == 46 else head_dim  # 27B: query_pre_attn_scalar 144
            c.query_scale = 1.0 / math.sqrt(scalar)
            c.attn_logit_softcap = float(_field(r, f"{arch}.attn_logit_softcapping", 0.0))
            c.final_logit_softcap = float(_field(r, f"{arch}.final_logit_softcapping", 0.0))
        if arch == "gemma3":
            c.gemma = True
            c.embedding_scale = float(np.sqrt(np.float32(n_embd)))
            c.activation = "gelu_tanh"
            c.sliding_window = int(_field(r, f"{arch}.attention.sliding_window"))
            c.local_layers = [(i + 1) % GEMMA3_SLIDING_WINDOW_PATTERN != 0 for i in range(c.n_layer)]
            c.local_rope_base = GEMMA3_LOCAL_ROPE_BASE
            scalar = n_embd // n_head if c.n_layer == 62 else head_dim
            c.query_scale = 1.0 / math.sqrt(scalar)
            c.final_logit_softcap = float(_field(r, f"{arch}.final_logit_softcapping", 0.0))
        # rms eps is stored as float32 in the file; ggml uses that float32 value.
        self.cfg.rms_eps = float(np.float32(self.cfg.rms_eps))

    def _read_rope_scaling(self, r: GGUFReader, arch: str) -> None:
        """`{arch}.rope.scaling.*` and rope_freqs.weight, as llama.cpp reads them: a factor with no
        type means linear; rope_freqs.weight (llama) divides the frequencies whenever present."""
        c = self.cfg
        key = f"{arch}.rope.scaling."
        factor = float(_field(r, key + "factor", 0.0))
        stype = str(_field(r, key + "type", "linear" if factor else "none"))
        c.rope_freqs_tensor = arch == "llama" and "rope_freqs.weight" in self.tensors
        if arch == "phi3" and "rope_factors_long.weight" in self.tensors:
            stype = "longrope"
            orig = int(_field(r, key + "original_context_length"))
            c.rope_original_context = float(orig)
            scale = c.n_ctx_train / orig
            default = math.sqrt(1 + math.log(scale) / math.log(orig)) if scale > 1 else 1.0
            c.rope_attn_factor = float(_field(r, key + "attn_factor", default))
            c.longrope_long = c.run_context > orig
        if stype == "yarn":
            c.rope_scaling_factor = factor
            c.rope_original_context = float(_field(r, key + "original_context_length"))
            c.yarn_beta_fast = float(_field(r, key + "yarn_beta_fast", 32.0))
            c.yarn_beta_slow = float(_field(r, key + "yarn_beta_slow", 1.0))
            c.rope_attn_factor = float(_field(r, key + "attn_factor", 0.1 * math.log(factor) + 1.0 if factor > 1 else 1.0))
        if stype not in ("none", "linear", "llama3", "longrope", "yarn"):
            raise ValueError(f"reference forward does not implement RoPE scaling {stype!r}")
        c.rope_scaling_type = stype
        if stype == "linear":
            c.rope_scaling_factor = factor
        if stype == "llama3" and not c.rope_freqs_tensor:
            c.rope_scaling_factor = factor
            c.rope_low_freq_factor = float(_field(r, key + "low_freq_factor"))
            c.rope_high_freq_factor = float(_field(r, key + "high_freq_factor"))
            c.rope_original_context = float(_field(r, key + "original_context_length"))

    def _inv_freq(self, local: bool = False) -> np.ndarray:
        """Angle per position of each rotated pair, after RoPE scaling (except linear's, which
        divides the positions). `local`: a gemma3 sliding-window layer (own base, no scaling)."""
        c = self.cfg
        half = c.rope_dim // 2
        if local:
            return c.local_rope_base ** (-np.arange(half, dtype=np.float64) * 2.0 / c.rope_dim)  # unscaled
        inv_freq = c.rope_freq_base ** (-np.arange(half, dtype=np.float64) * 2.0 / c.rope_dim)
        if c.rope_freqs_tensor:
            return inv_freq / self.tensors["rope_freqs.weight"]
        if c.rope_scaling_type == "longrope":
            return inv_freq / self.tensors["rope_factors_long.weight" if c.longrope_long else "rope_factors_short.weight"]
        if c.rope_scaling_type == "yarn":
            # transformers' _compute_yarn_parameters (truncate=True)
            d, base, orig, factor = c.rope_dim, c.rope_freq_base, c.rope_original_context, c.rope_scaling_factor

            def correction_dim(rotations):
                return d * math.log(orig / (rotations * 2 * math.pi)) / (2 * math.log(base))

            low = max(math.floor(correction_dim(c.yarn_beta_fast)), 0)
            high = min(math.ceil(correction_dim(c.yarn_beta_slow)), d - 1)
            if low == high:
                high += 0.001
            ramp = np.clip((np.arange(half, dtype=np.float64) - low) / (high - low), 0, 1)
            extrapolation = 1 - ramp
            return inv_freq / factor * (1 - extrapolation) + inv_freq * extrapolation
        if c.rope_scaling_type == "llama3":
            # transformers' _compute_llama3_parameters: keep high frequencies, divide low ones by
            # the factor, interpolate linearly in 1/wavelength between.
            factor, low, high, orig = (c.rope_scaling_factor, c.rope_low_freq_factor, c.rope_high_freq_factor,
                                       c.rope_original_context)
            wavelen = 2 * math.pi / inv_freq
            low_wavelen, high_wavelen = orig / low, orig / high
            scaled = np.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
            smooth = (orig / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * scaled / factor + smooth * scaled
            medium = ~(wavelen < high_wavelen) & ~(wavelen > low_wavelen)
            return np.where(medium, smoothed, scaled)
        return inv_freq

    # ------------------------------------------------------------------ pieces
    def _rms_norm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.cfg.rms_eps) * w

    def _rms_norm_1p(self, x: np.ndarray, w_gguf: np.ndarray) -> np.ndarray:
        """Gemma3RMSNorm: x / rms(x) * (1 + w), where w = w_gguf - 1 (the converter added 1)."""
        w_hf = w_gguf - 1.0
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.cfg.rms_eps) * (1.0 + w_hf)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        w = self.tensors[name]
        return self._rms_norm_1p(x, w) if self.cfg.gemma else self._rms_norm(x, w)

    def _rope(self, x: np.ndarray, pos: np.ndarray, local: bool = False) -> np.ndarray:
        """x: (n_tokens, n_heads, head_dim); rotates the first rope_dim dims of each head."""
        n_rot = self.cfg.rope_dim
        half = n_rot // 2
        inv_freq = self._inv_freq(local)
        pos = pos.astype(np.float64)
        if self.cfg.rope_scaling_type == "linear" and not local:
            pos = pos / self.cfg.rope_scaling_factor
        theta = pos[:, None] * inv_freq[None, :]  # (n, half)
        magnitude = 1.0 if local else self.cfg.rope_attn_factor
        cos = np.cos(theta)[:, None, :] * magnitude
        sin = np.sin(theta)[:, None, :] * magnitude
        out = x.copy()
        if self.cfg.rope_neox:
            a = x[..., :half]
            b = x[..., half:n_rot]
            out[..., :half] = a * cos - b * sin
            out[..., half:n_rot] = a * sin + b * cos
        else:
            a = x[..., 0:n_rot:2]
            b = x[..., 1:n_rot:2]
            out[..., 0:n_rot:2] = a * cos - b * sin
            out[..., 1:n_rot:2] = a * sin + b * cos
        return out

    def _quantized_input(self, weight: str, x: np.ndarray) -> np.ndarray:
        kind = self.tensor_types[weight]
        if not self.activation_quantization or kind in ("F32", "F16", "BF16"):
            return x
        return quantize_activations(x, 256 if kind in K_QUANT_TYPES else 32)

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
        x = self._quantized_input(name + ".weight", x)
        y = x @ self.tensors[name + ".weight"].T
        b = self.tensors.get(name + ".bias")
        if b is not None:
            y = y + b
        return y

    # ------------------------------------------------------------------ forward
    def hidden_states(self, tokens) -> np.ndarray:
        """Final normed hidden states (n_tokens, n_embd) for a single causal sequence."""
        c = self.cfg
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 1 or len(tokens) == 0:
            raise ValueError("tokens must be a non-empty 1-D sequence")
        if tokens.min() < 0 or tokens.max() >= c.n_vocab:
            raise ValueError("token id out of range")
        n = len(tokens)
        pos = np.arange(n)
        x = self.tensors["token_embd.weight"][tokens]
        x = x * c.embedding_scale
        group = c.n_head // c.n_head_kv
        scale = c.query_scale
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        # local layers: position i sees j only if i - j < window
        local_mask = mask + np.where(pos[:, None] - pos[None, :] >= max(c.sliding_window, 1), -np.inf, 0.0)
        for layer in range(c.n_layer):
            p = f"blk.{layer}."
            local = bool(c.local_layers and c.local_layers[layer])
            h = self._norm(x, p + "attn_norm.weight")
            if p + "attn_qkv.weight" in self.tensors:  # phi3: rows q, then k, then v
                qkv = self._linear(p + "attn_qkv", h)
                nq, nkv = c.n_head * c.head_dim, c.n_head_kv * c.head_dim
                q = qkv[:, :nq]
                k = qkv[:, nq:nq + nkv]
                v = qkv[:, nq + nkv:nq + 2 * nkv]
            else:
                q = self._linear(p + "attn_q", h)
                k = self._linear(p + "attn_k", h)
                v = self._linear(p + "attn_v", h)
            if c.qk_norm_full:  # OlmoeAttention: q_norm(q_proj(h)), k_norm(k_proj(h)) before the head split
                q = self._norm(q, p + "attn_q_norm.weight")
                k = self._norm(k, p + "attn_k_norm.weight")
            q = q.reshape(n, c.n_head, c.head_dim)
            k = k.reshape(n, c.n_head_kv, c.head_dim)
            v = v.reshape(n, c.n_head_kv, c.head_dim)
            if c.qk_norm and not c.qk_norm_full:
                q = self._norm(q, p + "attn_q_norm.weight")
                k = self._norm(k, p + "attn_k_norm.weight")
            local_rope = local and c.local_rope_base > 0  # gemma: own base, no scaling
            q = self._rope(q, pos, local_rope)
            k = self._rope(k, pos, local_rope)
            layer_mask = local_mask if local else mask
            att = np.empty((n, c.n_head, c.head_dim))
            for hd in range(c.n_head):
                kv = hd // group
                s = (q[:, hd, :] @ k[:, kv, :].T) * scale
                if c.attn_logit_softcap:
                    s = c.attn_logit_softcap * np.tanh(s / c.attn_logit_softcap)
                s = s + layer_mask
                s = s - s.max(axis=-1, keepdims=True)
                pr = np.exp(s)
                pr /= pr.sum(axis=-1, keepdims=True)
                att[:, hd, :] = pr @ v[:, kv, :]
            o = self._linear(p + "attn_output", att.reshape(n, c.n_head * c.head_dim))
            if c.gemma:
                o = self._norm(o, p + "post_attention_norm.weight")
            x = x + o
            h = self._norm(x, p + "ffn_norm.weight")
            if c.n_expert:
                x = x + self._experts(p, h)
                continue
            if c.architecture == "phi3":  # gate_up_proj: gate rows first
                gu = self._linear(p + "ffn_up", h)
                g, u = gu[:, :c.n_ff], gu[:, c.n_ff:]
            else:
                g = self._linear(p + "ffn_gate", h)
                u = self._linear(p + "ffn_up", h)
            if c.activation == "gelu_tanh":  # gelu_pytorch_tanh
                act = 0.5 * g * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (g + 0.044715 * g ** 3)))
            else:
                act = g / (1.0 + np.exp(-g))
            f = self._linear(p + "ffn_down", act * u)
            if c.gemma:
                f = self._norm(f, p + "post_ffw_norm.weight")
            x = x + f
        return self._norm(x, "output_norm.weight")

    def route(self, p: str, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Experts and weights per token (n, k): softmax over every expert's router logit, the k
        most probable (ties to the lower index), their probabilities divided by their sum when the
        family renormalises (Mixtral, Qwen3-MoE; transformers' MixtralSparseMoeBlock and
        Qwen3MoeSparseMoeBlock with norm_top_k_prob), else as they are (OLMoE)."""
        c = self.cfg
        logits = self._linear(p + "ffn_gate_inp", h)  # (n, n_expert)
        z = np.exp(logits - logits.max(axis=-1, keepdims=True))
        probs = z / z.sum(axis=-1, keepdims=True)
        chosen = np.argsort(-probs, axis=-1, kind="stable")[:, : c.n_expert_used]
        weights = np.take_along_axis(probs, chosen, axis=-1)
        if c.expert_norm:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        return chosen, weights

    def _experts(self, p: str, h: np.ndarray) -> np.ndarray:
        """Sum over each token's chosen experts of weight * down_e(silu(gate_e h) * up_e h); the
        stacked tensors are (n_expert, rows, cols) after dequantization."""
        chosen, weights = self.route(p, h)
        gate, up, down = (self.tensors[p + f"ffn_{t}_exps.weight"] for t in ("gate", "up", "down"))
        out = np.zeros_like(h)
        for t in range(h.shape[0]):
            for e, wt in zip(chosen[t], weights[t]):
                xg = self._quantized_input(p + "ffn_gate_exps.weight", h[t])
                xu = self._quantized_input(p + "ffn_up_exps.weight", h[t])
                g = gate[e] @ xg
                u = up[e] @ xu
                act = self._quantized_input(p + "ffn_down_exps.weight", (g / (1.0 + np.exp(-g))) * u)
                out[t] += wt * (down[e] @ act)
        return out

    def output_matrix(self) -> np.ndarray:
        return self.tensors.get("output.weight", self.tensors["token_embd.weight"])

    def logits(self, tokens, last_only: bool = False) -> np.ndarray:
        h = self.hidden_states(tokens)
        if last_only:
            h = h[-1:]
        head = "output.weight" if "output.weight" in self.tensors else "token_embd.weight"
        logits = self._quantized_input(head, h) @ self.output_matrix().T
        cap = self.cfg.final_logit_softcap
        return cap * np.tanh(logits / cap) if cap else logits

    def greedy(self, tokens, n_new: int):
        """Greedy continuation by re-running the full forward on the growing sequence.

        Returns (new_tokens, margins, step_logits) where margins[i] = top1 - top2 logit of the
        distribution that produced new_tokens[i] and step_logits[i] is that full logit row.
        Ties are broken toward the lowest token id (np.argmax)."""
        seq = list(int(t) for t in tokens)
        new, margins, rows = [], [], []
        for _ in range(n_new):
            lg = self.logits(seq, last_only=True)[0]
            t = int(np.argmax(lg))
            top2 = np.partition(lg, -2)[-2:]
            margins.append(float(top2.max() - top2.min()))
            rows.append(lg)
            new.append(t)
            seq.append(t)
        return new, margins, rows

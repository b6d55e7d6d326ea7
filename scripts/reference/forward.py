"""Float64 forward pass of a llama-family GGUF model.

Every tensor is dequantized with ``gguf.quants.dequantize`` (the gguf package's own numpy
implementation of the GGML block formats) and then promoted to float64; all arithmetic is
float64, so the result is the "exact" output of the quantized weights with unquantized
activations.

Architecture (llama, qwen2), per layer::

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
ROPE_NEOX_ARCHS = {"qwen2", "qwen2moe", "qwen3", "phi3", "gemma", "gemma2", "stablelm", "gptneox", "falcon"}
SUPPORTED_ARCHS = {"llama", "qwen2"}


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
    rope_scaling_type: str = "none"  # none | linear | llama3
    rope_scaling_factor: float = 1.0
    rope_low_freq_factor: float = 0.0
    rope_high_freq_factor: float = 0.0
    rope_original_context: float = 0.0
    rope_freqs_tensor: bool = False

    def to_json(self) -> dict:
        return asdict(self)


def _field(reader: GGUFReader, key: str, default=None):
    f = reader.fields.get(key)
    if f is None:
        if default is None:
            raise KeyError(f"missing GGUF metadata key {key}")
        return default
    return f.contents()


class ReferenceModel:
    """Loads a GGUF file and runs the float64 forward pass."""

    def __init__(self, path: str | Path):
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
            n_ff=int(_field(r, f"{arch}.feed_forward_length")),
            n_vocab=int(emb.shape[0]),
            n_ctx_train=int(_field(r, f"{arch}.context_length")),
            rms_eps=float(_field(r, f"{arch}.attention.layer_norm_rms_epsilon")),
            rope_freq_base=float(_field(r, f"{arch}.rope.freq_base", 10000.0)),
            rope_dim=int(_field(r, f"{arch}.rope.dimension_count", head_dim)),
            rope_neox=arch in ROPE_NEOX_ARCHS,
            tied_embedding=tied,
        )
        self._read_rope_scaling(r, arch)
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
        if stype not in ("none", "linear", "llama3"):
            raise ValueError(f"reference forward does not implement RoPE scaling {stype!r}")
        c.rope_scaling_type = stype
        if stype == "linear":
            c.rope_scaling_factor = factor
        if stype == "llama3" and not c.rope_freqs_tensor:
            c.rope_scaling_factor = factor
            c.rope_low_freq_factor = float(_field(r, key + "low_freq_factor"))
            c.rope_high_freq_factor = float(_field(r, key + "high_freq_factor"))
            c.rope_original_context = float(_field(r, key + "original_context_length"))

    def _inv_freq(self) -> np.ndarray:
        """Angle per position of each rotated pair, after RoPE scaling (except linear's, which
        divides the positions)."""
        c = self.cfg
        half = c.rope_dim // 2
        inv_freq = c.rope_freq_base ** (-np.arange(half, dtype=np.float64) * 2.0 / c.rope_dim)
        if c.rope_freqs_tensor:
            return inv_freq / self.tensors["rope_freqs.weight"]
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

    def _rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """x: (n_tokens, n_heads, head_dim); rotates the first rope_dim dims of each head."""
        n_rot = self.cfg.rope_dim
        half = n_rot // 2
        inv_freq = self._inv_freq()
        pos = pos.astype(np.float64)
        if self.cfg.rope_scaling_type == "linear":
            pos = pos / self.cfg.rope_scaling_factor
        theta = pos[:, None] * inv_freq[None, :]  # (n, half)
        cos = np.cos(theta)[:, None, :]
        sin = np.sin(theta)[:, None, :]
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

    def _linear(self, name: str, x: np.ndarray) -> np.ndarray:
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
        group = c.n_head // c.n_head_kv
        scale = 1.0 / math.sqrt(c.head_dim)
        mask = np.triu(np.full((n, n), -np.inf), k=1)
        for layer in range(c.n_layer):
            p = f"blk.{layer}."
            h = self._rms_norm(x, self.tensors[p + "attn_norm.weight"])
            q = self._linear(p + "attn_q", h).reshape(n, c.n_head, c.head_dim)
            k = self._linear(p + "attn_k", h).reshape(n, c.n_head_kv, c.head_dim)
            v = self._linear(p + "attn_v", h).reshape(n, c.n_head_kv, c.head_dim)
            q = self._rope(q, pos)
            k = self._rope(k, pos)
            att = np.empty((n, c.n_head, c.head_dim))
            for hd in range(c.n_head):
                kv = hd // group
                s = (q[:, hd, :] @ k[:, kv, :].T) * scale + mask
                s = s - s.max(axis=-1, keepdims=True)
                pr = np.exp(s)
                pr /= pr.sum(axis=-1, keepdims=True)
                att[:, hd, :] = pr @ v[:, kv, :]
            x = x + self._linear(p + "attn_output", att.reshape(n, c.n_head * c.head_dim))
            h = self._rms_norm(x, self.tensors[p + "ffn_norm.weight"])
            g = self._linear(p + "ffn_gate", h)
            u = self._linear(p + "ffn_up", h)
            x = x + self._linear(p + "ffn_down", g / (1.0 + np.exp(-g)) * u)
        return self._rms_norm(x, self.tensors["output_norm.weight"])

    def output_matrix(self) -> np.ndarray:
        return self.tensors.get("output.weight", self.tensors["token_embd.weight"])

    def logits(self, tokens, last_only: bool = False) -> np.ndarray:
        h = self.hidden_states(tokens)
        if last_only:
            h = h[-1:]
        return h @ self.output_matrix().T

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

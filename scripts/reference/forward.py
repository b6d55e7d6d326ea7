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
        # rms eps is stored as float32 in the file; ggml uses that float32 value.
        self.cfg.rms_eps = float(np.float32(self.cfg.rms_eps))

    # ------------------------------------------------------------------ pieces
    def _rms_norm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x / np.sqrt(ms + self.cfg.rms_eps) * w

    def _rope(self, x: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """x: (n_tokens, n_heads, head_dim); rotates the first rope_dim dims of each head."""
        n_rot = self.cfg.rope_dim
        half = n_rot // 2
        inv_freq = self.cfg.rope_freq_base ** (-np.arange(half, dtype=np.float64) * 2.0 / n_rot)
        theta = pos[:, None].astype(np.float64) * inv_freq[None, :]  # (n, half)
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

#!/usr/bin/env python3
"""Random-weight GGUF files of the shapes people run, for speed work (issue 13).

    python3 scripts/make_shape_models.py [--shapes 0.5b,1b,3b,8b] [--types q4_0,q4_k_m,q8_0]
                                         [--vocab real,smol] [--out-dir DIR] [--force] [--list]

Each file has a real model's hyper-parameters and tensor shapes and its quantization mix, and
random weights, written directly as random quant blocks (random quant bytes, finite f16 scales
chosen so the weights have std ~ 1/sqrt(columns)): no float intermediate and no quantizer, so even
an 8B file takes seconds (the disk's write speed). One layer's blocks are drawn per tensor kind and
shared by all layers (each layer's tensors are still separate bytes in the file, read separately by
both engines); the speed of a product does not depend on the values.

Shapes (hidden, layers, heads / kv heads, feed-forward, vocabulary, tied head):

    0.5b  Qwen2.5-0.5B   896, 24, 14/2,  4864, 151936, tied (qwen2: q/k/v biases)
    1b    Llama-3.2-1B  2048, 16, 32/8,  8192, 128256, tied (llama3 RoPE factors)
    3b    Llama-3.2-3B  3072, 28, 24/8,  8192, 128256, tied
    8b    Llama-3.1-8B  4096, 32, 32/8, 14336, 128256, separate output
    olmoe OLMoE-1B-7B   2048, 4 (of its 16), 16/16, 64 experts of 1024, top-8, 50304, separate
                        output (olmoe: q/k norms over the whole projection; router F32)
    qwen3moe Qwen3-30B-A3B 2048, 4 (of its 48), 32/4 (head size 128), 128 experts of 768, top-8,
                        151936, separate output (qwen3moe: per-head q/k norms)

The mixtures of experts keep a real model's layer shapes with fewer layers, so that a file fits
memory next to its repacked copy; each layer's experts are stacked in ffn_{gate,up,down}_exps
as llama.cpp's converter writes them (`ffn_down_exps` gets `ffn_down`'s type).

Types follow llama.cpp's quantizer (`llama_tensor_get_type`): q4_0 and q8_0 everywhere, the head
(`output.weight`, or the tied `token_embd.weight`) in Q6_K for q4_0 and q4_k_m; q4_k_m is Q4_K with
Q6_K for `attn_v` and `ffn_down` in the layers llama.cpp's `use_more_bits` picks (the first and last
eighth and every third between), and matrices whose rows are not a multiple of 256 fall back to
Q5_0 (Q4_K) / Q8_0 (Q6_K) as llama.cpp does.

Vocabularies: `real` is the shape's own size with a synthetic byte-level BPE vocabulary (256 byte
tokens, merges of pairs then triples, control tokens at the end, as in Llama 3); `smol` is the
default model's 49,152-token vocabulary, copied from its file when it is in the cache (else
synthetic of that size). Files: <out-dir>/<shape>-<vocab>.<type>.gguf, default
~/.cache/tandem/shapes. Existing files are kept unless --force.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference.synthetic import bytes_to_unicode as _byte_table  # noqa: E402
from gguf import GGUFWriter, TokenType

CACHE = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem"))
DEFAULT_MODEL = CACHE / "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass(frozen=True)
class Shape:
    name: str
    arch: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ff: int
    vocab: int
    tied: bool
    rope_base: float
    pre: str
    llama3_rope: bool = False
    experts: int = 0  # mixture of experts: ff is each expert's width
    experts_used: int = 0
    head_dim: int = 0  # 0: hidden // heads


SHAPES = {
    "0.5b": Shape("qwen2.5-0.5b", "qwen2", 896, 24, 14, 2, 4864, 151936, True, 1_000_000.0, "qwen2"),
    "1b": Shape("llama3.2-1b", "llama", 2048, 16, 32, 8, 8192, 128256, True, 500_000.0, "llama-bpe", True),
    "3b": Shape("llama3.2-3b", "llama", 3072, 28, 24, 8, 8192, 128256, True, 500_000.0, "llama-bpe", True),
    "8b": Shape("llama3.1-8b", "llama", 4096, 32, 32, 8, 14336, 128256, False, 500_000.0, "llama-bpe", True),
    "olmoe": Shape("olmoe-1b-7b-4-layers", "olmoe", 2048, 4, 16, 16, 1024, 50304, False, 10_000.0, "gpt-2",
                   experts=64, experts_used=8),
    "qwen3moe": Shape("qwen3-30b-a3b-4-layers", "qwen3moe", 2048, 4, 32, 4, 768, 151936, False, 1_000_000.0,
                      "qwen2", experts=128, experts_used=8, head_dim=128),
}
SMOL_VOCAB = 49152

FILE_TYPES = {"q4_0": 2, "q8_0": 7, "q4_k_m": 15}  # llama_ftype values


# ---------------------------------------------------------------------------- random quant blocks
def random_blocks(rng: np.random.Generator, qtype: T, rows: int, cols: int, std: float) -> np.ndarray:
    """(rows, bytes per row) uint8 of random blocks of `qtype` whose values have about `std`."""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    nb = rows * cols // block
    data = np.frombuffer(rng.bytes(nb * size), dtype=np.uint8).reshape(nb, size).copy()

    def set_f16(offset: int, value: float) -> None:
        data[:, offset:offset + 2] = np.frombuffer(np.float16(value).tobytes(), dtype=np.uint8)

    if qtype == T.Q4_0:  # d, 16 bytes of nibbles: (q - 8) * d, q uniform 0..15 (std 4.6)
        set_f16(0, std / 4.6)
    elif qtype == T.Q8_0:  # d, 32 int8 (uniform -128..127, std 74)
        set_f16(0, std / 74.0)
    elif qtype == T.Q5_0:  # d, 4 bytes of high bits, 16 bytes of nibbles: (q - 16) * d (std 9.2)
        set_f16(0, std / 9.2)
    elif qtype == T.Q4_K:  # d, dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        # value = d * sc * q - dmin * m with sc, m uniform 0..63, q 0..15: std ~ d * 31.5 * 4.6 + ...
        set_f16(0, std / 200.0)
        set_f16(2, std / 400.0)
    elif qtype == T.Q6_K:  # ql 128, qh 64, 16 int8 scales, d: value = d * sc * (q - 32), q 0..63 (std 18.5)
        scales = data[:, 192:208].view(np.int8)
        np.clip(scales, -63, 63, out=scales)
        set_f16(208, std / (18.5 * 36.0))
    else:
        raise ValueError(f"no random blocks for {qtype.name}")
    return data.reshape(rows, cols // block * size)


def use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def fallback(qtype: T, cols: int) -> T:
    """llama.cpp's type for a K-quant whose rows are not a multiple of 256."""
    if qtype in (T.Q4_K, T.Q6_K) and cols % 256:
        return T.Q5_0 if qtype == T.Q4_K else T.Q8_0
    return qtype


def tensor_type(kind: str, layer: int, shape: Shape, ftype: str, cols: int) -> T:
    """llama.cpp's `llama_tensor_get_type` for the file types made here (kind: attn_q ... ffn_down,
    head, token_embd)."""
    if ftype == "q8_0":
        return T.Q8_0
    if kind == "head":
        return fallback(T.Q6_K, cols)
    if ftype == "q4_0":
        return T.Q4_0
    # Q4_K_M
    if kind in ("attn_v", "ffn_down") and use_more_bits(layer, shape.layers):
        return fallback(T.Q6_K, cols)
    return fallback(T.Q4_K, cols)


# ---------------------------------------------------------------------------- vocabularies
def bytes_to_unicode() -> list[str]:
    """The GPT-2 byte -> character table, indexed by byte (scripts/reference/synthetic.py's)."""
    table = _byte_table()
    return [table[b] for b in range(256)]


def synthetic_vocab(size: int, controls: int = 256) -> dict:
    """A byte-level BPE vocabulary of exactly `size` tokens: 256 bytes, merges (pairs, then a pair
    and a byte), and `controls` control tokens at the end (Llama 3's layout)."""
    chars = bytes_to_unicode()
    normal = size - controls
    tokens = list(chars)
    merges = []
    for a in chars:
        for b in chars:
            if len(tokens) >= normal:
                break
            tokens.append(a + b)
            merges.append(f"{a} {b}")
    pairs = len(tokens)
    i = 256
    while len(tokens) < normal:
        ab = tokens[i]
        for c in chars:
            if len(tokens) >= normal:
                break
            tokens.append(ab + c)
            merges.append(f"{ab} {c}")
        i += 1
        if i >= pairs:
            raise ValueError("vocabulary too large for pairs + triples")
    types = [int(TokenType.NORMAL)] * len(tokens)
    tokens += [f"<|reserved_special_token_{k}|>" for k in range(controls)]
    types += [int(TokenType.CONTROL)] * controls
    return {"tokens": tokens, "types": types, "merges": merges, "bos": normal, "eos": normal + 1}


def smol_vocab() -> dict | None:
    """The default model's vocabulary, when its file is in the cache."""
    if not DEFAULT_MODEL.exists():
        return None
    reader = gguf.GGUFReader(str(DEFAULT_MODEL))
    f = reader.fields
    return {"tokens": f["tokenizer.ggml.tokens"].contents(), "types": f["tokenizer.ggml.token_type"].contents(),
            "merges": f["tokenizer.ggml.merges"].contents(), "bos": f["tokenizer.ggml.bos_token_id"].contents(),
            "eos": f["tokenizer.ggml.eos_token_id"].contents(), "pre": f["tokenizer.ggml.pre"].contents()}


def llama3_rope_factors(base: float, dim: int, factor: float = 32.0, low: float = 1.0, high: float = 4.0,
                        original: float = 8192.0) -> np.ndarray:
    out = []
    for i in range(0, dim, 2):
        wavelen = 2 * np.pi * base ** (i / dim)
        if wavelen < original / high:
            out.append(1.0)
        elif wavelen > original / low:
            out.append(factor)
        else:
            smooth = (original / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return np.array(out, dtype=np.float32)


# ---------------------------------------------------------------------------- writing
def write(shape: Shape, ftype: str, vocab: dict, path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    n_vocab = len(vocab["tokens"])
    head_dim = shape.head_dim or shape.hidden // shape.heads
    d, ff = shape.hidden, shape.ff
    n_q, n_kv = shape.heads * head_dim, shape.kv_heads * head_dim
    a = shape.arch
    tmp = path.with_suffix(".tmp")
    w = GGUFWriter(str(tmp), a)
    w.add_type("model")
    w.add_name(f"{shape.name} random weights ({ftype})")
    w.add_context_length(131072 if a == "llama" else 32768)
    w.add_embedding_length(d)
    w.add_block_count(shape.layers)
    w.add_feed_forward_length(ff)
    if shape.experts:
        w.add_expert_count(shape.experts)
        w.add_expert_used_count(shape.experts_used)
        if a == "qwen3moe":
            w.add_expert_feed_forward_length(ff)
    if shape.head_dim:
        w.add_key_length(head_dim)
        w.add_value_length(head_dim)
    w.add_head_count(shape.heads)
    w.add_head_count_kv(shape.kv_heads)
    w.add_rope_freq_base(shape.rope_base)
    w.add_layer_norm_rms_eps(1e-5 if a == "llama" else 1e-6)
    w.add_rope_dimension_count(head_dim)
    w.add_vocab_size(n_vocab)
    w.add_file_type(FILE_TYPES[ftype])
    w.add_quantization_version(2)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(vocab.get("pre", shape.pre))
    w.add_token_list(vocab["tokens"])
    w.add_token_types(vocab["types"])
    w.add_token_merges(vocab["merges"])
    w.add_bos_token_id(int(vocab["bos"]))
    w.add_eos_token_id(int(vocab["eos"]))
    w.add_add_bos_token(False)

    def norm(n: int) -> np.ndarray:
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    def matrix(name: str, qtype: T, rows: int, cols: int, std: float, cache: dict) -> None:
        key = (qtype, rows, cols)
        if key not in cache:
            cache[key] = random_blocks(rng, qtype, rows, cols, std)
        w.add_tensor(name, cache[key], raw_dtype=qtype)

    shared: dict = {}
    head_type = tensor_type("head", 0, shape, ftype, d)
    embd_type = head_type if shape.tied else tensor_type("token_embd", 0, shape, ftype, d)
    matrix("token_embd.weight", embd_type, n_vocab, d, 1.0, {})
    if shape.llama3_rope:
        w.add_tensor("rope_freqs.weight", llama3_rope_factors(shape.rope_base, head_dim))
    shapes = dict(attn_q=(n_q, d), attn_k=(n_kv, d), attn_v=(n_kv, d), attn_output=(d, n_q),
                  ffn_gate=(ff, d), ffn_up=(ff, d), ffn_down=(d, ff))
    for layer in range(shape.layers):
        p = f"blk.{layer}."
        w.add_tensor(p + "attn_norm.weight", norm(d))
        for kind, (rows, cols) in shapes.items():
            gain = 0.5 if kind in ("attn_output", "ffn_down") else 1.0
            qtype = tensor_type(kind, layer, shape, ftype, cols)
            if shape.experts and kind.startswith("ffn_"):
                key = ("experts", qtype, rows, cols)
                if key not in shared:
                    blocks = random_blocks(rng, qtype, shape.experts * rows, cols, gain / np.sqrt(cols))
                    shared[key] = blocks.reshape(shape.experts, rows, -1)
                w.add_tensor(p + kind + "_exps.weight", shared[key], raw_dtype=qtype)
                continue
            matrix(p + kind + ".weight", qtype, rows, cols, gain / np.sqrt(cols), shared)
        if shape.experts:
            w.add_tensor(p + "ffn_gate_inp.weight",
                         (rng.standard_normal((shape.experts, d)) / np.sqrt(d)).astype(np.float32))
        if a == "qwen3moe":
            for kind in ("attn_q_norm", "attn_k_norm"):
                w.add_tensor(p + kind + ".weight", norm(head_dim))
        if a == "olmoe":
            w.add_tensor(p + "attn_q_norm.weight", norm(n_q))
            w.add_tensor(p + "attn_k_norm.weight", norm(n_kv))
        if a == "qwen2":
            for kind, n in (("attn_q", n_q), ("attn_k", n_kv), ("attn_v", n_kv)):
                w.add_tensor(p + kind + ".bias", (0.1 * rng.standard_normal(n)).astype(np.float32))
        w.add_tensor(p + "ffn_norm.weight", norm(d))
    w.add_tensor("output_norm.weight", norm(d))
    if not shape.tied:
        matrix("output.weight", head_type, n_vocab, d, 1.0 / np.sqrt(d), {})
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(path)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="0.5b,1b,3b,8b")
    ap.add_argument("--types", default="q4_0,q4_k_m,q8_0")
    ap.add_argument("--vocab", default="real,smol", help="real (the shape's own size), smol (49,152), or both")
    ap.add_argument("--out-dir", default=str(CACHE / "shapes"))
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    ap.add_argument("--list", action="store_true", help="print the paths that would be written and exit")
    args = ap.parse_args()
    out = Path(args.out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    vocab_cache: dict = {}
    for key in args.shapes.split(","):
        shape = SHAPES[key.strip()]
        for vocab_kind in args.vocab.split(","):
            for ftype in args.types.split(","):
                path = out / f"{key}-{vocab_kind}.{ftype}.gguf"
                if args.list:
                    print(path)
                    continue
                if path.exists() and not args.force:
                    print(f"exists {path}")
                    continue
                size = shape.vocab if vocab_kind == "real" else SMOL_VOCAB
                if (vocab_kind, size) not in vocab_cache:
                    vocab_cache[(vocab_kind, size)] = (smol_vocab() if vocab_kind == "smol" else None) \
                        or synthetic_vocab(size)
                start = time.perf_counter()
                write(shape, ftype, vocab_cache[(vocab_kind, size)], path)
                print(f"wrote {path} ({path.stat().st_size / 1e9:.2f} GB, {time.perf_counter() - start:.1f} s)",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

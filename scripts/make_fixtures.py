#!/usr/bin/env python3
"""Generate independent reference fixtures for Tandem's forward pass.

    python3 scripts/make_fixtures.py --synthetic [--check-llamacpp]
        Writes small random GGUF models and their float64 reference logits to
        Tests/Fixtures/generated/ (gitignored; run before `swift test`, takes a few seconds),
        including RoPE-scaled llamas (llama3 factors in rope_freqs.weight or in metadata, linear),
        and small files Tandem must refuse (refuse-*.gguf: unknown architecture, yarn, experts,
        unconsumed tensors, malformed rope_freqs.weight).

    python3 scripts/make_fixtures.py --real-model ~/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf
        Writes Tests/Fixtures/model/smollm2-reference.json (committed; ~1-2 minutes).
        Prompt token ids come from transformers' GGUF tokenizer converter; if llama_cpp is
        importable the logits are cross-checked against llama.cpp and the differences stored.

All numbers come from scripts/reference/forward.py: every tensor is dequantized with
gguf.quants.dequantize and the forward pass runs in float64. Formats: Tests/Fixtures/model/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from reference import ReferenceModel  # noqa: E402
from reference.synthetic import default_specs, refused_specs, write_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REAL_MODEL = Path.home() / ".cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf"

SYNTH_PROMPT_LENGTHS = (5, 12, 33)
SYNTH_GREEDY = 8
REAL_GREEDY = 24
REAL_TOP_K = 10

REAL_PROMPTS = [
    ("capital", "The capital of France is"),
    ("chat", "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
             "<|im_start|>assistant\n"),
    ("code", "def fibonacci(n):"),
    ("paragraph", "The history of astronomy spans thousands of years. Ancient civilizations watched the motions of "
                  "the Sun, the Moon and the planets, and used them to keep calendars and to predict the seasons. "
                  "In the seventeenth century, the first telescopes revealed moons around Jupiter and the phases of "
                  "Venus, which changed how people"),
]
# Strings whose first token's logit is stored at every position (plus the three control tokens).
FIXED_TOKEN_STRINGS = [" Paris", " the", ",", ".", "\n", " is", " France", " 4", "4", " def", " return", "(",
                       ":", " The", " a", " of", " and"]


def rounded(a, decimals: int) -> list:
    return np.round(np.asarray(a, dtype=np.float64), decimals).tolist()


def llamacpp_logits(path: Path, prompts: list[list[int]], n_ctx: int = 512):
    """llama.cpp logits of every position for each prompt, or None if llama_cpp is missing."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return None
    llm = Llama(str(path), logits_all=True, n_ctx=n_ctx, n_threads=2, n_threads_batch=2, verbose=False)
    out = []
    for toks in prompts:
        llm.reset()
        llm.eval(toks)
        out.append(np.array(llm.scores[: len(toks)], dtype=np.float64))
    return out


def compare(ref: list[np.ndarray], other: list[np.ndarray]) -> dict:
    diffs = [np.abs(a - b) for a, b in zip(ref, other)]
    rel = [float(np.linalg.norm(a - b) / np.linalg.norm(a)) for a, b in zip(ref, other)]
    agree = [float(np.mean(a.argmax(1) == b.argmax(1))) for a, b in zip(ref, other)]
    top5 = [sorted(np.argsort(-a[-1])[:5].tolist()) == sorted(np.argsort(-b[-1])[:5].tolist()) for a, b in zip(ref, other)]
    return {
        "max_abs_diff": float(max(d.max() for d in diffs)),
        "mean_abs_diff": float(np.mean(np.concatenate([d.ravel() for d in diffs]))),
        "max_relative_l2": max(rel),
        "argmax_agreement_per_prompt": agree,
        "last_position_top5_same_set": top5,
    }


# ---------------------------------------------------------------------------- synthetic
def make_synthetic(out_dir: Path, check_llamacpp: bool) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for spec in default_specs():
        t0 = time.time()
        gguf_path = out_dir / f"{spec.name}.gguf"
        write_model(spec, gguf_path)
        model = ReferenceModel(gguf_path, run_context=spec.run_context)
        # Routing is discontinuous: in a quantized mixture of experts, the 8-bit rounding of the
        # activations that llama.cpp and Tandem apply before every quantized product moves router
        # logits enough to swap the k-th and (k+1)-th expert where they are close (2 of 58 positions
        # of tiny-qwen3moe-q8, 0.43 of the largest logit), so exact float64 is not what either
        # engine computes there. Such files get the reference with that rounding emulated.
        quantized = any(t not in ("F32", "F16", "BF16") for t in model.tensor_types.values())
        emulated = bool(model.cfg.n_expert) and quantized
        if emulated:
            model = ReferenceModel(gguf_path, activation_quantization=True, run_context=spec.run_context)
        rng = np.random.default_rng(1000 + spec.seed)
        n_vocab = model.cfg.n_vocab
        prompts = []
        for i, n in enumerate(SYNTH_PROMPT_LENGTHS):
            toks = rng.integers(3, n_vocab, size=n).tolist()
            if i == 0:
                toks[0] = 1  # <|im_start|>, the BOS id
            prompts.append([int(t) for t in toks])
        entries, all_logits = [], []
        for toks in prompts:
            logits = model.logits(toks)
            all_logits.append(logits)
            new, margins, rows = model.greedy(toks, SYNTH_GREEDY)
            entries.append({
                "tokens": toks,
                "logits": rounded(logits, 6),
                "greedy_tokens": new,
                "greedy_margins": rounded(margins, 6),
                "greedy_logits": rounded(np.stack(rows), 6),
            })
        doc = {
            "format": "tandem-synthetic-reference-v1",
            "model_file": gguf_path.name,
            "config": model.cfg.to_json(),
            "tensor_types": model.tensor_types,
            "activation_quantization": emulated,
            "prompts": entries,
        }
        if check_llamacpp:
            other = llamacpp_logits(gguf_path, prompts)
            if other is None:
                print("  llama_cpp not importable; skipping cross-check", file=sys.stderr)
            else:
                doc["llamacpp_check"] = compare(all_logits, other)
                print(f"  llama.cpp: {doc['llamacpp_check']}")
        (out_dir / f"{spec.name}.json").write_text(json.dumps(doc, separators=(",", ":")))
        print(f"{spec.name}: {gguf_path.stat().st_size} B gguf, {time.time() - t0:.2f}s")


    for spec in refused_specs():
        write_model(spec, out_dir / f"{spec.name}.gguf")
    print(f"{len(refused_specs())} files Tandem must refuse: {', '.join(s.name for s in refused_specs())}")


# ---------------------------------------------------------------------------- real model
class HFTokenizer:
    """transformers' GGUF tokenizer conversion, fed by gguf.GGUFReader.

    AutoTokenizer.from_pretrained(dir, gguf_file=...) reads the metadata through a module that
    imports torch; we read the same metadata with the gguf package and hand it to transformers'
    own converter (transformers.integrations.gguf.gguf_tokenizer_mapping)."""

    def __init__(self, path: Path):
        from gguf import GGUFReader
        from transformers.integrations.gguf import gguf_tokenizer_mapping as gtm

        reader = GGUFReader(str(path))
        metadata = {k: f.contents() for k, f in reader.fields.items() if k.startswith(("tokenizer.", "general."))}
        grouped = {
            group: {name: metadata[f"tokenizer.{key}"] for key, name in renames.items() if f"tokenizer.{key}" in metadata}
            for group, renames in gtm.GGUF_TOKENIZER_MAPPING.items()
        }
        self.backend, _ = gtm.convert_gguf_tokenizer(metadata["general.architecture"], grouped["tokenizer"])

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: list[int]) -> str:
        return self.backend.decode(ids, skip_special_tokens=False)


def tokenize_real(path: Path) -> tuple[list[list[int]], list[int], HFTokenizer]:
    tok = HFTokenizer(path)
    prompts = [tok.encode(text) for _, text in REAL_PROMPTS]
    fixed = [0, 1, 2]
    for s in FIXED_TOKEN_STRINGS:
        ids = tok.encode(s)
        if ids and ids[0] not in fixed:
            fixed.append(ids[0])
    try:  # independent check of the token ids with llama.cpp's own tokenizer
        from llama_cpp import Llama

        llm = Llama(str(path), vocab_only=True, verbose=False)
        for (name, text), ids in zip(REAL_PROMPTS, prompts):
            other = llm.tokenize(text.encode(), add_bos=False, special=True)
            if other != ids:
                raise SystemExit(f"tokenizer mismatch for prompt {name}: transformers {ids} llama.cpp {other}")
        print("prompt token ids: transformers == llama.cpp")
    except ImportError:
        pass
    return prompts, fixed, tok


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_real(path: Path, out_file: Path) -> None:
    t0 = time.time()
    prompts, fixed, tok = tokenize_real(path)
    print(f"tokenized in {time.time() - t0:.1f}s: lengths {[len(p) for p in prompts]}")
    model = ReferenceModel(path)
    fixed_arr = np.array(fixed)
    entries, all_logits = [], []
    for (name, text), toks in zip(REAL_PROMPTS, prompts):
        t1 = time.time()
        logits = model.logits(toks)
        all_logits.append(logits)
        top = np.argsort(-logits, axis=1, kind="stable")[:, :REAL_TOP_K]
        new, margins, rows = model.greedy(toks, REAL_GREEDY)
        rows = np.stack(rows)
        gtop = np.argsort(-rows, axis=1, kind="stable")[:, :REAL_TOP_K]
        entries.append({
            "name": name,
            "text": text,
            "tokens": toks,
            "top_ids": top.tolist(),
            "top_logits": rounded(np.take_along_axis(logits, top, axis=1), 5),
            "fixed_logits": rounded(logits[:, fixed_arr], 5),
            "greedy_tokens": new,
            "greedy_text": tok.decode(new),
            "greedy_margins": rounded(margins, 5),
            "greedy_top_ids": gtop.tolist(),
            "greedy_top_logits": rounded(np.take_along_axis(rows, gtop, axis=1), 5),
        })
        print(f"{name}: {len(toks)} tokens -> {tok.decode(new)!r} (min margin {min(margins):.3f}, {time.time() - t1:.1f}s)")
    doc = {
        "format": "tandem-model-reference-v1",
        "model_file": path.name,
        "model_size": path.stat().st_size,
        "model_sha256": sha256(path),
        "config": model.cfg.to_json(),
        "tensor_type_counts": dict(Counter(model.tensor_types.values())),
        "top_k": REAL_TOP_K,
        "fixed_token_ids": fixed,
        "prompts": entries,
    }
    other = llamacpp_logits(path, prompts)
    if other is not None:
        import llama_cpp

        check = compare(all_logits, other)
        check["llama_cpp_python_version"] = llama_cpp.__version__
        per_pos = [np.abs(a - b).max(axis=1) for a, b in zip(all_logits, other)]
        check["max_abs_diff_per_prompt"] = [float(p.max()) for p in per_pos]
        top1 = [float(np.max(np.abs(a[np.arange(len(a)), a.argmax(1)] - b[np.arange(len(a)), a.argmax(1)])))
                for a, b in zip(all_logits, other)]
        check["max_abs_diff_at_reference_argmax"] = max(top1)
        doc["llamacpp_check"] = check
        print(f"llama.cpp check: {check}")
    else:
        print("llama_cpp not importable; no cross-check", file=sys.stderr)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps(doc, separators=(",", ":")))
    print(f"wrote {out_file} ({out_file.stat().st_size} B) in {time.time() - t0:.1f}s")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--synthetic", action="store_true", help="write tiny random models + references to <out>/generated")
    ap.add_argument("--real-model", nargs="?", const=str(DEFAULT_REAL_MODEL), metavar="PATH",
                    help=f"write <out>/model/smollm2-reference.json (default model {DEFAULT_REAL_MODEL})")
    ap.add_argument("--check-llamacpp", action="store_true", help="also compare synthetic models with llama.cpp")
    ap.add_argument("--out", default=str(REPO / "Tests/Fixtures"), help="fixtures root (default Tests/Fixtures)")
    args = ap.parse_args()
    if not args.synthetic and not args.real_model:
        ap.error("nothing to do: pass --synthetic and/or --real-model")
    out = Path(args.out)
    if args.synthetic:
        make_synthetic(out / "generated", args.check_llamacpp)
    if args.real_model:
        path = Path(os.path.expanduser(args.real_model))
        if not path.is_file():
            print(f"model not found: {path}", file=sys.stderr)
            return 1
        make_real(path, out / "model" / "smollm2-reference.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())

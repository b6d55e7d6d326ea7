#!/usr/bin/env python3
"""Cross-checks the float64 reference's synthetic fixtures with llama.cpp (llama-cpp-python).

    python3 scripts/long/llamacpp_crosscheck.py [NAME ...]   # default: the qwen3 / gemma / MoE fixtures

Reads Tests/Fixtures/generated/NAME.gguf and NAME.json (scripts/make_fixtures.py --synthetic) and
prints how far llama.cpp's logits of every prompt position are from the stored reference logits:
code nobody here wrote checking the reference. Each file runs in its own process, since llama.cpp
aborts on some files (e.g. llama3 RoPE scaling given in metadata only). A fixture that sets a
`run_context` below the file's context runs llama.cpp with that n_ctx (Phi-3's LongRoPE factors
depend on it). llama.cpp has no sliding window for llama files and disables Phi-3's, so for those
fixtures the reference without the window is compared too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GENERATED = REPO / "Tests/Fixtures/generated"
DEFAULT = ["tiny-qwen3", "tiny-qwen3-q8", "tiny-gemma3", "tiny-gemma3-q8", "tiny-gemma2",
           "tiny-phi3", "tiny-phi3-short", "tiny-phi3-q8", "tiny-mistral", "tiny-qwen2-yarn",
           "tiny-qwen3moe", "tiny-mixtral", "tiny-olmoe", "tiny-qwen3moe-q8"]


def check(name: str) -> dict:
    sys.path.insert(0, str(REPO / "scripts"))
    from make_fixtures import llamacpp_logits

    doc = json.loads((GENERATED / f"{name}.json").read_text())
    prompts = [p["tokens"] for p in doc["prompts"]]
    ours = [np.array(p["logits"]) for p in doc["prompts"]]
    # The context llama.cpp runs with (n_ctx) decides Phi-3's LongRoPE factors, as in Tandem: the
    # fixture's run_context when it is below the file's context length.
    run_context = doc["config"].get("run_context") or 0
    n_ctx = run_context if 0 < run_context < doc["config"]["n_ctx_train"] else 512
    theirs = llamacpp_logits(GENERATED / f"{name}.gguf", prompts, n_ctx=n_ctx)
    if theirs is None:
        raise SystemExit("llama_cpp is not importable (pip install llama-cpp-python==0.3.36)")
    relative = max(float(np.max(np.abs(a - b) / np.abs(a).max(axis=1, keepdims=True))) for a, b in zip(ours, theirs))
    agree = [float(np.mean(a.argmax(1) == b.argmax(1))) for a, b in zip(ours, theirs)]
    result = {"worst_relative": relative, "max_abs": float(max(np.abs(a - b).max() for a, b in zip(ours, theirs))),
              "argmax_agreement": agree}
    config = doc["config"]
    if config["architecture"] in ("llama", "phi3") and config.get("sliding_window"):
        # llama.cpp runs llama files without a window and disables Phi-3's: compare it with the
        # reference computed without the window too, which it should match.
        from reference import ReferenceModel
        model = ReferenceModel(GENERATED / f"{name}.gguf", run_context=config.get("run_context", 0))
        model.cfg.local_layers = [False] * model.cfg.n_layer
        full = [model.logits(p) for p in prompts]
        result["worst_relative_without_window"] = max(
            float(np.max(np.abs(a - b) / np.abs(a).max(axis=1, keepdims=True))) for a, b in zip(full, theirs))
    return result


def main() -> int:
    if len(sys.argv) == 3 and sys.argv[1] == "--one":
        print(json.dumps(check(sys.argv[2])))
        return 0
    failed = 0
    for name in sys.argv[1:] or DEFAULT:
        run = subprocess.run([sys.executable, __file__, "--one", name], capture_output=True, text=True)
        if run.returncode != 0:
            failed += 1
            print(f"{name}: llama.cpp failed (exit {run.returncode}): {run.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(run.stdout.strip().splitlines()[-1])
        print(f"{name}: llama.cpp vs reference: worst |Δlogit| / max |logit| {result['worst_relative']:.2e}, "
              f"max |Δ| {result['max_abs']:.4f}, argmax agreement {result['argmax_agreement']}"
              + (f"; vs the reference without its sliding window {result['worst_relative_without_window']:.2e}"
                 if "worst_relative_without_window" in result else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Makes Q8_0 and Q4_K_M variants of the default model with llama.cpp's own quantizer.

    python3 scripts/make_variants.py [--model PATH] [--out-dir DIR]

Uses `llama_model_quantize` from the llama-cpp-python package (the same code as llama.cpp's
`llama-quantize`), requantizing from the Q4_1 file (weights are dequantized to float and quantized
again). The files are for speed comparisons across formats, not for quality. Written next to the
model unless --out-dir is given: SmolLM2-135M-Instruct.Q8_0.gguf and SmolLM2-135M-Instruct.Q4_K_M.gguf.
Note: llama.cpp stores K-quants only in rows that are a multiple of 256 wide; in this model (width
576) that is the ffn_down matrices, and it falls back to Q5_0/Q8_0 elsewhere (it prints which).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from pathlib import Path

DEFAULT_MODEL = Path(os.environ.get("TANDEM_CACHE", Path.home() / ".cache/tandem")) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--out-dir", default=None)
    args = ap.parse_args()
    import llama_cpp

    source = Path(args.model)
    if not source.exists():
        sys.exit(f"{source} not found (run `tandem generate` once to fetch the default model)")
    out_dir = Path(args.out_dir) if args.out_dir else source.parent
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = source.name.split(".Q")[0]
    for name, ftype in [("Q8_0", llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0), ("Q4_K_M", llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M)]:
        target = out_dir / f"{stem}.{name}.gguf"
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = ftype
        params.allow_requantize = True
        params.nthread = os.cpu_count() or 1
        status = llama_cpp.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params))
        if status != 0:
            sys.exit(f"quantizing to {name} failed ({status})")
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

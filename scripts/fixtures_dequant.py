#!/usr/bin/env python3
"""Writes Tests/Fixtures/dequant/<TYPE>.json: random blocks of every tensor type Tandem supports,
with the floats gguf-py's reference `gguf.quants.dequantize` produces for them.

Block bytes are random, except the f16 scale/min fields, which are set to finite, moderate
values so every dequantized value is finite. Expected values are stored as float32 bit patterns
(exact) plus the floats themselves (readability).

Usage: python3 scripts/fixtures_dequant.py [--seed N]
"""
import argparse
import json
import os

import numpy as np
from gguf import GGMLQuantizationType as T, GGML_QUANT_SIZES
from gguf.quants import dequantize

# type -> (number of blocks, byte offsets of f16 scale fields inside a block)
SPECS = {
    T.F32: (64, []),
    T.F16: (64, []),
    T.BF16: (64, []),
    T.Q8_0: (8, [0]),
    T.Q4_0: (8, [0]),
    T.Q4_1: (8, [0, 2]),
    T.Q5_0: (8, [0]),
    T.Q5_1: (8, [0, 2]),
    T.Q4_K: (4, [0, 2]),
    T.Q5_K: (4, [0, 2]),
    T.Q6_K: (4, [208]),
}


def make_blocks(rng, qtype, n_blocks, scale_offsets):
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    if qtype == T.F32:
        return rng.standard_normal(n_blocks, dtype=np.float32).view(np.uint8).copy()
    if qtype == T.F16:
        return rng.standard_normal(n_blocks).astype(np.float16).view(np.uint8).copy()
    if qtype == T.BF16:
        bits = rng.standard_normal(n_blocks, dtype=np.float32).view(np.uint32) >> 16
        return bits.astype(np.uint16).view(np.uint8).copy()
    raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    for offset in scale_offsets:
        scales = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16)
        raw[:, offset:offset + 2] = scales.view(np.uint8).reshape(n_blocks, 2)
    return raw.reshape(-1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "dequant")
    os.makedirs(out_dir, exist_ok=True)
    for qtype, (n_blocks, scale_offsets) in SPECS.items():
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        data = make_blocks(rng, qtype, n_blocks, scale_offsets)
        assert data.size == n_blocks * type_size
        expected = dequantize(data.reshape(1, -1), qtype).reshape(-1).astype(np.float32)
        assert expected.size == n_blocks * block_size
        assert np.all(np.isfinite(expected)), qtype.name
        fixture = {
            "type": qtype.name,
            "typeNumber": int(qtype),
            "count": int(expected.size),
            "hex": data.tobytes().hex(),
            "expectedBits": [int(b) for b in expected.view(np.uint32)],
            "expected": [float(x) for x in expected],
        }
        path = os.path.join(out_dir, f"{qtype.name}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {n_blocks} blocks, {expected.size} values")


if __name__ == "__main__":
    main()

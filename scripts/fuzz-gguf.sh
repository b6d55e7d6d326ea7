#!/usr/bin/env bash
# Fuzzes the GGUF reader with libFuzzer + AddressSanitizer.
#
# Usage: scripts/fuzz-gguf.sh [SECONDS=300] [extra libFuzzer flags...]
#
# Builds the GGUFFuzzer product, optimized, in its own scratch path (.build-fuzz) with
# -sanitize=fuzzer,address and GGUF_FUZZING defined (which swaps the reproducer `main` for
# libFuzzer's driver), seeds a corpus with small valid GGUF files written by gguf-py's GGUFWriter
# (plus the head of the real model when present), and runs for the given number of seconds.
# Crashes are written to .build-fuzz/artifacts/; reproduce one with a normal build:
#   swift build --product GGUFFuzzer && .build/debug/GGUFFuzzer .build-fuzz/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-300}"
shift || true
SCRATCH=.build-fuzz
CORPUS="$SCRATCH/corpus"
SEEDS="$SCRATCH/seeds"
ARTIFACTS="$SCRATCH/artifacts"
MODEL="${TANDEM_MODEL:-$HOME/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf}"

swift build -c release --product GGUFFuzzer --scratch-path "$SCRATCH" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DGGUF_FUZZING -Xswiftc -DFUZZING \
    2>&1 | grep -v "Cannot export local symbol" || true
BINARY="$SCRATCH/release/GGUFFuzzer"
[ -x "$BINARY" ] || { echo "fuzzer build failed" >&2; exit 1; }

mkdir -p "$CORPUS" "$SEEDS" "$ARTIFACTS"
python3 - "$SEEDS" <<'PY'
import os, sys
import numpy as np
from gguf import GGUFWriter, GGMLQuantizationType as T, GGML_QUANT_SIZES

out = sys.argv[1]
rng = np.random.default_rng(7)

def write(name, tensors, extra_kv=True, alignment=None):
    path = os.path.join(out, name)
    w = GGUFWriter(path, "llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    if extra_kv:
        w.add_uint8("t.u8", 7); w.add_int8("t.i8", -7); w.add_uint16("t.u16", 700)
        w.add_int16("t.i16", -700); w.add_uint32("t.u32", 70000); w.add_int32("t.i32", -70000)
        w.add_uint64("t.u64", 1 << 40); w.add_int64("t.i64", -(1 << 40)); w.add_float32("t.f32", 1.5)
        w.add_float64("t.f64", 2.25); w.add_bool("t.bool", True); w.add_string("t.str", "héllo")
        w.add_array("t.arr_str", ["a", "bc", ""]); w.add_array("t.arr_int", [1, 2, 3])
        w.add_array("t.arr_f", [0.5, 1.5]); w.add_array("t.nested", [[1, 2], [3]])
    for tname, qtype, shape in tensors:
        block, size = GGML_QUANT_SIZES[qtype]
        n_bytes = (int(np.prod(shape)) // block) * size
        raw = rng.integers(0, 256, size=n_bytes, dtype=np.uint8)
        if qtype == T.F32:
            raw = rng.standard_normal(int(np.prod(shape)), dtype=np.float32).view(np.uint8)
        byte_shape = list(shape[:-1]) + [shape[-1] // block * size]
        w.add_tensor(tname, raw.reshape(byte_shape) if qtype != T.F32 else raw.view(np.float32).reshape(shape), raw_dtype=qtype)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

write("kv_only.gguf", [])
write("f32.gguf", [("norm.weight", T.F32, [8])])
for qtype in (T.F16, T.BF16, T.Q8_0, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1):
    write(f"{qtype.name}.gguf", [("w", qtype, [2, 32]), ("b", T.F32, [4])], extra_kv=False)
for qtype in (T.Q4_K, T.Q5_K, T.Q6_K):
    write(f"{qtype.name}.gguf", [("w", qtype, [256])], extra_kv=False)
write("mixed_align64.gguf", [("a", T.Q4_1, [32]), ("b", T.Q6_K, [256]), ("c", T.F16, [3, 2])], alignment=64)
PY
if [ -f "$MODEL" ]; then head -c 16384 "$MODEL" > "$SEEDS/model_head.gguf"; fi

echo "running libFuzzer for $SECONDS_TO_RUN s (corpus $CORPUS, seeds $SEEDS)"
"$BINARY" "$CORPUS" "$SEEDS" -max_total_time="$SECONDS_TO_RUN" -max_len=20000 -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$@"

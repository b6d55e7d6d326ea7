#!/usr/bin/env bash
# The long fuzzing run: each untrusted-input fuzzer (request validation, chat templates) for at
# least 1,000,000 executions (or MAX_SECONDS each, default 2 hours), one after the other; prints
# libFuzzer's final statistics. Results go in docs/reliability.md.
# Usage: scripts/long/fuzz-1m.sh [RUNS=1000000] [MAX_SECONDS=7200]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-1000000}
max_seconds=${2:-7200}
for fuzzer in requests template; do
  echo "==> scripts/fuzz-$fuzzer.sh: $runs runs"
  start=$(date +%s)
  scripts/fuzz-$fuzzer.sh "$max_seconds" -runs="$runs" 2>&1 | grep -E "^(Done|stat::|==|INFO: -max_total_time)|Fatal|ERROR|crash"
  echo "==> $fuzzer: $(( $(date +%s) - start )) s"
done

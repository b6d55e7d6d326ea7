#!/usr/bin/env bash
# The full scale-out run: two `tandem serve` workers behind sglang-router and vllm-router
# (cache_aware against round_robin, one worker killed and restarted) and one worker with all the
# threads, on a shared-prefix workload (scripts/cluster.py --mode full; about 4 minutes on 2 cores).
# Results go in docs/deploy.md ("Measured on loopback").
# Usage: scripts/long/cluster-full.sh [JSON_FILE=cluster-full.json]
set -euo pipefail
cd "$(dirname "$0")/../.."
flags=(-c release -Xswiftc -enable-testing)
swift build "${flags[@]}" --product tandem
python3 -m venv .venv 2>/dev/null || true
.venv/bin/python scripts/cluster.py --binary "$(swift build "${flags[@]}" --show-bin-path)/tandem" --mode full --install \
  --json "${1:-cluster-full.json}"

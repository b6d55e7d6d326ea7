#!/usr/bin/env bash
# Fuzzes the chat-template interpreter (lexer, parser, renderer) with libFuzzer + AddressSanitizer.
#
# Usage: scripts/fuzz-template.sh [SECONDS=300] [extra libFuzzer flags...]
#
# Builds the TemplateFuzzer product, optimized, in its own scratch path (.build-fuzz-template) with
# -sanitize=fuzzer,address and TEMPLATE_FUZZING defined (which swaps the reproducer `main` for
# libFuzzer's driver), seeds a corpus with the real chat templates in Tests/Fixtures/templates/src
# and hostile templates (deep nesting, long chains, huge repetitions, overflowing arithmetic), and
# runs for the given number of seconds. Input format (see Sources/TemplateFuzzer/FuzzTarget.swift):
# byte 0 picks the limits (bit 0: small) and a context; then template source; after a NUL, JSON
# whose keys extend the context. Exits non-zero on a crash, a timeout or running out of memory.
# Crashes are written to .build-fuzz-template/artifacts/; reproduce one with a normal build:
#   swift build --product TemplateFuzzer && .build/debug/TemplateFuzzer .build-fuzz-template/artifacts/crash-...
# (`TemplateFuzzer --template FILE` renders a plain template file the same way.)
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-300}"
shift || true
SCRATCH=.build-fuzz-template
CORPUS="$SCRATCH/corpus"
SEEDS="$SCRATCH/seeds"
ARTIFACTS="$SCRATCH/artifacts"

swift build -c release --product TemplateFuzzer --scratch-path "$SCRATCH" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DTEMPLATE_FUZZING -Xswiftc -DFUZZING \
    2>&1 | grep -v "Cannot export local symbol" || true
BINARY="$SCRATCH/release/TemplateFuzzer"
[ -x "$BINARY" ] || { echo "fuzzer build failed" >&2; exit 1; }

mkdir -p "$CORPUS" "$SEEDS" "$ARTIFACTS"
python3 - "$SEEDS" Tests/Fixtures/templates/src <<'PY'
import os, sys
out, templates = sys.argv[1], sys.argv[2]

def write(name, selector, source, extra=None):
    data = bytes([selector]) + source.encode("utf-8")
    if extra is not None:
        data += b"\0" + extra.encode("utf-8")
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)

# The real templates, each with every context, with default and small limits.
for file in sorted(os.listdir(templates)):
    source = open(os.path.join(templates, file), encoding="utf-8").read()
    for context in range(6):
        write(f"{file}.{context}", context << 1, source)
    write(f"{file}.small", 1 | (2 << 1), source)

MIN = "(-9223372036854775807 - 1)"
hostile = {
    "divisibleby_min": "{{ %s is divisibleby(-1) }}" % MIN,
    "format_negative": "{{ '{-1}'.format(1) }}{{ '{0}{1}{}'.format(1, 2) }}",
    "arith_min": "{{ %s // -1 }}{{ %s %% -1 }}{{ -%s }}{{ %s|abs }}{{ 2 ** 64 }}" % (MIN, MIN, MIN, MIN),
    "int_conversions": "{{ 1e300|int }}{{ 'nan'|int }}{{ '1e300'|int }}{{ (0.0/1)|int }}{{ 'inf'|float|int }}",
    "range_extremes": "{{ range(-9223372036854775807, 9223372036854775807) }}{{ range(0, 1, %s) }}" % MIN,
    "add_chain": "{{ " + "+".join(["0"] * 3000) + " }}",
    "filter_chain": "{{ 0" + "|abs" * 3000 + " }}",
    "attr_chain": "{{ x" + ".a" * 3000 + " }}",
    "deep_parens": "{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}",
    "deep_lists": "{{ " + "[" * 3000 + "]" * 3000 + " }}",
    "deep_ifs": "{% if 1 %}" * 3000 + "{% endif %}" * 3000,
    "string_repeat": "{{ 'a' * 9223372036854775807 }}{{ '' * 9223372036854775807 }}{{ [] * 9223372036854775807 }}",
    "join_big": "{{ (['x' * 1000000] * 100000) | join }}",
    "format_big": "{{ ('{0}' * 100000).format('x' * 1000000) }}",
    "replace_big": "{{ ('a' * 100000) | replace('', 'b' * 1000) }}",
    "indent_big": "{{ ('a\\n' * 100000) | indent('b' * 1000) }}",
    "tojson_indent": "{{ [[[[1]]]] | tojson(indent='x' * 1000000) }}",
    "loop_bytes": "{% set ns = namespace(s='') %}{% for i in range(900000) %}{% set ns.s = ns.s ~ 'x' %}{% endfor %}",
    "deep_value": "{% set ns = namespace(x=1) %}{% for i in range(9000) %}{% set ns.x = [ns.x] %}{% endfor %}",
    "deep_namespace": "{% set ns = namespace(x=1) %}{% for i in range(9000) %}{% set ns.x = namespace(y=ns.x) %}{% endfor %}",
    "macro_recursion": "{% macro f(n) %}{% if 1 %}{% if 1 %}{{ f(n + 1) }}{% endif %}{% endif %}{% endmacro %}{{ f(0) }}",
    "quadratic_find": "{{ ('a' * 100000).find('a' * 50000 ~ 'b') }}{{ ('a' * 100000).rfind('a' * 50000) }}",
    "methods": "{{ s.split() }}{{ s.strip('h') }}{{ s.title() }}{{ list|tojson(indent=2, sort_keys=true) }}"
               "{{ dict|dictsort }}{{ list[1:-1:2] }}{{ dict.items()|list }}{{ s.startswith(('h', 'x')) }}",
}
for name, source in hostile.items():
    write(f"hostile_{name}", 0, source)
    write(f"hostile_{name}.small", 1, source)
write("context_json", 10, "{{ extra|tojson }}{% for k, v in extra.items() %}{{ k }}={{ v }}{% endfor %}",
      '{"extra": {"a": [1, 2.5, "x", null, true], "b": {"c": "\\u00e9"}}}')
PY

echo "running libFuzzer for $SECONDS_TO_RUN s (corpus $CORPUS, seeds $SEEDS)"
ASAN_OPTIONS=quarantine_size_mb=64 SWIFT_BACKTRACE=enable=no "$BINARY" "$CORPUS" "$SEEDS" -max_total_time="$SECONDS_TO_RUN" -max_len=16384 -timeout=30 \
    -rss_limit_mb=4096 -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$@"

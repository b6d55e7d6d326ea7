#!/usr/bin/env bash
# Fuzzes request decoding and validation (the APIRequests module) with libFuzzer + AddressSanitizer.
#
# Usage: scripts/fuzz-requests.sh [SECONDS=300] [extra libFuzzer flags...]
#
# Builds the RequestFuzzer product, optimized, in its own scratch path (.build-fuzz-requests) with
# -sanitize=fuzzer,address and REQUEST_FUZZING defined (which swaps the reproducer `main` for
# libFuzzer's driver), seeds a corpus with valid and hostile request bodies, and runs for the given
# number of seconds. Each input is decoded as a completions, chat, tokenize and detokenize body.
# Crashes are written to .build-fuzz-requests/artifacts/; reproduce one with a normal build:
#   swift build --product RequestFuzzer && .build/debug/RequestFuzzer .build-fuzz-requests/artifacts/crash-...
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_TO_RUN="${1:-300}"
shift || true
SCRATCH=.build-fuzz-requests
CORPUS="$SCRATCH/corpus"
SEEDS="$SCRATCH/seeds"
ARTIFACTS="$SCRATCH/artifacts"

swift build -c release --product RequestFuzzer --scratch-path "$SCRATCH" \
    -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DREQUEST_FUZZING -Xswiftc -DFUZZING \
    2>&1 | grep -v "Cannot export local symbol" || true
BINARY="$SCRATCH/release/RequestFuzzer"
[ -x "$BINARY" ] || { echo "fuzzer build failed" >&2; exit 1; }

mkdir -p "$CORPUS" "$SEEDS" "$ARTIFACTS"
i=0
while IFS= read -r line; do
  printf '%s' "$line" > "$SEEDS/seed-$i.json"
  i=$((i + 1))
done <<'SEEDS'
{"prompt":"Hello","max_tokens":16,"temperature":0.7,"top_p":0.9,"top_k":40,"min_p":0.05,"seed":7,"n":2,"stop":["\n","END"],"logprobs":3,"echo":true}
{"prompt":[1,2,3],"max_tokens":1,"logit_bias":{"5":-100,"7":2.5},"stop_token_ids":[4],"stream":true,"stream_options":{"include_usage":true}}
{"prompt":[[1,2]],"presence_penalty":-2,"frequency_penalty":2,"repetition_penalty":1.1,"ignore_eos":true,"user":"u","metadata":{"a":"b"}}
{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi"}]},{"role":"assistant","content":null}],"max_completion_tokens":8,"logprobs":true,"top_logprobs":5}
{"messages":[{"role":"user","content":"x"}],"chat_template_kwargs":{"enable_thinking":false,"n":[1,{"a":null}]},"add_generation_prompt":false,"response_format":{"type":"text"},"tools":[],"tool_choice":"none"}
{"messages":[{"role":"developer","content":"\ud83d\ude00 \u00e9 \\ \" \/ \b\f\n\r\t"}],"temperature":1e-3,"top_k":-1}
{"prompt":"a","max_tokens":9223372036854775807,"seed":-9223372036854775808,"temperature":1e308,"repetition_penalty":1e-40}
{"prompt":"a","response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{}}},"guided_regex":"a+","best_of":3,"suffix":"z"}
{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"p","schema":{"type":"object","properties":{"a":{"type":"integer","minimum":-5,"maximum":300},"b":{"type":"array","items":{"enum":["x",1,null]},"maxItems":3},"c":{"$ref":"#/$defs/c"}},"required":["a"],"$defs":{"c":{"anyOf":[{"type":"string","pattern":"^[a-z]{2,4}$"},{"type":"null"}]}}}}}}
{"prompt":"a","guided_regex":"(ab|[^c-e]){2,5}\\d+\\.?\\w*"}
{"prompt":"a","guided_grammar":"root ::= item (\",\" item)*\nitem ::= [a-z]+ | \"\\\"\" [^\"]* \"\\\"\""}
{"prompt":"a","structured_outputs":{"choice":["yes","no"]},"guided_json":"{\"type\":\"string\",\"format\":\"date\"}"}
{"tokens":[0,1,2,999]}
{"prompt":"x","add_special_tokens":false,"return_token_strs":true}
[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
{"a":1,"a":2,"prompt":"dup","n":1.0,"max_tokens":2.0}
SEEDS

echo "running libFuzzer for $SECONDS_TO_RUN s (corpus $CORPUS, seeds $SEEDS)"
ASAN_OPTIONS=quarantine_size_mb=64 SWIFT_BACKTRACE=enable=no "$BINARY" "$CORPUS" "$SEEDS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout=10 \
    -rss_limit_mb=4096 -malloc_limit_mb=512 -print_final_stats=1 -artifact_prefix="$ARTIFACTS/" "$@"

#!/usr/bin/env python3
"""Golden fixtures for the Swift ChatTemplate interpreter.

Renders real chat templates (Tests/Fixtures/templates/src/*.jinja) and small synthetic
templates with the exact Jinja2 environment that HF transformers builds for
`apply_chat_template` (ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True),
loopcontrols, its own `tojson`, `raise_exception`, `strftime_now`, `dict`, `namespace`).
`strftime_now` is pinned to FIXED_NOW so the output is reproducible.

Writes Tests/Fixtures/templates/<name>.json = {"name", "template", "cases": [
    {"context": {...}, "expected": str} | {"context": {...}, "error": str, "error_type": str}]}
and features.json = [ {name, template, cases}, ... ].
"""
import datetime as _dt
import json
import os
import sys

import transformers.utils.chat_template_utils as ctu

FIXED_NOW = _dt.datetime(2024, 7, 26, 13, 5, 9)


class _FixedDatetime(_dt.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


ctu.datetime = _FixedDatetime  # strftime_now() calls datetime.now()

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "Fixtures", "templates")
SRC = os.path.join(ROOT, "src")


def compile_template(source):
    return ctu._compile_jinja_template(source)


def render_case(source, context):
    try:
        out = compile_template(source).render(**context)
        return {"context": context, "expected": out}
    except Exception as ex:  # record the error the template raises
        return {"context": context, "error": str(ex), "error_type": type(ex).__name__}


# ---------------------------------------------------------------- chat cases
SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello!"}
A1 = {"role": "assistant", "content": "Hi there, how can I help?"}
U2 = {"role": "user", "content": "What is 2+2?"}
UNI = {"role": "user", "content": "  Grüße, 世界! 🌍👩‍👩‍👧\nSecond line with \"quotes\" and 'apostrophes'\tand tab.  \n"}
AUNI = {"role": "assistant", "content": "\n Ответ: «четыре» — 4. \n"}

TOOLS = [{
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Unit"},
            },
            "required": ["city"],
        },
    },
}]
TOOL_CALL_MSG = {"role": "assistant", "content": "", "tool_calls": [{
    "id": "call12345", "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}]}
TOOL_RESULT_MSG = {"role": "tool", "tool_call_id": "call12345", "name": "get_weather",
                   "content": "{\"temperature\": 21, \"sky\": \"sunny\"}"}
A_AFTER_TOOL = {"role": "assistant", "content": "It is 21 °C and sunny in Zürich."}

CONVERSATIONS = {
    "system_user": [SYS, U1],
    "multi_turn": [SYS, U1, A1, U2],
    "no_system": [U1, A1, U2],
    "single_user": [U1],
    "unicode": [SYS, UNI, AUNI, U2],
    "ends_with_assistant": [U1, A1],
    "bad_alternation": [U1, U2],
    "system_only": [SYS],
}
TOOL_CONVERSATIONS = {
    "tools_first_turn": [SYS, {"role": "user", "content": "Weather in Zürich?"}],
    "tools_roundtrip": [SYS, {"role": "user", "content": "Weather in Zürich?"}, TOOL_CALL_MSG, TOOL_RESULT_MSG, A_AFTER_TOOL],
}
MODEL_TEMPLATES = {
    # name: (tokens, supports tools)
    "smollm2": (("<|im_start|>", "<|im_end|>"), False),
    "chatml": (("<s>", "</s>"), False),
    "zephyr": (("<s>", "</s>"), False),
    "llama3": (("<|begin_of_text|>", "<|eot_id|>"), False),
    "llama3_1": (("<|begin_of_text|>", "<|eot_id|>"), True),
    "llama3_2": (("<|begin_of_text|>", "<|eot_id|>"), True),
    "qwen2_5": (("", "<|im_end|>"), True),
    "qwen3_coder": (("", "<|im_end|>"), True),
    "mistral_v2": (("<s>", "</s>"), False),
    "mistral_v3": (("<s>", "</s>"), True),
    "mistral_small3_1": (("<s>", "</s>"), True),
    "gemma2": (("<bos>", "<eos>"), False),
    "gemma3": (("<bos>", "<eos>"), False),
    "qwen3": (("", "<|im_end|>"), True),
    "phi3": (("<s>", "<|endoftext|>"), False),
    "mistral_v1": (("<s>", "</s>"), False),
}


def chat_context(messages, agp, bos, eos, tools=None, extra=None):
    # Same variables transformers' render_jinja_template passes.
    ctx = {"messages": messages, "tools": tools, "documents": None, "add_generation_prompt": agp,
           "bos_token": bos, "eos_token": eos}
    if extra:
        ctx.update(extra)
    return ctx


# Qwen3: the thinking switch and reasoning in the history (kept only after the last user query).
A_THINK = {"role": "assistant", "content": "<think>\nThe user greets me.\n</think>\n\nHi there, how can I help?"}
A_REASONING = {"role": "assistant", "content": "2+2 is 4.", "reasoning_content": "\nAdd two and two.\n"}
TOOL_CALL_THINK = {"role": "assistant", "content": "<think>I need the weather.</think>\n\nLet me check.",
                   "tool_calls": TOOL_CALL_MSG["tool_calls"]}


def qwen3_cases(source, bos, eos):
    out = []
    for thinking in (True, False):
        for msgs in ([SYS, U1], [U1, A_THINK, U2], [SYS, U1, A_THINK, U2, A_REASONING]):
            out.append(render_case(source, chat_context(msgs, True, bos, eos, extra={"enable_thinking": thinking})))
    # history with reasoning, no generation prompt: the last turn keeps its reasoning, earlier ones drop it
    out.append(render_case(source, chat_context([SYS, U1, A_THINK, U2, A_REASONING], False, bos, eos)))
    out.append(render_case(source, chat_context([U1, A_REASONING], False, bos, eos)))
    # a tool round trip after the last user query: reasoning kept on the tool-calling turn
    out.append(render_case(source, chat_context(
        [SYS, {"role": "user", "content": "Weather in Zürich?"}, TOOL_CALL_THINK, TOOL_RESULT_MSG, A_AFTER_TOOL],
        True, bos, eos, tools=TOOLS, extra={"enable_thinking": False})))
    return out


def model_fixtures():
    for name, ((bos, eos), tools_ok) in MODEL_TEMPLATES.items():
        with open(os.path.join(SRC, name + ".jinja"), encoding="utf-8") as f:
            source = f.read()
        cases = []
        for conv_name, msgs in CONVERSATIONS.items():
            for agp in (True, False):
                cases.append(render_case(source, chat_context(msgs, agp, bos, eos)))
        if tools_ok:
            for conv_name, msgs in TOOL_CONVERSATIONS.items():
                cases.append(render_case(source, chat_context(msgs, True, bos, eos, tools=TOOLS)))
        if name.startswith("llama3_"):
            cases.append(render_case(source, chat_context([SYS, U1], True, bos, eos, extra={"date_string": "01 Jan 2025"})))
            cases.append(render_case(source, chat_context(TOOL_CONVERSATIONS["tools_first_turn"], True, bos, eos,
                                                          tools=TOOLS, extra={"tools_in_user_message": False})))
        if name == "llama3_1":
            cases.append(render_case(source, chat_context([SYS, U1], True, bos, eos,
                                                          extra={"builtin_tools": ["brave_search", "code_interpreter", "wolfram_alpha"]})))
            cases.append(render_case(source, chat_context([U1, A1, U2, {"role": "assistant", "content": "", "tool_calls": [
                {"function": {"name": "a", "arguments": {}}}, {"function": {"name": "b", "arguments": {}}}]}], True, bos, eos)))
        if name == "qwen3":
            cases.extend(qwen3_cases(source, bos, eos))
        if name == "gemma3":
            multimodal = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
                          {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe. "}]}]
            cases.append(render_case(source, chat_context(multimodal, True, bos, eos)))
            cases.append(render_case(source, chat_context([{"role": "user", "content": 42}], True, bos, eos)))
        yield name, source, cases


# ---------------------------------------------------------------- features
F = []


def feature(name, template, *contexts):
    F.append((name, template, list(contexts) or [{}]))


feature("text_only", "Hello, world!\n")
feature("trailing_newline_kept_once", "a\n\n")
feature("comment", "a{# a comment #}b\n{# line comment #}\nc")
feature("variables", "{{ name }}|{{ n }}|{{ f }}|{{ t }}|{{ nothing }}|{{ missing }}",
        {"name": "Ada", "n": 42, "f": 2.5, "t": True, "nothing": None})
feature("whitespace_control", "a  {{- ' b ' -}}  c\n  {%- if true -%}  d  {%- endif -%}  \n e")
feature("trim_lstrip_blocks", "<ul>\n  {% for x in xs %}\n    <li>{{ x }}</li>\n  {% endfor %}\n</ul>\n", {"xs": [1, 2]})
feature("lstrip_plus_disables", "x\n  {%+ if true %}y{% endif %}\n  {% if true +%}\nz{% endif %}")
feature("lstrip_not_after_text", "a  {% if true %}b{% endif %}\n  {# c #}\nd")
feature("raw_block", "{% raw %}{{ not evaluated }} {% if %}{% endraw %}!")
feature("literals", "{{ 'single' }} {{ \"double\" }} {{ 'esc\\n\\t\\'q\\' \\\\ \\u00e9 \\x41' }} {{ 'adj' 'acent' }} {{ 1_000 }} {{ 0.5e1 }} {{ true }} {{ True }} {{ false }} {{ none }} {{ None }} {{ [1, 'a', none, [2.0]] }} {{ {'k': 'v', 'n': 1} }} {{ (1, 2) | join(',') }} {{ () | length }}")
feature("arithmetic", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 1.5 * 2 }} {{ 0.1 + 0.2 }} {{ 1e20 }} {{ 10 / 4 }} {{ -x }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ 7.5 // 2 }} {{ 7.5 % 2 }}", {"x": 5})
feature("concat", "{{ 'a' ~ 1 ~ none ~ true ~ 2.0 ~ missing ~ [1] }}|{{ 'x' + 'y' }}")
feature("comparisons", "{{ 1 < 2 }} {{ 2 <= 2 }} {{ 3 > 4 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ [1,2] == [1,2] }} {{ {'a':1,'b':2} == {'b':2,'a':1} }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ none == none }} {{ missing == none }} {{ true == 1 }}")
feature("logic", "{{ true and false }} {{ true or false }} {{ not true }} {{ 0 or 'x' }} {{ '' and 'y' }} {{ none or [] }} {{ 'a' and 'b' }} {{ not missing }} {{ not (1 in [1]) }}")
feature("membership", "{{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1,2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 'x' in missing }}")
feature("ternary", "{{ 'yes' if flag else 'no' }}|{{ 'only' if flag }}|{{ 'only' if not flag }}|{{ 1 if false else 2 if false else 3 }}", {"flag": True}, {"flag": False})
feature("tests", "{{ x is defined }} {{ y is undefined }} {{ n is none }} {{ s is string }} {{ d is mapping }} {{ l is iterable }} {{ s is iterable }} {{ d is iterable }} {{ 3 is number }} {{ 3.5 is number }} {{ s is number }} {{ l is sequence }} {{ true is true }} {{ 0 is false }} {{ false is false }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'a' is equalto 'a' }} {{ 3 is eq(3) }} {{ 3 is ne 4 }} {{ 2 is lt 3 }} {{ 'b' is in 'abc' }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ x is not none }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ true is number }} {{ true is integer }} {{ n is sameas none }} {{ y is iterable }} {{ n is mapping }}",
        {"x": 1, "n": None, "s": "str", "d": {"a": 1}, "l": [1]})
feature("attribute_subscript", "{{ m.role }} {{ m['role'] }} {{ m.missing }} {{ m.missing is defined }} {{ l[0] }} {{ l[-1] }} {{ l[9] is defined }} {{ s[1] }} {{ s[-1] }} {{ n.x is defined }} {{ m.nested.k }} {{ m['nested']['k'] }} {{ 'abc'.nothing is defined }} {{ m.get('role') }} {{ m.get('nope', 'dflt') }} {{ m.get('nope') }}",
        {"m": {"role": "user", "nested": {"k": "v"}}, "l": [10, 20, 30], "s": "héllo", "n": None})
feature("slices", "{{ l[1:] }} {{ l[:2] }} {{ l[-2:] }} {{ l[::-1] }} {{ l[::2] }} {{ l[1:-1] }} {{ s[1:3] }} {{ s[-9:] }} {{ s[::-1] }} {{ l[5:] }} {{ s[:-1] }}",
        {"l": [1, 2, 3, 4, 5], "s": "abcdefghijklmnop"})
feature("undefined_attr_error", "{{ missing.attr }}")
feature("undefined_chain_error", "{{ m.a.b }}", {"m": {}})
feature("for_loop_vars", "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}/{{ loop.previtem }}/{{ loop.nextitem }}/{{ loop.cycle('a','b') }}/{{ loop.depth }};{% endfor %}", {"xs": ["p", "q", "r"]})
feature("for_else", "{% for x in xs %}{{ x }}{% else %}empty{% endfor %}", {"xs": []}, {"xs": [1]}, {})
feature("for_filter", "{% for x in xs if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}|{% for x in xs if x > 10 %}{{ x }}{% else %}none{% endfor %}", {"xs": [1, 2, 3, 4, 5]})
feature("for_unpack", "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{% for k, v in d | items %}{{ k }}{% endfor %}{% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %}{% for k in d %}{{ k }}{% endfor %}{% for c in 'ab' %}[{{ c }}]{% endfor %}",
        {"d": {"z": 1, "a": 2, "m": 3}})
feature("for_nested_loop", "{% for a in [1,2] %}{% for b in 'xy' %}{{ loop.index }}{{ b }}{% endfor %}{{ loop.index }}|{% endfor %}")
feature("loop_controls", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x == 5 %}{% break %}{% endif %}{{ x }}{% endfor %}")
feature("scoping", "{% set x = 0 %}{% for i in [1,2] %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}|{% if true %}{% set y = 5 %}{% endif %}{{ y }}")
feature("if_elif_else", "{% for n in [0, 1, 2, 3] %}{% if n == 0 %}zero{% elif n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %} {% endfor %}")
feature("set_forms", "{% set a = 1 %}{% set b, c = [2, 3] %}{% set d %}block {{ a }}{% endset %}{{ a }}{{ b }}{{ c }}[{{ d }}]{% set e | upper %}up{% endset %}{{ e }}")
feature("namespace", "{% set ns = namespace(found=false, n=0, items=[]) %}{% for m in ms %}{% if m.role == 'system' %}{% set ns.found = true %}{% endif %}{% set ns.n = ns.n + 1 %}{% set ns.items = ns.items + [m.role] %}{% endfor %}{{ ns.found }} {{ ns.n }} {{ ns.items }} {{ ns.missing is defined }}",
        {"ms": [{"role": "system"}, {"role": "user"}]})
feature("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }} {{ greet() }}|{% macro rec(n) %}{% if n > 0 %}{{ n }}{{ rec(n - 1) }}{% endif %}{% endmacro %}{{ rec(3) }}")
feature("filters_string", "{{ '  pad  ' | trim }}|{{ 'xxhixx' | trim('x') }}|{{ 'MiXed' | upper }}|{{ 'MiXed' | lower }}|{{ \"hello wORLD it's-me\" | title }}|{{ 'hELLO' | capitalize }}|{{ 'a-b-c' | replace('-', '+') }}|{{ 'aaa' | replace('a', 'b', 2) }}|{{ 42 | string }}|{{ 'abc' | length }}|{{ 'héllo' | count }}|{{ 'abc' | reverse }}|{{ 'abc' | first }}|{{ 'abc' | last }}|{{ '<&>' | e }}|{{ 'x' | safe }}|{{ none | string }}|{{ missing | trim }}|{{ 'abc' | list }}")
feature("filters_list", "{{ l | length }} {{ l | count }} {{ l | first }} {{ l | last }} {{ l | join(', ') }} {{ l | join }} {{ l | reverse | list }} {{ l | sort }} {{ l | sort(reverse=true) }} {{ l | unique | list }} {{ l | sum }} {{ l | min }} {{ l | max }} {{ ['b', 'A', 'a', 'C'] | sort }} {{ ['b', 'A', 'a', 'B'] | unique | list }} {{ l | select('odd') | list }} {{ l | reject('odd') | list }} {{ l | map('string') | join('-') }} {{ l | select | list }}",
        {"l": [3, 1, 2, 3, 5]})
feature("filters_attr", "{{ ms | selectattr('role', 'equalto', 'user') | list | length }} {{ ms | rejectattr('role', 'equalto', 'user') | map(attribute='role') | list }} {{ ms | selectattr('tool_calls', 'undefined') | map(attribute='role') | join(',') }} {{ ms | selectattr('tool_calls') | list | length }} {{ ms | map(attribute='content') | join('|') }} {{ ms | map(attribute='nope', default='?') | join }} {{ ms | sort(attribute='role') | map(attribute='role') | join(',') }} {{ ms | join(',', attribute='role') }} {{ ms | sum(attribute='n') }}",
        {"ms": [{"role": "user", "content": "a", "n": 1}, {"role": "assistant", "content": "b", "tool_calls": [1], "n": 2}, {"role": "user", "content": "c", "n": 3}]})
feature("filters_misc", "{{ missing | default('dflt') }} {{ '' | default('empty') }} {{ '' | default('empty', true) }} {{ none | d('n') }} {{ 0 | d('zero', boolean=true) }} {{ '3' | int + 1 }} {{ '3.7' | int }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ 3.99 | int }} {{ '2.5' | float }} {{ 3 | float }} {{ -3 | abs }} {{ 2.567 | round }} {{ 2.567 | round(2) }} {{ 2.5 | round }} {{ 3.5 | round }} {{ 2.1 | round(0, 'ceil') }} {{ 2.9 | round(0, 'floor') }} {{ {'b': 1, 'a': 2} | items | map('join', '=') | join(',') }} {{ {'b': 1} | list }} {{ [[1, 2]] | first | last }} {{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\n\nb' | indent(4, blank=true) }}|{{ {'k': 1, 'a': 2} | dictsort | map('join', '=') | join(',') }} {{ 1 | attr('x') is defined }}")
feature("tojson", "{{ v | tojson }}\n{{ v | tojson(indent=2) }}\n{{ [] | tojson(indent=2) }} {{ {} | tojson }} {{ 'é\"\\\\\n\u0001</script>' | tojson }} {{ 1.0 | tojson }} {{ none | tojson }} {{ v | tojson(sort_keys=true) }} {{ v | tojson(separators=(',', ':')) }}",
        {"v": {"name": "Zürich 🌍", "n": 3, "f": 2.5, "ok": True, "none": None, "list": [1, "two", [3], {}], "nested": {"b": 1, "a": [None, False]}}})
feature("str_methods", "{{ '  x  '.strip() }}|{{ 'xxaxx'.strip('x') }}|{{ '  x  '.lstrip() }}|{{ '  x  '.rstrip() }}|{{ '\\n\\nx'.lstrip('\\n') }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('lo', 'x')) }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'Abc'.upper() }}|{{ 'Abc'.lower() }}|{{ 'a-b'.replace('-', '_') }}|{{ \"it's a test\".title() }}|{{ 'abc'.capitalize() }}|{{ '-'.join(['a', 'b']) }}|{{ 'abcabc'.find('c') }}|{{ 'abcabc'.count('b') }}|{{ 'Hi {} and {name}'.format('A', name='B') }}|{{ 'x'.isdigit() }}|{{ '12'.isdigit() }}")
feature("dict_methods", "{{ d.keys() | list }} {{ d.values() | list }} {{ d.items() | map('first') | list }} {{ d.get('a') }} {{ d.get('z', 0) }} {% for k in d.keys() %}{{ k }}{% endfor %}", {"d": {"a": 1, "b": [2]}})
feature("globals", "{{ range(3) | list }} {{ range(1, 4) | list }} {{ range(10, 0, -3) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }} {{ strftime_now('%Y-%m-%d %H:%M:%S %d %b %Y %B %A %a %j %y %I %p %%') }}")
feature("raise_exception", "before{{ raise_exception('Custom failure: ' ~ reason) }}after", {"reason": "bad role"})
feature("raise_in_branch", "{% for m in ms %}{% if m.role not in ['user', 'assistant'] %}{{ raise_exception('Unknown role ' + m.role) }}{% endif %}{{ m.role }} {% endfor %}",
        {"ms": [{"role": "user"}, {"role": "assistant"}]}, {"ms": [{"role": "user"}, {"role": "tool"}]})
feature("immutable_sandbox", "{% set l = [1] %}{{ l.append(2) }}{{ l }}")
feature("type_error_concat", "{{ 'a' + 1 }}")
feature("str_repr", "{{ ['it\\'s', \"q\\\"d\", 'both\\'\"', 'nl\\n', 'é', '\\u200b', '\\x7f'] }} {{ {'k': none, 'b': true, 'f': 1.0} }} {{ [1e-5, 1e16, 123456789.5, -0.0] }}")
feature("generation_block", "{% generation %}gen {{ 1 }}{% endgeneration %}")
feature("string_escapes_continuation", "{{ \"line \\\nnext\" }}|{{ 'unknown \\q escape' }}")
feature("multiline_tags", "{%\n  if true\n%}\nyes\n{%\n  endif\n%}\n{{\n  'v'\n}}")
feature("nested_data", "{% for m in messages %}{% for c in m.content %}{% if c.type == 'text' %}{{ c.text }}{% elif c.type == 'image' %}<img>{% endif %}{% endfor %}{% endfor %}",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Look:"}, {"type": "image"}, {"type": "text", "text": "ok"}]}]})


def main():
    os.makedirs(ROOT, exist_ok=True)
    total = 0
    for name, source, cases in model_fixtures():
        with open(os.path.join(ROOT, name + ".json"), "w", encoding="utf-8") as f:
            json.dump({"name": name, "template": source, "cases": cases}, f, ensure_ascii=False, indent=1)
        total += len(cases)
        errs = sum(1 for c in cases if "error" in c)
        print(f"{name}: {len(cases)} cases ({errs} errors)")
    features = []
    for name, template, contexts in F:
        cases = [render_case(template, ctx) for ctx in contexts]
        features.append({"name": name, "template": template, "cases": cases})
        for c in cases:
            if "error" in c:
                print(f"  feature {name}: {c['error_type']}: {c['error']}")
    with open(os.path.join(ROOT, "features.json"), "w", encoding="utf-8") as f:
        json.dump(features, f, ensure_ascii=False, indent=1)
    total += sum(len(x["cases"]) for x in features)
    print(f"features: {len(features)} templates; total cases {total}")


if __name__ == "__main__":
    sys.exit(main())

"""Schemas, regular expressions and grammars for checking structured output.

HANDWRITTEN: realistic schemas of the kinds agents and API clients send (OpenAI-style strict
objects, nested records, enums, arrays, $defs/$ref with recursion, formats, numeric bounds).
generated(): random schemas that together use every keyword Tandem supports.
REGEXES: patterns of the kinds guided_regex and JSON Schema `pattern` carry.
"""

from __future__ import annotations

import random


def obj(properties: dict, required: list | None = None, additional: object = False) -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties) if required is None else required}
    if additional is not None:
        schema["additionalProperties"] = additional
    return schema


S = {"type": "string"}
I = {"type": "integer"}
N = {"type": "number"}
B = {"type": "boolean"}

HANDWRITTEN: list[dict] = [
    obj({"name": S, "age": I}),
    obj({"name": {"type": "string", "maxLength": 40}, "age": {"type": "integer", "minimum": 0, "maximum": 130}, "email": {"type": "string", "format": "email"}}),
    obj({"city": S, "country": S, "population": {"type": "integer", "minimum": 0}}),
    obj({"street": S, "city": S, "zip": {"type": "string", "pattern": "^[0-9]{5}$"}}),
    obj({"title": S, "year": {"type": "integer", "minimum": 1900, "maximum": 2030}, "genres": {"type": "array", "items": S, "maxItems": 4}}),
    obj({"sentiment": {"enum": ["positive", "negative", "neutral"]}, "confidence": {"type": "number", "minimum": 0}}),
    obj({"answer": {"type": "string", "enum": ["yes", "no", "unsure"]}, "reason": {"type": "string", "maxLength": 200}}),
    obj({"steps": {"type": "array", "items": obj({"explanation": S, "output": S}), "minItems": 1, "maxItems": 5}, "final_answer": S}),
    obj({"id": {"type": "string", "format": "uuid"}, "created": {"type": "string", "format": "date-time"}}),
    obj({"date": {"type": "string", "format": "date"}, "time": {"type": "string", "format": "time"}}),
    obj({"product": S, "price": {"type": "number", "minimum": 0}, "in_stock": B, "tags": {"type": "array", "items": S}}),
    obj({"order_id": I, "items": {"type": "array", "items": obj({"sku": S, "quantity": {"type": "integer", "minimum": 1, "maximum": 99}}), "minItems": 1, "maxItems": 3}}),
    obj({"temperature": N, "unit": {"enum": ["celsius", "fahrenheit"]}, "location": S}),
    obj({"event": S, "attendees": {"type": "array", "items": obj({"name": S, "role": {"enum": ["host", "guest"]}}), "maxItems": 4}}),
    obj({"label": {"type": ["string", "null"]}, "score": {"type": ["number", "null"]}}),
    obj({"ok": B, "error": {"anyOf": [S, {"type": "null"}]}}),
    obj({"shape": {"oneOf": [obj({"kind": {"const": "circle"}, "radius": N}), obj({"kind": {"const": "square"}, "side": N})]}}),
    obj({"a": I, "b": I}, required=["a"]),
    obj({"first": S, "middle": S, "last": S}, required=["first", "last"]),
    {"type": "array", "items": obj({"word": S, "count": {"type": "integer", "minimum": 0}}), "maxItems": 6},
    {"type": "array", "items": {"type": "integer", "minimum": -5, "maximum": 5}, "minItems": 2, "maxItems": 8},
    {"type": "array", "prefixItems": [S, I, B], "items": False},
    {"type": "array", "prefixItems": [{"const": "header"}], "items": N, "maxItems": 4},
    {"enum": ["red", "green", "blue", 3, None, True]},
    {"const": {"fixed": [1, 2, 3]}},
    {"type": "string", "maxLength": 10},
    {"type": "string", "minLength": 3, "maxLength": 5},
    {"type": "integer", "exclusiveMinimum": 10, "exclusiveMaximum": 20},
    {"type": "integer", "minimum": -1000, "maximum": 1000},
    {"type": "integer", "maximum": -7},
    {"type": "number"},
    {"type": "boolean"},
    {"type": "null"},
    {"$defs": {"node": obj({"value": I, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}})}, "$ref": "#/$defs/node"},
    {"definitions": {"name": {"type": "string", "maxLength": 20}}, "type": "object", "properties": {"who": {"$ref": "#/definitions/name"}}, "required": ["who"], "additionalProperties": False},
    {"$defs": {"person": obj({"name": S, "friends": {"type": "array", "items": {"$ref": "#/$defs/person"}, "maxItems": 2}})}, "type": "object", "properties": {"root": {"$ref": "#/$defs/person"}}, "required": ["root"], "additionalProperties": False},
    {"allOf": [obj({"a": I}, additional=None), obj({"b": S}, additional=None)]},
    {"allOf": [{"type": "object", "properties": {"x": N}, "required": ["x"]}, {"properties": {"y": B}, "required": ["y"]}]},
    obj({"meta": {"type": "object", "additionalProperties": {"type": "string"}}}),
    obj({"counts": {"type": "object", "additionalProperties": {"type": "integer"}, "properties": {"total": I}, "required": ["total"]}}),
    {"type": "object"},
    {"type": "object", "properties": {"free": {}}, "required": ["free"]},
    obj({"ip": {"type": "string", "format": "ipv4"}, "host": {"type": "string", "format": "hostname"}}),
    obj({"url": {"type": "string", "format": "uri"}}),
    obj({"code": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"}, "note": {"type": "string", "pattern": "ok"}}),
    obj({"matrix": {"type": "array", "items": {"type": "array", "items": I, "minItems": 2, "maxItems": 2}, "minItems": 2, "maxItems": 2}}),
    obj({"function": {"const": "get_weather"}, "arguments": obj({"location": S, "unit": {"enum": ["c", "f"]}})}),
    obj({"tool_calls": {"type": "array", "items": obj({"name": {"enum": ["search", "calculator"]}, "arguments": {"type": "object"}}), "minItems": 1, "maxItems": 2}}),
    obj({"summary": {"type": "string", "maxLength": 120}, "keywords": {"type": "array", "items": {"type": "string", "maxLength": 15}, "minItems": 1, "maxItems": 5}}),
    obj({"rating": {"type": "integer", "minimum": 1, "maximum": 5}, "review": S, "recommend": B}),
    obj({"language": {"enum": ["en", "fr", "de", "es", "ja", "zh"]}, "translation": S}),
    obj({"entities": {"type": "array", "items": obj({"text": S, "type": {"enum": ["PERSON", "ORG", "LOC"]}, "start": {"type": "integer", "minimum": 0}})}}),
    obj({"is_spam": B, "probability": {"type": "number", "minimum": 0}}),
    obj({"version": {"type": "string", "pattern": "^\\d+\\.\\d+\\.\\d+$"}, "changes": {"type": "array", "items": S}}),
]


def generated(count: int, seed: int = 7) -> list[dict]:
    """Random schemas; each draws from every supported keyword."""
    rnd = random.Random(seed)

    def scalar(depth: int) -> dict:
        kind = rnd.choice(["string", "integer", "number", "boolean", "null", "enum", "const", "pattern", "format", "bounded"])
        if kind == "string":
            schema: dict = {"type": "string"}
            if rnd.random() < 0.5:
                low = rnd.randint(0, 4)
                schema.update({"minLength": low, "maxLength": low + rnd.randint(0, 12)})
            return schema
        if kind == "integer":
            return {"type": "integer"}
        if kind == "bounded":
            low = rnd.randint(-500, 500)
            return {"type": "integer", "minimum": low, "maximum": low + rnd.randint(0, 3000)}
        if kind == "number":
            return {"type": "number", "minimum": 0} if rnd.random() < 0.5 else {"type": "number"}
        if kind == "enum":
            return {"enum": rnd.sample(["a", "b c", "ü", 1, 2.5, None, False, "x\"y", "tab\t"], rnd.randint(1, 4))}
        if kind == "const":
            return {"const": rnd.choice(["fixed", 42, True, None, [1, "a"], {"k": "v"}])}
        if kind == "pattern":
            return {"type": "string", "pattern": rnd.choice(["^[a-z]{2,6}$", "^\\d{3}-\\d{2}$", "^(foo|bar)+$", "^[A-F0-9]{4}$", "^\\w+@\\w+\\.com$"])}
        if kind == "format":
            return {"type": "string", "format": rnd.choice(["date", "time", "date-time", "uuid", "email", "ipv4"])}
        return {"type": rnd.choice(["boolean", "null"])}

    def schema(depth: int) -> dict:
        roll = rnd.random()
        if depth >= 3 or roll < 0.35:
            return scalar(depth)
        if roll < 0.6:
            names = rnd.sample(["id", "name", "value", "items", "kind", "meta", "ok", "count", "tags", "note"], rnd.randint(1, 4))
            properties = {name: schema(depth + 1) for name in names}
            required = [name for name in names if rnd.random() < 0.6]
            result = {"type": "object", "properties": properties, "required": required}
            if rnd.random() < 0.7:
                result["additionalProperties"] = False if rnd.random() < 0.8 else scalar(depth + 1)
            return result
        if roll < 0.8:
            result = {"type": "array", "items": schema(depth + 1)}
            if rnd.random() < 0.7:
                low = rnd.randint(0, 2)
                result.update({"minItems": low, "maxItems": low + rnd.randint(0, 3)})
            if rnd.random() < 0.2:
                result = {"type": "array", "prefixItems": [scalar(depth + 1), scalar(depth + 1)], "items": False}
            return result
        if roll < 0.9:
            if rnd.random() < 0.5:
                return {"anyOf": [schema(depth + 1), schema(depth + 1)]}
            # oneOf with branches told apart by type, as real schemas write it.
            return {"oneOf": [{"type": "string", "maxLength": 8}, {"type": "integer"}, {"type": "null"}][: rnd.randint(2, 3)]}
        if roll < 0.95:
            return {"type": [rnd.choice(["string", "integer", "boolean"]), "null"]}
        return {"type": "object", "properties": {"r": {"$ref": "#/$defs/d"}}, "required": ["r"], "additionalProperties": False}

    result = []
    for _ in range(count):
        item = schema(0)
        if "#/$defs/d" in str(item):
            # References point at the root's $defs (JSON Schema resolves '#' against the root).
            item = {"$defs": {"d": scalar(1)}, **item} if isinstance(item, dict) else item
        result.append(item)
    return result


REGEXES: list[str] = [
    r"[a-z]+", r"\d{3}-\d{4}", r"\(\d{3}\) \d{3}-\d{4}", r"(yes|no|maybe)", r"[A-Z][a-z]{1,9}( [A-Z][a-z]{1,9})?",
    r"\d+(\.\d+)?", r"-?\d{1,5}", r"0x[0-9a-fA-F]{1,8}", r"[^,\n]{1,10}(,[^,\n]{1,10}){0,3}", r"\w+@\w+\.(com|org|net)",
    r"(ab|cd)*e", r"a{2,4}b{0,2}c?", r"[ -~]{0,12}", r"[\s\S]{1,4}", r"(\d{1,3}\.){3}\d{1,3}", r"[aeiou]+[^aeiou\s]*",
    r"(?:red|green|blue)-\d", r"(?P<year>\d{4})-(?P<month>\d{2})", r"[\u00e0-\u00ff]{1,3}", r"[à-öø-ÿ]+", r"€\d+",
    r"\$\d+\.\d{2}", r"[.?!]{1,3}", r"\[[a-z]*\]", r"x*y+z?", r"[^a]*a[^a]*", r"(a|b)(c|d)(e|f)", r"[0-9]{2}:[0-9]{2}",
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", r"[A-Z]{2}\d{2} ?\d{4}", r"(\+\d{1,2} )?\d{10}", r"<[a-z]+>[^<]*</[a-z]+>",
    r"[😀-🙏]", r"[\t ]*\S+", r"(hello|hi), (world|there)!", r"\\[nt]", r"a.c", r"[-+]?\d*\.?\d+", r"[a-c]{3}|[x-z]{2}",
    r"((a|b)c)+", r"[^\d\s]+", r"\W\w\W", r'"[^"]*"', r"\{\d+\}", r"[\x41-\x43]+", r"(true|false|null)", r"é+|e\u0301",
    r"[a-zA-Z_][a-zA-Z0-9_]{0,15}", r"(0|[1-9]\d*)",
]


def random_strings(pattern: str, rnd: random.Random, count: int) -> list[str]:
    """Strings near the pattern's alphabet: mostly mutations of characters it mentions."""
    alphabet = sorted(set(pattern) | set("abcxyz019 -.,@()[]\"\\\té€😀")) or ["a"]
    result = []
    for _ in range(count):
        result.append("".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 8))))
    return result

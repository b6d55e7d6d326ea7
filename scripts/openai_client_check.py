#!/usr/bin/env python3
"""Drive a running `tandem serve` with the official `openai` package and check the answers.

Usage: scripts/openai_client_check.py [BASE_URL] [--api-key KEY]
BASE_URL defaults to http://127.0.0.1:8080/v1. Exits non-zero on the first failed check.
Requires `pip install openai pydantic`.
"""
import argparse
import json
import sys

import openai
import pydantic


def check(condition, message):
    if not condition:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8080/v1")
    parser.add_argument("--api-key", default="unused")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    client = openai.OpenAI(base_url=base, api_key=args.api_key, max_retries=0, timeout=120)

    models = client.models.list().data
    check(len(models) >= 1 and models[0].id, f"models.list -> {models[0].id if models else None}")
    model = models[0].id

    # Completions, non-streaming: greedy, usage adds up.
    completion = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0)
    choice = completion.choices[0]
    check(completion.object == "text_completion" and completion.id.startswith("cmpl-"), "completion shape")
    check(isinstance(choice.text, str) and len(choice.text) > 0, f"completion text {choice.text!r}")
    check(choice.finish_reason in ("stop", "length"), f"finish_reason {choice.finish_reason}")
    usage = completion.usage
    check(usage.prompt_tokens > 0 and 0 < usage.completion_tokens <= 8
          and usage.total_tokens == usage.prompt_tokens + usage.completion_tokens, f"usage {usage}")

    # Same request again: greedy is deterministic.
    again = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8, temperature=0)
    check(again.choices[0].text == choice.text, "greedy completions are deterministic")

    # Completions, streaming with usage: the pieces add up to the non-streamed text.
    pieces, finish, stream_usage = [], None, None
    for chunk in client.completions.create(model=model, prompt="The capital of France is", max_tokens=8,
                                           temperature=0, stream=True, stream_options={"include_usage": True}):
        if chunk.usage is not None:
            stream_usage = chunk.usage
        for c in chunk.choices:
            pieces.append(c.text)
            finish = c.finish_reason or finish
    check("".join(pieces) == choice.text, f"streamed completion equals non-streamed ({''.join(pieces)!r})")
    check(finish == choice.finish_reason, "streamed finish_reason")
    check(stream_usage is not None and stream_usage.completion_tokens == usage.completion_tokens, "stream usage chunk")

    # n, logprobs, stop.
    several = client.completions.create(model=model, prompt="Once upon a time", max_tokens=5, n=3, temperature=1.0,
                                        seed=1, logprobs=2)
    check(len(several.choices) == 3 and sorted(c.index for c in several.choices) == [0, 1, 2], "n=3 choices")
    check(several.usage.completion_tokens == sum(len(c.logprobs.tokens) for c in several.choices), "usage sums choices")
    check(all(lp <= 0 for c in several.choices for lp in c.logprobs.token_logprobs), "logprobs are <= 0")
    stopped = client.completions.create(model=model, prompt="1, 2, 3, 4,", max_tokens=20, temperature=0, stop=["7"])
    check("7" not in stopped.choices[0].text, f"stop string honoured ({stopped.choices[0].text!r})")

    # Chat, non-streaming.
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is the capital of France?"}]
    chat = client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0)
    check(chat.object == "chat.completion" and chat.id.startswith("chatcmpl-"), "chat shape")
    message = chat.choices[0].message
    check(message.role == "assistant" and len(message.content) > 0, f"chat reply {message.content!r}")
    check(chat.usage.total_tokens == chat.usage.prompt_tokens + chat.usage.completion_tokens, "chat usage")

    # Chat, streaming: role first, content deltas, finish_reason last; same text as non-streamed.
    roles, contents, finishes = [], [], []
    for chunk in client.chat.completions.create(model=model, messages=messages, max_tokens=24, temperature=0, stream=True):
        for c in chunk.choices:
            if c.delta.role:
                roles.append(c.delta.role)
            if c.delta.content:
                contents.append(c.delta.content)
            if c.finish_reason:
                finishes.append(c.finish_reason)
    check(roles == ["assistant"], "streamed chat starts with the assistant role")
    check("".join(contents) == message.content, "streamed chat equals non-streamed")
    check(finishes == [chat.choices[0].finish_reason], "streamed chat finish_reason")

    # Chat logprobs.
    with_logprobs = client.chat.completions.create(model=model, messages=messages, max_tokens=4, temperature=0,
                                                   logprobs=True, top_logprobs=2)
    content = with_logprobs.choices[0].logprobs.content
    check(len(content) >= 1 and all(len(t.top_logprobs) == 2 for t in content), "chat top_logprobs")

    # Errors come back as OpenAI errors.
    try:
        client.completions.create(model=model, prompt="x", max_tokens=1, temperature=-1)
        check(False, "temperature -1 is rejected")
    except openai.BadRequestError as error:
        check(error.status_code == 400, "bad temperature -> 400")
    try:
        client.completions.create(model="no-such-model", prompt="x", max_tokens=1)
        check(False, "unknown model is rejected")
    except openai.NotFoundError as error:
        check(error.status_code == 404, "unknown model -> 404")

    # Structured output: the client's own parse() with a Pydantic model, and a schema it refuses.
    class Person(pydantic.BaseModel):
        name: str
        age: int
        languages: list[str]

    completions = client.chat.completions if hasattr(client.chat.completions, "parse") else client.beta.chat.completions
    parsed = completions.parse(
        model=model, messages=[{"role": "user", "content": "Describe a programmer as JSON."}],
        response_format=Person, max_tokens=200, temperature=0.7, seed=1)
    message = parsed.choices[0].message
    check(parsed.choices[0].finish_reason == "stop" and isinstance(message.parsed, Person),
          f"chat.completions.parse with a Pydantic model -> {message.parsed!r}")
    streamed = "".join(
        chunk.choices[0].delta.content or ""
        for chunk in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Pick a color."}], max_tokens=8, stream=True,
            extra_body={"guided_choice": ["red", "green", "blue"]}) if chunk.choices)
    check(streamed in ("red", "green", "blue"), f"streamed guided_choice -> {streamed!r}")
    try:
        client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}], max_tokens=4,
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object", "minProperties": 1}}})
        check(False, "an unsupported schema keyword is rejected")
    except openai.BadRequestError as error:
        check(error.status_code == 400 and "minProperties" in str(error), "unsupported schema keyword -> 400 naming it")

    # Tool calling: a round trip (the model calls, the tool answers, the model replies), with the
    # call forced by tool_choice so that a 135M model makes it; then the same call streamed.
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"},
                                                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}},
                       "required": ["city", "unit"], "additionalProperties": False}}}
    history = [{"role": "user", "content": "What is the weather like in Paris today?"}]
    reply = client.chat.completions.create(
        model=model, messages=history, tools=[weather], max_tokens=100, temperature=0.8, seed=3,
        tool_choice={"type": "function", "function": {"name": "get_weather"}})
    choice = reply.choices[0]
    calls = choice.message.tool_calls or []
    check(choice.finish_reason == "tool_calls" and len(calls) == 1 and calls[0].function.name == "get_weather",
          f"tool_choice naming a function -> one call: {choice.message!r}")
    arguments = json.loads(calls[0].function.arguments)
    check(set(arguments) == {"city", "unit"} and arguments["unit"] in ("celsius", "fahrenheit")
          and isinstance(arguments["city"], str), f"the call's arguments follow the function's schema: {arguments}")
    check(calls[0].id.startswith("call_") and calls[0].type == "function", f"call id and type: {calls[0]!r}")
    history += [choice.message.model_dump(exclude_none=True),
                {"role": "tool", "tool_call_id": calls[0].id, "content": json.dumps({"temperature": 18, "sky": "sunny"})}]
    final = client.chat.completions.create(model=model, messages=history, tools=[weather], max_tokens=40, temperature=0)
    check(final.choices[0].finish_reason in ("stop", "length") and final.choices[0].message.content,
          f"the answer after the tool result: {final.choices[0].message.content!r}")
    deltas = [chunk.choices[0].delta for chunk in client.chat.completions.create(
        model=model, messages=history[:1], tools=[weather], tool_choice="required", parallel_tool_calls=False,
        max_tokens=100, temperature=0, stream=True) if chunk.choices]
    streamed_calls = [call for delta in deltas for call in (delta.tool_calls or [])]
    check(len(streamed_calls) == 2 and streamed_calls[0].function.name == "get_weather"
          and streamed_calls[0].id.startswith("call_")
          and json.loads("".join(call.function.arguments or "" for call in streamed_calls)).keys() == {"city", "unit"},
          f"streamed call: name first, then the arguments: {streamed_calls!r}")

    print("all checks passed")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Renders tests/tokenizer/data/chat_cases_glm_deepseek.json: conversations through the released
GLM-4.6 and DeepSeek-V3.1 chat templates (models/templates/ of the llama.cpp source that
node-llama-cpp bundles), with the Jinja environment transformers' apply_chat_template uses
(ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols, its tojson filter and
raise_exception), so the renders are what transformers gives.

    git clone tests/interop/node_modules/node-llama-cpp/llama/gitRelease.bundle /tmp/llama-src
    python3 tools/chat_references/render_glm_deepseek.py /tmp/llama-src/models/templates
"""
import json
import sys
from pathlib import Path

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment


def environment():
    def raise_exception(message):
        raise ValueError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City, e.g. Zürich"},
                                                           "unit": {"type": "string", "enum": ["c", "f"]}},
                          "required": ["city"]}}}
TIME = {"type": "function", "function": {"name": "get_time", "description": "Local time",
        "parameters": {"type": "object", "properties": {}}}}


def call(name, arguments):
    return {"type": "function", "function": {"name": name, "arguments": arguments}}


CONVERSATIONS = [
    ("one user turn", [{"role": "user", "content": "Hello!"}], {}),
    ("system prompt and two turns",
     [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi"},
      {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Name a colour."}], {}),
    ("thinking off", [{"role": "user", "content": "2+2?"}], {"enable_thinking": False}),
    ("thinking on", [{"role": "user", "content": "2+2?"}], {"enable_thinking": True}),
    ("earlier thinking dropped, current kept",
     [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "<think>\nGreeting.\n</think>\n\nHello!"},
      {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "<think>\nFarewell.\n</think>\n\nGoodbye."}],
     {"add_generation_prompt": False}),
    ("reasoning_content given apart",
     [{"role": "user", "content": "Why?"},
      {"role": "assistant", "content": "Because.", "reasoning_content": "  Thinking it over.  "}],
     {"add_generation_prompt": False}),
    ("tools, a call and its response",
     [{"role": "system", "content": "Use tools when useful."}, {"role": "user", "content": "Weather in Zürich?"},
      {"role": "assistant", "content": "", "tool_calls": [call("get_weather", {"city": "Zürich", "unit": "c"})]},
      {"role": "tool", "content": "{\"temp\": 21}"}],
     {"tools": [WEATHER, TIME]}),
    ("two calls, two responses, then the answer",
     [{"role": "user", "content": "Weather and time in Oslo?"},
      {"role": "assistant", "content": "Checking both.",
       "tool_calls": [call("get_weather", {"city": "Oslo"}), call("get_time", {})]},
      {"role": "tool", "content": "cloudy"}, {"role": "tool", "content": "14:05"},
      {"role": "assistant", "content": "Cloudy, and it is 14:05."}, {"role": "user", "content": "Thanks"}],
     {"tools": [WEATHER, TIME]}),
    ("tool call with nested arguments",
     [{"role": "user", "content": "Plan it"},
      {"role": "assistant", "content": "",
       "tool_calls": [call("get_weather", {"city": "Rome", "days": [1, 2], "opts": {"metric": True, "note": None}})]}],
     {"add_generation_prompt": False, "tools": [WEATHER]}),
]


def render(template, messages, options, bos):
    kwargs = {"add_generation_prompt": options.get("add_generation_prompt", True), "bos_token": bos}
    for key in ("enable_thinking", "tools"):
        if key in options:
            kwargs[key] = options[key]
    return environment().from_string(template).render(messages=messages, **kwargs)


def main():
    templates = Path(sys.argv[1])
    styles = [("glm45", "GLM-4.6.jinja", ""), ("deepseek_v3", "deepseek-ai-DeepSeek-V3.1.jinja", "<｜begin▁of▁sentence｜>")]
    cases = []
    for style, file, bos in styles:
        template = (templates / file).read_text()
        for name, messages, options in CONVERSATIONS:
            case = {"name": name, "style": style, "messages": messages,
                    "add_generation_prompt": options.get("add_generation_prompt", True)}
            for key in ("enable_thinking", "tools"):
                if key in options:
                    case[key] = options[key]
            case["rendered"] = render(template, messages, options, bos)
            cases.append(case)
    out = Path(__file__).resolve().parents[2] / "tests/tokenizer/data/chat_cases_glm_deepseek.json"
    comment = ("Renders of the GLM-4.6 and DeepSeek-V3.1 chat templates by Jinja with transformers' environment "
               "(tools/chat_references/render_glm_deepseek.py)")
    out.write_text(json.dumps({"_comment": comment, "cases": cases}, ensure_ascii=False, indent=1) + "\n")


if __name__ == "__main__":
    main()

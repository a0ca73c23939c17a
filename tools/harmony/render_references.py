"""Renders tests/tokenizer/data/harmony/cases.json's conversations with gpt-oss's chat template (the
harmony format) as Hugging Face's apply_chat_template does: jinja2's sandbox with trim_blocks and
lstrip_blocks, loopcontrols, transformers' tojson (json.dumps, ensure_ascii=False),
raise_exception, and strftime_now fixed to each case's date. Writes reference.json beside it.

python3 tools/harmony/render_references.py TEMPLATE.jinja
(TEMPLATE: models/templates/openai-gpt-oss-120b.jinja of the llama.cpp source node-llama-cpp
bundles, tests/interop/node_modules/node-llama-cpp/llama/gitRelease.bundle.)
"""
import datetime, hashlib, json, os, sys
import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/tokenizer/data/harmony")
template_text = open(sys.argv[1], encoding="utf-8").read()


def raise_exception(message):
    raise jinja2.exceptions.TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


cases = json.load(open(os.path.join(here, "cases.json"), encoding="utf-8"))
out = {"template_sha256": hashlib.sha256(template_text.encode()).hexdigest(), "cases": []}
for case in cases:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    date = case["date"]
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.datetime.strptime(date, "%Y-%m-%d").strftime(fmt)
    kwargs = {"messages": case["messages"], "add_generation_prompt": case.get("add_generation_prompt", True)}
    if "tools" in case:
        kwargs["tools"] = case["tools"]
    if "reasoning_effort" in case:
        kwargs["reasoning_effort"] = case["reasoning_effort"]
    entry = dict(case)
    try:
        entry["rendered"] = env.from_string(template_text).render(**kwargs)
    except jinja2.exceptions.TemplateError as e:
        entry["error"] = str(e)
    out["cases"].append(entry)
json.dump(out, open(os.path.join(here, "reference.json"), "w", encoding="utf-8"), indent=1, ensure_ascii=False)
print(len(out["cases"]), "cases")

// The official OpenAI client (npm package openai) against a running `sluice serve`: a chat
// completion, a streamed one, a tool-call round trip, a text completion, the model list and an
// error object. Greedy text is checked against `sluice run --temp 0` on the same prompt and the
// usage counts against the tokenizer and the tokens `run --ids` samples.
// Usage: node openai_client.mjs BASE_URL SLUICE_BINARY MODEL_PATH MODEL_ID
// Exits 0 when every check passes; prints what differs otherwise.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import OpenAI from "openai";

const [baseURL, sluice, modelPath, modelId] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0, timeout: 120_000 });
const run = (...args) => execFileSync(sluice, args, { encoding: "utf8" });
const N = 24;

// What `sluice run` prints for a prompt (its text, then a newline) and how many tokens it sampled.
function reference(prompt, chat) {
    const flags = chat ? ["--chat", "--no-think"] : [];
    const text = run("run", "-m", modelPath, "-p", prompt, "-n", String(N), "--temp", "0", ...flags);
    const ids = run("run", "-m", modelPath, "-p", prompt, "-n", String(N), "--temp", "0", "--ids", ...flags);
    return { text: text.replace(/\n$/, ""), tokens: ids.trim().split(/\s+/).length };
}
const promptTokens = (text) => JSON.parse(run("tokenize", "-m", modelPath, "--text", text)).length;

// References first: execFileSync blocks node's event loop, so a kept-alive connection that the
// server closed during a long `sluice run` would be reused before the client noticed.
const completionPrompt = "It was a fine morning, and Elizabeth";
const wantCompletion = reference(completionPrompt, false);
const completionPromptTokens = promptTokens(completionPrompt);
const question = "Where is Elizabeth going?";
const want = reference(question, true);

// Models.
const models = await client.models.list();
assert.deepEqual(models.data.map((m) => m.id), [modelId]);

// Text completion: greedy text and usage.
{
    const r = await client.completions.create({ model: modelId, prompt: completionPrompt, max_tokens: N, temperature: 0 });
    assert.equal(r.choices[0].text, wantCompletion.text);
    assert.equal(r.usage.prompt_tokens, completionPromptTokens);
    assert.equal(r.usage.completion_tokens, wantCompletion.tokens);
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + wantCompletion.tokens);
}

// Chat completion, whole and streamed (no thinking, as `run --chat --no-think`).
const chat = {
    model: modelId,
    messages: [{ role: "user", content: question }],
    max_tokens: N,
    temperature: 0,
    chat_template_kwargs: { enable_thinking: false },
};
const whole = await client.chat.completions.create(chat);
assert.equal(whole.choices[0].message.role, "assistant");
assert.equal(whole.choices[0].message.content, want.text.trim());
assert.equal(whole.usage.completion_tokens, want.tokens);
{
    const stream = await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } });
    let content = "", usage = null, finish = null;
    for await (const chunk of stream) {
        if (chunk.usage) usage = chunk.usage;
        for (const c of chunk.choices) {
            content += c.delta.content ?? "";
            finish = c.finish_reason ?? finish;
        }
    }
    assert.equal(content.trim(), want.text.trim());
    assert.deepEqual(usage, whole.usage);
    assert.equal(finish, whole.choices[0].finish_reason);
}

// Tool-call round trip: tools offered, then the conversation with the assistant's call (as the
// client replays it: arguments as a JSON string) and the tool's result.
{
    const tools = [{
        type: "function",
        function: {
            name: "get_weather",
            description: "The weather in a city",
            parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
        },
    }];
    const messages = [{ role: "user", content: "What is the weather in Meryton?" }];
    const first = await client.chat.completions.create({ model: modelId, messages, tools, max_tokens: 8, temperature: 0 });
    assert.ok(["stop", "length", "tool_calls"].includes(first.choices[0].finish_reason));
    const call = first.choices[0].message.tool_calls?.[0] ??
        { id: "call_1", type: "function", function: { name: "get_weather", arguments: JSON.stringify({ city: "Meryton" }) } };
    messages.push({ role: "assistant", content: null, tool_calls: [call] });
    messages.push({ role: "tool", tool_call_id: call.id, content: "Rain, 12 degrees" });
    const second = await client.chat.completions.create({ model: modelId, messages, tools, max_tokens: 8, temperature: 0 });
    assert.equal(second.choices[0].message.role, "assistant");
    assert.ok(second.usage.prompt_tokens > first.usage.prompt_tokens + 10, "the call and its result are in the prompt");
}

// An error object: the client raises it with its status and parameter.
await assert.rejects(
    client.completions.create({ model: modelId, prompt: "x", max_tokens: 0 }),
    (e) => e.status === 400 && e.param === "max_tokens" && /max_tokens/.test(e.message),
);
await assert.rejects(client.completions.create({ model: "gpt-4o", prompt: "x" }), (e) => e.status === 404);
console.log("openai client: all checks passed");

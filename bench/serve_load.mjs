// Load for bench/serve.sh against an OpenAI-compatible server (sluice serve or llama-server);
// Node's own http module, no packages. Prints one JSON line.
//   node bench/serve_load.mjs URL streams N_STREAMS MAX_TOKENS
//     N_STREAMS requests at once (text completions of a short prompt, max_tokens each):
//     aggregate decode tok/s (prompts excluded, below) and all completion tokens (from usage) /
//     wall time.
//   node bench/serve_load.mjs URL prompt-cache PROMPT_WORDS
//     a text of PROMPT_WORDS words, then its next turn re-sending it: each turn's time to first
//     token, its prompt tokens (from usage), and the second's share of the first's.
const [url, mode, a, b] = process.argv.slice(2);
import http from "node:http";

// POST of a JSON body → { ok, body (parsed) }. Not fetch: its 300 s header timeout ends a long
// prompt's request on a slow machine (a whole reply's headers come when it is done).
const post = (path, body) => new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const request = http.request(url + path, {
        method: "POST", headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) },
    }, (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => { text += chunk; });
        response.on("end", () => {
            try {
                resolve({ ok: response.statusCode === 200, body: JSON.parse(text) });
            } catch (e) {
                reject(new Error(`${path}: HTTP ${response.statusCode}: ${text}`));
            }
        });
    });
    request.on("error", reject);
    request.end(data);
});

if (mode === "streams") {
    // Decode is timed apart from the prompts by running the same load twice, with max_tokens 1
    // (the prompts and the first token) and then MAX_TOKENS: the aggregate decode rate is the
    // second run's tokens after each stream's first over the difference of the two wall times.
    // (A stream's own token times cannot be read: a random-weight model's tokens often have no
    // text, so no event comes for them.) Each run's prompts are new, so no prompt cache serves the
    // second. end_to_end_tok_s: the second run's tokens over its wall time, prompts included.
    const n = Number(a), maxTokens = Number(b);
    const run = async (tokensEach, tag) => {
        const one = async (i) => {
            const r = await post("/v1/completions", {
                prompt: `Request ${tag}${i}:`, max_tokens: tokensEach, temperature: 0, ignore_eos: true,
            });
            if (!r.ok) throw new Error(JSON.stringify(r.body));
            return r.body.usage.completion_tokens;
        };
        const t0 = performance.now();
        const tokens = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
        return { wall: (performance.now() - t0) / 1e3, tokens };
    };
    const tag = Math.floor(Math.random() * 900 + 100);  // three digits: the prompts keep their length
    const prompts = await run(1, `${tag}a`);
    const full = await run(maxTokens, `${tag}b`);
    const tokens = full.tokens.reduce((s, t) => s + t, 0);
    const decoded = full.tokens.reduce((s, t) => s + t - 1, 0);
    const decodeSeconds = full.wall - prompts.wall;
    console.log(JSON.stringify({
        streams: n, max_tokens: maxTokens, completion_tokens: tokens, prompts_wall_s: +prompts.wall.toFixed(3),
        wall_s: +full.wall.toFixed(3), aggregate_decode_tok_s: +(decoded / decodeSeconds).toFixed(3),
        end_to_end_tok_s: +(tokens / full.wall).toFixed(3),
    }));
} else if (mode === "prompt-cache") {
    // Text completions, not chat: a random-weight synth model has no chat template. Time to first
    // token = the wall time of a request for one token. The next turn re-sends the first turn's
    // prompt and reply, and a question, as a chat client re-sends the conversation.
    const words = Number(a);
    const text = Array.from({ length: words }, (_, i) => ["morning", "letter", "garden", "ball", "sister"][i % 5]).join(" ");
    const ttft = async (prompt) => {
        const t0 = performance.now();
        const r = await post("/v1/completions", { prompt, max_tokens: 1, temperature: 0 });
        if (!r.ok) throw new Error(JSON.stringify(r.body));
        return { ttft: (performance.now() - t0) / 1e3, reply: r.body.choices[0].text, promptTokens: r.body.usage.prompt_tokens };
    };
    const one = await ttft(text);
    const two = await ttft(`${text}${one.reply}\nAnd then?`);
    console.log(JSON.stringify({
        prompt_words: words, first_turn_prompt_tokens: one.promptTokens, next_turn_prompt_tokens: two.promptTokens,
        first_turn_ttft_s: +one.ttft.toFixed(3), next_turn_ttft_s: +two.ttft.toFixed(3),
        next_over_first: +(two.ttft / one.ttft).toFixed(3),
    }));
} else {
    console.error("usage: node bench/serve_load.mjs URL streams N MAX_TOKENS | prompt-cache WORDS");
    process.exit(2);
}

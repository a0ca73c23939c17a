// Load for bench/serve.sh against an OpenAI-compatible server (sluice serve or llama-server);
// Node's own fetch, no packages. Prints one JSON line.
//   node bench/serve_load.mjs URL streams N_STREAMS MAX_TOKENS
//     N_STREAMS requests at once (text completions of a short prompt, max_tokens each);
//     aggregate tok/s = all completion tokens (from usage) / wall time, and per-stream tok/s.
//   node bench/serve_load.mjs URL prompt-cache PROMPT_WORDS
//     a chat conversation of about PROMPT_WORDS words, then its next turn re-sending it: each
//     turn's time to first token (streamed), and the second's share of the first's.
const [url, mode, a, b] = process.argv.slice(2);
const post = (path, body) =>
    fetch(url + path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

if (mode === "streams") {
    const n = Number(a), maxTokens = Number(b);
    const one = async (i) => {
        const t0 = performance.now();
        const r = await post("/v1/completions", {
            prompt: `Request ${i}: the quick brown fox jumps over the lazy dog`, max_tokens: maxTokens,
            temperature: 0, ignore_eos: true,
        });
        const j = await r.json();
        if (!r.ok) throw new Error(JSON.stringify(j));
        return { tokens: j.usage.completion_tokens, seconds: (performance.now() - t0) / 1e3 };
    };
    const t0 = performance.now();
    const results = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
    const wall = (performance.now() - t0) / 1e3;
    const tokens = results.reduce((s, r) => s + r.tokens, 0);
    console.log(JSON.stringify({
        streams: n, max_tokens: maxTokens, completion_tokens: tokens, wall_s: +wall.toFixed(3),
        aggregate_tok_s: +(tokens / wall).toFixed(3),
        per_stream_tok_s: +(results.reduce((s, r) => s + r.tokens / r.seconds, 0) / n).toFixed(3),
    }));
} else if (mode === "prompt-cache") {
    const words = Number(a);
    const text = Array.from({ length: words }, (_, i) => ["morning", "letter", "garden", "ball", "sister"][i % 5]).join(" ");
    const ttft = async (messages) => {
        const t0 = performance.now();
        const r = await post("/v1/chat/completions", { messages, max_tokens: 16, temperature: 0, stream: true });
        if (!r.ok) throw new Error(await r.text());
        let first = null, reply = "", buffer = "";
        const decoder = new TextDecoder();
        for await (const chunk of r.body) {
            buffer += decoder.decode(chunk, { stream: true });
            let at;
            while ((at = buffer.indexOf("\n\n")) >= 0) {
                const line = buffer.slice(0, at);
                buffer = buffer.slice(at + 2);
                if (!line.startsWith("data: ") || line === "data: [DONE]") continue;
                const d = JSON.parse(line.slice(6)).choices?.[0]?.delta ?? {};
                const piece = (d.content ?? "") + (d.reasoning_content ?? "");
                if (piece && first === null) first = (performance.now() - t0) / 1e3;
                reply += d.content ?? "";
            }
        }
        return { ttft: first ?? (performance.now() - t0) / 1e3, reply };
    };
    const messages = [{ role: "system", content: "You are a helpful assistant." }, { role: "user", content: text }];
    const one = await ttft(messages);
    messages.push({ role: "assistant", content: one.reply }, { role: "user", content: "And then?" });
    const two = await ttft(messages);
    console.log(JSON.stringify({
        prompt_words: words, first_turn_ttft_s: +one.ttft.toFixed(3), next_turn_ttft_s: +two.ttft.toFixed(3),
        next_over_first: +(two.ttft / one.ttft).toFixed(3),
    }));
} else {
    console.error("usage: node bench/serve_load.mjs URL streams N MAX_TOKENS | prompt-cache WORDS");
    process.exit(2);
}

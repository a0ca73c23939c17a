// llama.cpp (node-llama-cpp's prebuilt CPU binaries) as a peer: greedy continuation of a prompt
// given as token ids, and optionally the logits that chose each generated token.
// Never builds or downloads llama.cpp: if the prebuilt binaries are missing or unusable it fails.

// Exit code for "not installed": ctest (SKIP_RETURN_CODE 77) and automake report it as skipped.
export const SKIP = 77;

export class NotInstalled extends Error {}

async function loadPackage() {
    try {
        return await import("node-llama-cpp");
    } catch (e) {
        throw new NotInstalled(`skipped: node-llama-cpp is not installed (${e.code ?? e.message}); run tests/interop/setup.sh`);
    }
}

function vocabularySize(model) {
    const tokens = model.fileInfo.metadata?.tokenizer?.ggml?.tokens;
    if (Array.isArray(tokens)) return tokens.length;
    const embd = model.fileInfo.tensorInfo?.find((t) => t.name === "token_embd.weight");
    if (embd) return Number(embd.dimensions[1]);
    throw new Error("cannot tell the vocabulary size: no tokenizer.ggml.tokens and no token_embd.weight");
}

async function loadLlama() {
    const {getLlama, LlamaLogLevel} = await loadPackage();
    return getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
}

// One line naming the llama.cpp that answers, e.g.
// "llama.cpp ggml-org/llama.cpp v0.5.0 (prebuilt, CPU, 2 math cores)".
export async function describe() {
    const llama = await loadLlama();
    const {repo, release} = llama.llamaCppRelease;
    return `llama.cpp ${repo} ${release} (${llama.buildType}, CPU, ${llama.cpuMathCores} math cores)`;
}

// Returns {ids: number[n], logits: Float32Array[n * vocab] | null, vocab}. Row i of logits is the
// distribution that chose ids[i] (row 0 is the last prompt position), in token-id order.
// precise: an F32 KV cache and no flash attention instead of llama.cpp's defaults (F16 cache,
// flash attention where available), which move the tiny fixtures' logits by up to 5e-3, more
// than the 2e-3 margin their references guarantee; precise logits are within 4e-5 of them.
// threads: llama.cpp's workers. One by default: more compete with Node's threads for the cores
// (on 2 cores a decode step of a tiny model took 1.7 s with node-llama-cpp's default, 40 ms with
// two workers, 1 ms with one).
export async function greedy(model_path, prompt, n, {logits = false, threads = 1, precise = false} = {}) {
    const llama = await loadLlama();
    const model = await llama.loadModel({modelPath: model_path});
    try {
        const vocab = vocabularySize(model);
        const bad = prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
        if (bad !== undefined) throw new Error(`prompt token ${bad} is outside the vocabulary [0, ${vocab})`);
        const numerics = precise
            ? {flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"}
            : {};
        const context = await model.createContext({contextSize: prompt.length + n + 1, batchSize: prompt.length, threads, ...numerics});
        try {
            const sequence = context.getSequence();
            const ids = [];
            const rows = logits ? new Float32Array(n * vocab) : null;
            const next = {token: true, logits, options: {temperature: 0}};
            // Feed the prompt as ids (no BOS is added), then each chosen token, one step at a time.
            let input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, {generateNext: next}] : t));
            while (ids.length < n) {
                const out = await sequence.controlledEvaluate(input);
                const result = out[input.length - 1]?.next;
                if (result?.token == null) throw new Error(`llama.cpp produced no token at step ${ids.length}`);
                if (rows) for (const [token, value] of result.logits) rows[ids.length * vocab + token] = value;
                ids.push(result.token);
                input = [[result.token, {generateNext: next}]];
            }
            return {ids, logits: rows, vocab};
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

// llama.cpp's token ids of each of `texts`, special tokens written in the text matched (as
// sluice matches added tokens) and no BOS added unless the file asks for one. Loads only the
// vocabulary, so the file's tensors need not match its tokenizer.
export async function tokenize(model_path, texts) {
    const llama = await loadLlama();
    const model = await llama.loadModel({modelPath: model_path, vocabOnly: true});
    try {
        return texts.map((text) => Array.from(model.tokenize(text, true)));
    } finally {
        await model.dispose();
    }
}

// Perplexity of `text` as llama.cpp's perplexity tool computes it (tools/perplexity: the text
// tokenized whole by llama.cpp, chunks of ctx tokens, each from an empty sequence, the logits at
// positions ctx/2 .. ctx-2 scoring the token after them). The npm package ships llama.cpp's
// library, not its tools, so the tool's loop is written out here over llama.cpp's forward.
// The models tested add no BOS (the tool would put it in place of each chunk's first token).
// Returns {ppl, count, tokens}.
// cache_type: f32, f16 or q8_0 for K and V (null: llama.cpp's default, F16); a quantised V cache
// needs flash attention in llama.cpp.
export async function perplexity(model_path, text, ctx, max_chunks, {threads = 1, cache_type = null} = {}) {
    const llama = await loadLlama();
    const model = await llama.loadModel({modelPath: model_path});
    try {
        const tokens = model.tokenize(text);
        if (tokens.length < 2 * ctx) throw new Error(`the text has ${tokens.length} tokens, ${2 * ctx} needed for ctx ${ctx}`);
        const chunks = Math.min(Math.floor(tokens.length / ctx), max_chunks > 0 ? max_chunks : Infinity);
        const first = Math.floor(ctx / 2);
        const kv = cache_type === null ? {} : {
            experimentalKvCacheKeyType: cache_type.toUpperCase(), experimentalKvCacheValueType: cache_type.toUpperCase(),
            ...(cache_type === "q8_0" ? {flashAttention: true} : {})};
        const context = await model.createContext({contextSize: ctx, batchSize: ctx, threads, ...kv});
        try {
            const sequence = context.getSequence();
            let nll = 0, count = 0;
            for (let c = 0; c < chunks; ++c) {
                await sequence.clearHistory();   // each chunk from an empty context
                const chunk = tokens.slice(c * ctx, (c + 1) * ctx);
                const input = chunk.map((t, i) => (i >= first && i <= ctx - 2 ? [t, {generateNext: {logits: true}}] : t));
                const out = await sequence.controlledEvaluate(input);
                for (let i = first; i <= ctx - 2; ++i) {
                    const logits = out[i]?.next?.logits;
                    if (!logits) throw new Error(`llama.cpp gave no logits at position ${i} of chunk ${c}`);
                    let max = -Infinity;
                    for (const [, v] of logits) max = Math.max(max, v);
                    let z = 0, target = null;
                    for (const [token, v] of logits) {
                        z += Math.exp(v - max);
                        if (token === chunk[i + 1]) target = v;
                    }
                    if (target === null) throw new Error(`no logit for token ${chunk[i + 1]}`);
                    nll += max + Math.log(z) - target;
                    ++count;
                }
            }
            return {ppl: Math.exp(nll / count), count, tokens: tokens.length};
        } finally {
            await context.dispose();
        }
    } finally {
        await model.dispose();
    }
}

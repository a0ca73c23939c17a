// Greedy continuation by llama.cpp (see llama_peer.mjs), for tests that compare engines.
// Usage: node llama_greedy.mjs MODEL.gguf --tokens 1,2,3 -n N [--logits-out FILE] [--precise] [--threads T]
//        node llama_greedy.mjs --version     names the llama.cpp release and build
// Prints the N generated ids, space-separated, on one stdout line. --logits-out writes the
// logits that chose each of them as raw little-endian float32, N rows of vocab values.
// --precise: F32 KV cache and no flash attention (see llama_peer.mjs) instead of llama.cpp's defaults.
// --threads: llama.cpp's worker threads (default 1, see llama_peer.mjs).
// Exit codes: 0 done, 2 bad arguments or model, 77 node-llama-cpp not installed.
import fs from "node:fs";
import {describe, greedy, NotInstalled, SKIP} from "./llama_peer.mjs";

class UsageError extends Error {}

const usage = "usage: node llama_greedy.mjs MODEL.gguf --tokens 1,2,3 -n N [--logits-out FILE] [--precise] [--threads T]";

function parseArgs(argv) {
    const opts = {model: null, tokens: null, n: null, logits_out: null, precise: false, threads: 1};
    for (let i = 0; i < argv.length; ++i) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new UsageError(`${a} needs a value`);
            return argv[++i];
        };
        if (a === "--tokens") opts.tokens = value().split(",").map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : NaN));
        else if (a === "-n") opts.n = Number(value());
        else if (a === "--logits-out") opts.logits_out = value();
        else if (a === "--precise") opts.precise = true;
        else if (a === "--threads") opts.threads = Number(value());
        else if (!a.startsWith("-") && opts.model === null) opts.model = a;
        else throw new UsageError(`unexpected argument '${a}'`);
    }
    if (opts.model === null) throw new UsageError("no model given");
    if (!opts.tokens || opts.tokens.length === 0 || opts.tokens.some(Number.isNaN))
        throw new UsageError("--tokens needs a comma-separated list of token ids");
    if (!Number.isInteger(opts.n) || opts.n < 1) throw new UsageError("-n needs a positive integer");
    if (!Number.isInteger(opts.threads) || opts.threads < 1) throw new UsageError("--threads needs a positive integer");
    if (!fs.existsSync(opts.model)) throw new Error(`${opts.model}: no such file`);
    return opts;
}

try {
    if (process.argv[2] === "--version" && process.argv.length === 3) {
        console.log(await describe());
        process.exit(0);
    }
    const opts = parseArgs(process.argv.slice(2));
    const {ids, logits} = await greedy(opts.model, opts.tokens, opts.n, {
        logits: opts.logits_out !== null, precise: opts.precise, threads: opts.threads,
    });
    if (logits) fs.writeFileSync(opts.logits_out, new Uint8Array(logits.buffer));
    console.log(ids.join(" "));
} catch (e) {
    console.error(`llama_greedy: ${e.message}`);
    if (e instanceof UsageError) console.error(usage);
    process.exit(e instanceof NotInstalled ? SKIP : 2);
}

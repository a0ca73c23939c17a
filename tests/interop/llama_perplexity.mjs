// Perplexity by llama.cpp with its perplexity tool's chunking (see llama_peer.mjs), for tests
// that compare engines.
// Usage: node llama_perplexity.mjs MODEL.gguf TEXT_FILE --ctx N [--chunks N] [--threads T] [--cache-type f32|f16|q8_0]
// Prints `PPL = x` and the number of tokens scored. Exit codes: 0 done, 2 bad arguments or
// model, 77 node-llama-cpp not installed.
import fs from "node:fs";
import {NotInstalled, perplexity, SKIP} from "./llama_peer.mjs";

const usage = "usage: node llama_perplexity.mjs MODEL.gguf TEXT_FILE --ctx N [--chunks N] [--threads T] [--cache-type f32|f16|q8_0]";

try {
    const args = process.argv.slice(2);
    const positional = [];
    const opts = {ctx: NaN, chunks: 0, threads: 1, cache_type: null};
    for (let i = 0; i < args.length; ++i) {
        if (["--ctx", "--chunks", "--threads"].includes(args[i]) && i + 1 < args.length)
            opts[args[i].slice(2)] = Number(args[++i]);
        else if (args[i] === "--cache-type" && i + 1 < args.length && ["f32", "f16", "q8_0"].includes(args[i + 1]))
            opts.cache_type = args[++i];
        else if (!args[i].startsWith("-")) positional.push(args[i]);
        else throw new Error(`unexpected argument '${args[i]}'\n${usage}`);
    }
    if (positional.length !== 2 || !Number.isInteger(opts.ctx) || opts.ctx < 8) throw new Error(usage);
    const text = fs.readFileSync(positional[1], "utf8");
    const r = await perplexity(positional[0], text, opts.ctx, opts.chunks, {threads: opts.threads, cache_type: opts.cache_type});
    console.log(`PPL = ${r.ppl.toFixed(6)}`);
    console.log(`scored ${r.count} of ${r.tokens} tokens`);
} catch (e) {
    console.error(`llama_perplexity: ${e.message}`);
    process.exit(e instanceof NotInstalled ? SKIP : 2);
}

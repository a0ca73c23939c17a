// llama.cpp's prefill and decode speed through node-llama-cpp, measured like `sluice bench`:
// N random prompt tokens, then N single-token steps fed random ids.
// Usage: node llama_bench.mjs MODEL.gguf --vocab V [-p N] [-n N] [--seed S] [--threads T]
// Prints {"prefill_tok_s": …, "decode_tok_s": …} on one line.
import {getLlama} from "node-llama-cpp";

const args = process.argv.slice(2);
const opt = (name, fallback) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : fallback);
const model_path = args[0];
const n_prompt = opt("-p", 64), n_decode = opt("-n", 32), threads = opt("--threads", 0), vocab = opt("--vocab", 0);
if (!model_path || vocab <= 0) throw new Error("usage: node llama_bench.mjs MODEL.gguf --vocab V [-p N] [-n N]");
let seed = opt("--seed", 1);
const random = () => {  // xorshift32: reproducible token ids
    seed ^= seed << 13; seed >>>= 0;
    seed ^= seed >>> 17;
    seed ^= seed << 5; seed >>>= 0;
    return seed;
};

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: model_path, useMmap: true});
const context = await model.createContext({contextSize: n_prompt + n_decode + 8, threads, batchSize: n_prompt});
const sequence = context.getSequence();
const prompt = Array.from({length: n_prompt}, () => random() % vocab);

let t0 = performance.now();
await sequence.evaluateWithoutGeneratingNewTokens(prompt);
const prefill_s = (performance.now() - t0) / 1000;
t0 = performance.now();
for (let i = 0; i < n_decode; ++i) await sequence.evaluateWithoutGeneratingNewTokens([random() % vocab]);
const decode_s = (performance.now() - t0) / 1000;
console.log(JSON.stringify({prefill_tok_s: n_prompt / prefill_s, decode_tok_s: n_decode / decode_s}));
await context.dispose();
await model.dispose();

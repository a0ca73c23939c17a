// llama.cpp (through node-llama-cpp's prebuilt binaries) as a peer: greedy continuation of a
// prompt given as token ids. Usage: node llama_greedy.mjs MODEL.gguf --tokens 1,2,3 -n N
// Prints the generated ids, space-separated, on one line.
import {getLlama} from "node-llama-cpp";

const args = process.argv.slice(2);
const model_path = args[0];
const tokens = args[args.indexOf("--tokens") + 1].split(",").map(Number);
const n = Number(args[args.indexOf("-n") + 1]);

const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const model = await llama.loadModel({modelPath: model_path});
const context = await model.createContext({contextSize: Math.max(64, tokens.length + n + 8)});
const sequence = context.getSequence();
const out = [];
for await (const token of sequence.evaluate(tokens, {temperature: 0})) {
    out.push(token);
    if (out.length >= n) break;
}
console.log(out.join(" "));
await context.dispose();
await model.dispose();

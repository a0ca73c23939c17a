// Token ids of texts by llama.cpp's tokenizer (see llama_peer.mjs), for tests that compare
// tokenizers.
// Usage: node llama_tokenize.mjs MODEL.gguf TEXTS.json
// TEXTS.json is a JSON array of strings; prints a JSON array of their id arrays on one line.
// Exit codes: 0 done, 2 bad arguments or files, 77 node-llama-cpp not installed.
import fs from "node:fs";
import {NotInstalled, SKIP, tokenize} from "./llama_peer.mjs";

async function main(argv) {
    if (argv.length !== 2) throw new Error("usage: node llama_tokenize.mjs MODEL.gguf TEXTS.json");
    const [model, file] = argv;
    for (const f of argv) if (!fs.existsSync(f)) throw new Error(`${f}: no such file`);
    const texts = JSON.parse(fs.readFileSync(file, "utf8"));
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string"))
        throw new Error(`${file}: expected a JSON array of strings`);
    console.log(JSON.stringify(await tokenize(model, texts)));
    return 0;
}

try {
    process.exit(await main(process.argv.slice(2)));
} catch (e) {
    console.error(`llama_tokenize: ${e.message}`);
    process.exit(e instanceof NotInstalled ? SKIP : 2);
}

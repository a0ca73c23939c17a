// Checks a greedy continuation against a fixture reference (prompt_X → gen_X).
// Usage: node check_greedy.mjs MODEL.gguf REFERENCE.safetensors a|b   llama.cpp (--precise mode of
//                                                                    llama_greedy.mjs) continues prompt_X
//        node check_greedy.mjs --ids IDS REFERENCE.safetensors a|b    IDS (e.g. sluice's output,
//                                                                    space- or comma-separated)
// Exit codes: 0 equal to gen_X, 1 different, 2 bad arguments or files, 77 node-llama-cpp missing.
import fs from "node:fs";
import {greedy, NotInstalled, SKIP} from "./llama_peer.mjs";
import {readTensor} from "./safetensors.mjs";

const usage = "usage: node check_greedy.mjs (MODEL.gguf | --ids IDS) REFERENCE.safetensors a|b";

function parseIds(text) {
    const parts = text.trim().split(/[\s,]+/);
    if (parts.some((p) => !/^\d+$/.test(p))) throw new Error(`--ids: '${text}' is not a list of token ids`);
    return parts.map(Number);
}

async function main(argv) {
    const given = argv[0] === "--ids" ? argv.splice(0, 2)[1] : null;
    if (given === undefined || argv.length !== (given === null ? 3 : 2)) throw new Error(usage);
    const [model, ref, which] = given === null ? argv : [null, ...argv];
    if (which !== "a" && which !== "b") throw new Error(`prompt must be a or b, not '${which}'\n${usage}`);
    for (const f of [model, ref]) if (f !== null && !fs.existsSync(f)) throw new Error(`${f}: no such file`);
    const prompt = Array.from(readTensor(ref, `prompt_${which}`).data);
    const expected = Array.from(readTensor(ref, `gen_${which}`).data);

    const got = given !== null ? parseIds(given) : (await greedy(model, prompt, expected.length, {precise: true})).ids;
    const source = given !== null ? "given ids" : `llama.cpp on ${model}`;
    const first = expected.findIndex((t, i) => got[i] !== t);
    if (first === -1 && got.length === expected.length) {
        console.log(`check_greedy: ${source} reproduce gen_${which} (${expected.length} tokens)`);
        return 0;
    }
    console.log(`check_greedy: ${source} differ from gen_${which} at position ${first === -1 ? expected.length : first}`);
    console.log(`  expected: ${expected.join(" ")}`);
    console.log(`  got:      ${got.join(" ")}`);
    return 1;
}

try {
    process.exit(await main(process.argv.slice(2)));
} catch (e) {
    console.error(`check_greedy: ${e.message}`);
    process.exit(e instanceof NotInstalled ? SKIP : 2);
}

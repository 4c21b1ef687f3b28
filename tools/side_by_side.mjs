// llama.cpp's prefill and decode speed on one GGUF file, for tools/side_by_side.sh.
//
//   node side_by_side.mjs MODEL.gguf THREADS PROMPT GEN [--info]
//
// Runs node-llama-cpp (its prebuilt CPU build of llama.cpp; imported from the
// node_modules beside this file, so side_by_side.sh copies it into
// build/interop) the way rwkvx-bench runs rwkvx: a 16-token warm-up, then a
// prefill of PROMPT random tokens from a fresh state in one batch (logits of
// the last position only), then GEN single-token evaluations, each computing
// the logits (and a greedy pick, which node-llama-cpp needs to hand them back).
// Prints one JSON line: prefill_tok_s, decode_tok_s, decode_ms_per_tok.
// --info prints the llama.cpp release, the CPU variant of ggml it loaded and
// its system-info line instead.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const args = process.argv.slice(2);
const llamaOptions = {gpu: false, build: "never", logLevel: LlamaLogLevel.error};
if (args[0] === "--info") {
    const llama = await getLlama(llamaOptions);
    const r = llama.llamaCppRelease;
    // which of ggml's CPU variants (libggml-cpu-zen4.so, -haswell, ...) it loaded for this CPU
    const variants = readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? ["unknown"];
    console.log(JSON.stringify({release: `${r.repo} ${r.release}`, buildType: llama.buildType,
        cpuBackend: [...new Set(variants)].join(","), systemInfo: llama.systemInfo}));
    process.exit(0);
}
const [modelPath, threadsText, promptText, genText] = args;
if (!genText) {
    console.error("usage: node side_by_side.mjs MODEL.gguf THREADS PROMPT GEN | --info");
    process.exit(2);
}
const threads = Number(threadsText), P = Number(promptText), G = Number(genText);

const llama = await getLlama({...llamaOptions, maxThreads: threads});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: P + G + 64, batchSize: Math.max(P, 16), threads});
const sequence = context.getSequence();
const V = 256;   // token ids below 256: the byte tokens of the files side_by_side.sh writes

let seed = 1;   // the same kind of tokens as rwkvx-bench: pseudo-random ids (speed does not depend on them)
const randomTokens = (n) => Array.from({length: n}, () => (seed = (seed * 1103515245 + 12345) >>> 0, (seed >>> 8) % V));
const withLastLogits = (tokens) => tokens.map((t, i) => (i === tokens.length - 1 ? [t, {generateNext: {token: true}}] : t));
const now = () => Number(process.hrtime.bigint()) / 1e9;

await sequence.controlledEvaluate(withLastLogits(randomTokens(16)));   // warm-up: pages, caches, graphs
await sequence.clearHistory();

const prompt = randomTokens(P);
let t0 = now();
await sequence.controlledEvaluate(withLastLogits(prompt));
const prefill = now() - t0;

const gen = randomTokens(G);
t0 = now();
for (const t of gen) await sequence.controlledEvaluate([[t, {generateNext: {token: true}}]]);
const decode = now() - t0;

console.log(JSON.stringify({engine: "llama.cpp", model: modelPath, threads, prompt: P, gen: G,
    prefill_tok_s: +(P / prefill).toFixed(2), decode_tok_s: +(G / decode).toFixed(2), decode_ms_per_tok: +(1e3 * decode / G).toFixed(4)}));
await context.dispose();
await model.dispose();

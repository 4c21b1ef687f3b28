// llama.cpp against rwkvx on the same GGUF file (make interop, tests/interop/run.sh).
//
//   node compare.mjs MODEL.gguf RWKVX_LOGITS.f32 TOKENS LABEL MAX_DIFF MIN_ARGMAX
//
// llama.cpp (the prebuilt CPU binaries of node-llama-cpp) evaluates TOKENS
// (comma-separated ids) once, asking for the next-token probabilities after
// every position; RWKVX_LOGITS holds rwkvx-logits --all on the same file
// (T x V float32). Compared per position: log-probabilities of every token
// (rwkvx's log-softmax against log of llama.cpp's probability; tokens below
// e^-60 in both are skipped, llama.cpp rounds them to 0) and the argmax.
// Prints one line; exits 1 when max |diff| > MAX_DIFF or the argmax agrees on
// fewer than MIN_ARGMAX of the positions.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, logitsPath, tokensText, label, maxDiffText, minArgmaxText] = process.argv.slice(2);
if (!minArgmaxText) {
    console.error("usage: node compare.mjs MODEL.gguf RWKVX_LOGITS.f32 TOKENS LABEL MAX_DIFF MIN_ARGMAX");
    process.exit(2);
}
const tokens = tokensText.split(",").map(Number);
const maxDiff = Number(maxDiffText), minArgmax = Number(minArgmaxText);

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath});
const context = await model.createContext({contextSize: 4096, batchSize: 512, threads: 1});
const results = await context.getSequence().controlledEvaluate(
    tokens.map((t) => [t, {generateNext: {probabilities: true}}]));

const raw = readFileSync(logitsPath);
const ours = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const T = tokens.length, V = ours.length / T;
if (!Number.isInteger(V)) throw new Error(`${logitsPath}: ${ours.length} floats is not ${T} positions`);

// rwkvx's log-softmax of one position, in double precision
function logSoftmax(row) {
    let max = -Infinity, sum = 0;
    for (const x of row) max = Math.max(max, x);
    for (const x of row) sum += Math.exp(x - max);
    const log = Math.log(sum) + max;
    return Array.from(row, (x) => x - log);
}

let worst = 0, worstAt = "", agree = 0;
for (let t = 0; t < T; t++) {
    const lp = logSoftmax(ours.subarray(t * V, (t + 1) * V));
    const probs = results[t].next.probabilities;
    let ourTop = 0, theirTop = -1, theirBest = -1;
    for (let v = 1; v < V; v++) if (lp[v] > lp[ourTop]) ourTop = v;
    for (let v = 0; v < V; v++) {
        const p = probs.get(v) ?? 0;
        if (p > theirBest) theirBest = p, theirTop = v;
        const theirs = p > 0 ? Math.log(p) : -Infinity;
        if (lp[v] < -60 && theirs < -60) continue;
        const d = Math.abs(lp[v] - theirs);
        if (!(d <= worst)) worst = d, worstAt = `position ${t}, token ${v}`;
    }
    agree += ourTop === theirTop;
}
const agreeShare = agree / T, ok = worst <= maxDiff && agreeShare >= minArgmax;
console.log(`${ok ? "ok  " : "FAIL"} ${label}: ${T} positions x ${V} tokens, max |log p diff| ${worst.toExponential(2)}` +
    ` (bound ${maxDiff}, at ${worstAt}); same argmax at ${agree} of ${T} positions (bound ${100 * minArgmax}%)`);
await context.dispose();
await model.dispose();
process.exit(ok ? 0 : 1);

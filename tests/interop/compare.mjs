// llama.cpp against rwkvx on the same GGUF file (make interop, tests/interop/run.sh).
//
//   node compare.mjs MODEL.gguf RWKVX_LOGITS.f32 TOKENS LABEL MAX_DIFF MIN_ARGMAX [F32_COPY.gguf]
//
// llama.cpp (the prebuilt CPU binaries of node-llama-cpp) evaluates TOKENS
// (comma-separated ids) once, asking for the next-token probabilities after
// every position; RWKVX_LOGITS holds rwkvx-logits --all on the same file
// (T x V float32). Compared per position: log-probabilities of every token
// (rwkvx's log-softmax against log of llama.cpp's probability; tokens below
// e^-60 in both are skipped, llama.cpp rounds them to 0) and the argmax.
// Fails when max |diff| > MAX_DIFF or the argmax agrees on fewer than
// MIN_ARGMAX of the positions.
//
// With F32_COPY (MODEL with every tensor decoded to F32, dequantize.py),
// llama.cpp also runs the copy: the same weights, but F32 activations where
// on MODEL its CPU kernels round them to Q8_0/Q8_K blocks (or F16, BF16).
// llama.cpp(MODEL) - llama.cpp(copy) is then llama.cpp's own activation
// rounding, and the test also fails unless rwkvx's difference from llama.cpp
// is within what that rounding explains: at most EXPLAIN x it + 1e-4 (EXPLAIN 2:
// rwkvx's own rounding, if any, may add as much again). Every figure is printed.
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const EXPLAIN = 2;
const [modelPath, logitsPath, tokensText, label, maxDiffText, minArgmaxText, copyPath] = process.argv.slice(2);
if (!minArgmaxText) {
    console.error("usage: node compare.mjs MODEL.gguf RWKVX_LOGITS.f32 TOKENS LABEL MAX_DIFF MIN_ARGMAX [F32_COPY.gguf]");
    process.exit(2);
}
const tokens = tokensText.split(",").map(Number);
const maxDiff = Number(maxDiffText), minArgmax = Number(minArgmaxText);
const T = tokens.length;

const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});

// llama.cpp's log-probabilities after every position of tokens: T arrays of V
async function llamaLogProbs(path, V) {
    const model = await llama.loadModel({modelPath: path});
    const context = await model.createContext({contextSize: 4096, batchSize: 512, threads: 1});
    const results = await context.getSequence().controlledEvaluate(
        tokens.map((t) => [t, {generateNext: {probabilities: true}}]));
    const rows = results.map(({next}) => {
        const row = new Float64Array(V).fill(-Infinity);
        for (const [v, p] of next.probabilities) if (p > 0) row[v] = Math.log(p);
        return row;
    });
    await context.dispose();
    await model.dispose();
    return rows;
}

// rwkvx's log-softmax of one position, in double precision
function logSoftmax(row) {
    let max = -Infinity, sum = 0;
    for (const x of row) max = Math.max(max, x);
    for (const x of row) sum += Math.exp(x - max);
    const log = Math.log(sum) + max;
    return Float64Array.from(row, (x) => x - log);
}

function argmax(row) {
    let best = 0;
    for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
    return best;
}

// max |a - b| over positions and tokens, where it is, how many argmaxes agree,
// and where they do not, the largest gap in a between the two tokens (a near
// tie, which a difference of half that flips, in these random test models)
function difference(a, b) {
    let worst = 0, at = "", agree = 0, flipGap = 0;
    for (let t = 0; t < T; t++) {
        for (let v = 0; v < a[t].length; v++) {
            if (a[t][v] < -60 && b[t][v] < -60) continue;
            const d = Math.abs(a[t][v] - b[t][v]);
            if (!(d <= worst)) worst = d, at = `position ${t}, token ${v}`;
        }
        const top = argmax(a[t]), their = argmax(b[t]);
        if (top === their) agree++;
        else flipGap = Math.max(flipGap, a[t][top] - a[t][their]);
    }
    return {worst, at, agree, flipGap};
}

const raw = readFileSync(logitsPath);
const logits = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const V = logits.length / T;
if (!Number.isInteger(V)) throw new Error(`${logitsPath}: ${logits.length} floats is not ${T} positions`);
const ours = Array.from({length: T}, (_, t) => logSoftmax(logits.subarray(t * V, (t + 1) * V)));
const theirs = await llamaLogProbs(modelPath, V);

const d = difference(ours, theirs);
let ok = d.worst <= maxDiff && d.agree / T >= minArgmax;
let line = `${label}: ${T} positions x ${V} tokens, max |log p diff| ${d.worst.toExponential(2)}` +
    ` (bound ${maxDiff}, at ${d.at}); same argmax at ${d.agree} of ${T} positions (bound ${100 * minArgmax}%)` +
    (d.agree < T ? `, the others near ties (top-2 gap <= ${d.flipGap.toExponential(1)})` : "");
if (copyPath) {
    const exact = await llamaLogProbs(copyPath, V);
    const rounding = difference(theirs, exact), rest = difference(ours, exact);
    const explained = d.worst <= EXPLAIN * rounding.worst + 1e-4;
    ok &&= explained;
    line += `\n       llama.cpp's activation rounding (llama.cpp on the file - on its F32 copy): ` +
        `${rounding.worst.toExponential(2)}; rwkvx - llama.cpp on the F32 copy: ${rest.worst.toExponential(2)}` +
        ` (same argmax at ${rest.agree}); ${explained ? "explained" : "NOT explained"}` +
        ` (rwkvx - llama.cpp <= ${EXPLAIN} x rounding + 1e-4)`;
}
console.log(`${ok ? "ok  " : "FAIL"} ${line}`);
process.exit(ok ? 0 : 1);

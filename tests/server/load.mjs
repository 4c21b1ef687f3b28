// Load test: node load.mjs BASE_URL SERVER_PID [CLIENTS] [REQUESTS]
// CLIENTS (16) clients send REQUESTS (20) requests each at once, through the
// openai client: chat and completions, streaming and not, one in 7 dropped
// by its client (after its first chunk, or while it waits). Every response
// that completes must equal what a single client got for the same request
// (same seed), none may be lost or fail; afterwards every slot is free and
// the server's resident memory is back to its baseline (measured after a
// warm-up pass like the test, 4 requests a client, which also fills the
// bounded state cache) within 4 MiB.
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const [base, pid, nClients = '16', nRequests = '20'] = process.argv.slice(2);
const CLIENTS = +nClients, REQUESTS = +nRequests, DISTINCT = 12;
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'none', maxRetries: 0, timeout: 300000 });
const rss = () => +/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1] * 1024;
const health = async () => (await fetch(base + '/health')).json();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function request(k) { // k-th distinct request
    const common = { model: 'm', max_tokens: 4 + (k % 4) * 2, seed: 1000 + k, temperature: 0.7 + (k % 3) * 0.1 };
    if (k % 2) return { kind: 'chat', params: { ...common, messages: [{ role: 'user', content: `Question number ${k}: why?` }] } };
    return { kind: 'completion', params: { ...common, prompt: `Once upon a time, story ${k} began` } };
}
async function run(k, stream, drop) { // the text, or null when dropped
    const { kind, params } = request(k), ac = new AbortController();
    const api = kind === 'chat' ? client.chat.completions : client.completions;
    let timer = null;
    if (drop && !stream) timer = setTimeout(() => ac.abort(), 5 + (k % 4) * 10);
    try {
        const res = await api.create({ ...params, stream }, { signal: ac.signal });
        if (!stream) return kind === 'chat' ? res.choices[0].message.content : res.choices[0].text;
        let text = '';
        for await (const chunk of res) {
            if (drop) { ac.abort(); return null; }
            const c = chunk.choices[0];
            if (c) text += (kind === 'chat' ? c.delta.content : c.text) ?? '';
        }
        return text;
    } catch (e) {
        if (drop && (e.name === 'AbortError' || e instanceof OpenAI.APIUserAbortError)) return null;
        throw e;
    } finally { if (timer) clearTimeout(timer); }
}

const reference = [];
for (let k = 0; k < DISTINCT; k++) reference.push(await run(k, false, false)); // one client, one at a time
let completed = 0, dropped = 0, wrong = 0, errors = 0, tokens = 0;
async function pass(requests) { // every client at once, `requests` each
    await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
        for (let i = 0; i < requests; i++) {
            const k = (c * 7 + i * 5) % DISTINCT, stream = (c + i) % 2 === 1, drop = (c * REQUESTS + i) % 7 === 3;
            try {
                const text = await run(k, stream, drop);
                if (text === null) { dropped++; continue; }
                completed++;
                tokens += request(k).params.max_tokens;
                if (text !== reference[k]) { wrong++; if (wrong < 4) console.log(`FAIL load: request ${k} (stream ${stream}) differs from the single-client run`); }
            } catch (e) { errors++; if (errors < 4) console.log(`FAIL load: request ${k}: ${e.message}`); }
        }
    }));
}
await pass(4); // warm-up: the server's connection threads, allocator and bounded cache reach their working size
await sleep(300);
const baseline = rss();
completed = dropped = tokens = 0; // differences and errors of the warm-up still count
const t0 = Date.now();
await pass(REQUESTS);
const seconds = (Date.now() - t0) / 1000;
let h = await health();
for (let i = 0; i < 50 && (h.slots_busy || h.queued || h.requests_alive); i++) { await sleep(100); h = await health(); }
await sleep(300);
const after = rss(), growth = after - baseline;
const expected = CLIENTS * REQUESTS - dropped;
console.log(`load: ${CLIENTS} clients x ${REQUESTS} requests in ${seconds.toFixed(1)} s: ${completed} completed (${wrong} differ), ` +
            `${dropped} dropped by their clients, ${errors} errors; at most ${(tokens / seconds).toFixed(0)} generated tokens/s`);
console.log(`load: after: ${h.slots_busy} slots busy, ${h.queued} queued, ${h.requests_alive} requests alive; ` +
            `resident memory ${(baseline / 1048576).toFixed(1)} -> ${(after / 1048576).toFixed(1)} MiB; cache ${h.cache_entries} entries, ${h.cache_bytes} bytes`);
const ok = wrong === 0 && errors === 0 && completed === expected && dropped > 0 && h.slots_busy === 0 && h.queued === 0 &&
           h.requests_alive === 0 && growth < 4 * 1048576;
if (!ok) console.log('FAIL load test');
process.exit(ok ? 0 : 1);

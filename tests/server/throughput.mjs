// A measurement, not a test: rwkvx-server's aggregate decode speed and the
// state cache's effect on the time to first token (docs/SERVER.md).
//   node throughput.mjs BASE_URL SERVER_PID [--streams 1,2,4,8,16] [--tokens 32] [--turn1 600] [--repeat 3] [--ttft-only]
// - for each S: S clients stream a completion of --tokens tokens at once
//   (temperature 0, a short prompt each); tokens/s = all generated tokens /
//   the wall time from the first request to the last token, and the server's
//   CPU time (all its threads, /proc/PID/stat) per generated token, which
//   other programs on a shared machine do not inflate; medians of --repeat;
// - the second turn of a conversation whose first turn is --turn1 words:
//   time to its first streamed token, wall and server CPU. Run it against a
//   server with --cache-mb 0 and one with the cache on.
import OpenAI from 'openai';
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2), [base, pid] = args;
const opt = (name, dflt) => { const i = args.indexOf(name); return i > 1 ? args[i + 1] : dflt; };
const streams = opt('--streams', '1,2,4,8,16').split(',').map(Number), tokens = +opt('--tokens', '32');
const turn1 = +opt('--turn1', '600'), repeat = +opt('--repeat', '3');
const client = new OpenAI({ baseURL: base + '/v1', apiKey: 'none', maxRetries: 0, timeout: 600000 });
const cpu = () => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (+f[11] + +f[12]) / 100; };
const median = (xs) => xs.slice().sort((a, b) => a - b)[xs.length >> 1];

async function one(i) {
    const res = await client.completions.create({ model: 'm', prompt: `Stream ${i}: the`, max_tokens: tokens, temperature: 0, stream: true,
                                                  stream_options: { include_usage: true } });
    let n = 0;
    for await (const chunk of res) if (chunk.usage) n = chunk.usage.completion_tokens;
    return n;
}
if (!args.includes('--ttft-only')) {
    console.log('| streams | tokens/s (all streams) | x one stream | server CPU ms per token | x one stream (CPU) |\n| ---: | ---: | ---: | ---: | ---: |');
    let single = 0, singleCpu = 0;
    for (const S of streams) {
        const rates = [], cpus = [];
        for (let r = 0; r < repeat; r++) {
            const t0 = performance.now(), c0 = cpu();
            const n = (await Promise.all(Array.from({ length: S }, (_, i) => one(i)))).reduce((a, b) => a + b, 0);
            rates.push(n / ((performance.now() - t0) / 1000));
            cpus.push((cpu() - c0) * 1000 / n);
        }
        const rate = median(rates), ms = median(cpus);
        if (S === 1) single = rate, singleCpu = ms;
        console.log(`| ${S} | ${rate.toFixed(1)} | ${(rate / single).toFixed(2)} | ${ms.toFixed(1)} | ${(singleCpu / ms).toFixed(2)} |`);
    }
}
async function ttft(messages) {
    const t0 = performance.now(), c0 = cpu();
    const res = await client.chat.completions.create({ model: 'm', messages, max_tokens: 4, temperature: 0, stream: true });
    let first = null, firstCpu = null, text = '';
    for await (const chunk of res) {
        const c = chunk.choices[0]?.delta?.content;
        if (c && first === null) first = performance.now() - t0, firstCpu = cpu() - c0;
        if (c) text += c;
    }
    return { first: (first ?? performance.now() - t0) / 1000, cpu: firstCpu ?? cpu() - c0, text };
}
const words = Array.from({ length: turn1 }, (_, i) => ['alpha', 'beta', 'gamma', 'delta', 'river', 'stone'][i % 6]).join(' ');
for (let r = 0; r < repeat; r++) {
    const history = [{ role: 'user', content: `Conversation ${r}. Read this: ${words}. What is the third word?` }];
    const r1 = await ttft(history);
    const r2 = await ttft([...history, { role: 'assistant', content: r1.text }, { role: 'user', content: 'And the fourth?' }]);
    console.log(`time to first token: turn 1 ${r1.first.toFixed(2)} s (server CPU ${r1.cpu.toFixed(2)} s), ` +
                `turn 2 ${r2.first.toFixed(2)} s (server CPU ${r2.cpu.toFixed(2)} s)`);
}

// The official openai client against rwkvx-server: node openai_client.mjs BASE_URL API_KEY
// Chat and completions, streaming and not (the same seed gives the same text
// both ways), stop strings, usage, a second chat turn served from the state
// cache, and the client's typed errors for a bad key and bad parameters.
import OpenAI from 'openai';

const [base, key] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base + '/v1', apiKey: key, maxRetries: 0, timeout: 120000 });
let failed = 0, passed = 0;
function check(ok, what) {
    if (ok) passed++;
    else { failed++; console.log('FAIL openai client: ' + what); }
}
async function health() { return (await fetch(base + '/health')).json(); }
async function streamText(iter) {
    let text = '', finish = null, usage = null, role = null;
    for await (const chunk of iter) {
        if (chunk.usage) usage = chunk.usage;
        if (!chunk.choices.length) continue;
        const c = chunk.choices[0];
        if (c.delta) { if (c.delta.role) role = c.delta.role; text += c.delta.content ?? ''; }
        else text += c.text;
        if (c.finish_reason) finish = c.finish_reason;
    }
    return { text, finish, usage, role };
}

const models = await client.models.list();
check(models.data.length === 1 && models.data[0].object === 'model', 'models.list');
const model = models.data[0].id;

const chat = { model, messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Say hello.' }],
               max_tokens: 24, seed: 7, temperature: 0.9, top_p: 0.9, presence_penalty: 0.1, frequency_penalty: 0.2 };
const whole = await client.chat.completions.create(chat);
check(whole.object === 'chat.completion' && whole.choices[0].message.role === 'assistant' &&
      typeof whole.choices[0].message.content === 'string', 'chat: the completion object');
check(['stop', 'length'].includes(whole.choices[0].finish_reason), 'chat: finish_reason');
check(whole.usage.prompt_tokens > 0 && whole.usage.completion_tokens > 0 &&
      whole.usage.total_tokens === whole.usage.prompt_tokens + whole.usage.completion_tokens, 'chat: usage');
const streamed = await streamText(await client.chat.completions.create({ ...chat, stream: true, stream_options: { include_usage: true } }));
check(streamed.text === whole.choices[0].message.content, 'chat: streamed text == non-streamed text (same seed)');
check(streamed.role === 'assistant' && streamed.finish === whole.choices[0].finish_reason, 'chat: streamed role and finish_reason');
check(streamed.usage && streamed.usage.completion_tokens === whole.usage.completion_tokens, 'chat: usage chunk (include_usage)');

const comp = { model, prompt: 'The capital of France is', max_tokens: 20, seed: 3 };
const c1 = await client.completions.create(comp);
check(c1.object === 'text_completion' && typeof c1.choices[0].text === 'string' && c1.usage.completion_tokens === 20 &&
      c1.choices[0].finish_reason === 'length', 'completions: the object, max_tokens');
const c2 = await streamText(await client.completions.create({ ...comp, stream: true }));
check(c2.text === c1.choices[0].text && c2.finish === 'length', 'completions: streamed == non-streamed');
const c3 = await client.completions.create(comp);
check(c3.choices[0].text === c1.choices[0].text, 'completions: the same seed, the same text');
// a stop string taken from the text: the reply ends just before it
const t = c1.choices[0].text, stop = t.slice(6, 9);
if (stop.length === 3 && t.indexOf(stop) > 0) {
    const s1 = await client.completions.create({ ...comp, stop: [stop] });
    check(s1.choices[0].text === t.slice(0, t.indexOf(stop)) && s1.choices[0].finish_reason === 'stop', 'completions: stop string');
    const s2 = await streamText(await client.completions.create({ ...comp, stop, stream: true }));
    check(s2.text === s1.choices[0].text && s2.finish === 'stop', 'completions: stop string, streamed');
}

// the second turn of a conversation resumes from the cached state of the first
const before = await health();
const turn2 = await client.chat.completions.create({ ...chat, messages: [...chat.messages,
    { role: 'assistant', content: whole.choices[0].message.content }, { role: 'user', content: 'And goodbye?' }] });
const after = await health();
check(typeof turn2.choices[0].message.content === 'string' && after.cache_hits > before.cache_hits, 'chat: second turn is a cache hit');

// typed errors
async function rejects(promise, status, what, param) {
    try { await promise; check(false, what + ': accepted'); }
    catch (e) {
        check(e.status === status && e.error && typeof e.error.message === 'string' && (!param || e.error.param === param),
              `${what}: status ${e.status} ${JSON.stringify(e.error)}`);
    }
}
await rejects(client.chat.completions.create({ ...chat, temperature: 5 }), 400, 'temperature 5', 'temperature');
await rejects(client.chat.completions.create({ ...chat, messages: [] }), 400, 'no messages', 'messages');
await rejects(client.completions.create({ ...comp, max_tokens: 1e12 }), 400, 'max_tokens 1e12', 'max_tokens');
await rejects(client.completions.create({ ...comp, n: 3 }), 400, 'n 3', 'n');
const wrong = new OpenAI({ baseURL: base + '/v1', apiKey: 'wrong-' + key, maxRetries: 0 });
await rejects(wrong.models.list(), 401, 'a wrong API key');
await rejects(wrong.chat.completions.create(chat), 401, 'a wrong API key (chat)');

console.log(`openai client: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

// soak.js PORT SECONDS [CLIENTS] - a mixed load for scripts/soak.sh: CLIENTS loops (default 6)
// send, until SECONDS have passed, completions, streaming chats, streams dropped after the
// first chunk, per-request routing and malformed bodies; every answer must be the expected
// one (200, or 400 for the malformed). Prints one JSON line of counts; exits 1 on a failure.
'use strict';
const http = require('http');
const port = +process.argv[2], seconds = +process.argv[3], clients = +(process.argv[4] || 6);
const until = Date.now() + seconds * 1000;
const counts = { completion: 0, chat_stream: 0, dropped: 0, routed: 0, malformed: 0, failures: 0 };
let rng = 12345;
const rand = n => { rng = (rng * 1103515245 + 12345) & 0x7fffffff; return (rng >> 16) % n; };

function post(path, body, { drop = false } = {}) {
  return new Promise(resolve => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', headers: { 'Content-Type': 'application/json' } }, res => {
      let data = '';
      res.on('data', d => { data += d; if (drop && data.includes('data: {')) { req.destroy(); resolve({ status: res.statusCode, dropped: true }); } });
      res.on('end', () => resolve({ status: res.statusCode, body: data }));
      res.on('error', () => resolve({ status: res.statusCode, dropped: true }));
    });
    req.on('error', e => resolve({ status: 0, error: e.code }));
    req.setTimeout(120000, () => { req.destroy(); resolve({ status: 0, error: 'timeout' }); });
    req.end(body);
  });
}

async function one() {
  const r = rand(10), seed = rand(1000000);
  let res, want = 200, kind;
  if (r < 5) {
    kind = 'completion';
    res = await post('/v1/completions', JSON.stringify({ prompt: 'The state of the union is', max_tokens: 16 + rand(48), temperature: 0.8, seed }));
  } else if (r < 7) {
    kind = 'chat_stream';
    res = await post('/v1/chat/completions', JSON.stringify({ messages: [{ role: 'user', content: 'Tell me about the economy.' }], max_tokens: 32, stream: true, seed }));
  } else if (r < 8) {
    kind = 'dropped';
    res = await post('/v1/completions', JSON.stringify({ prompt: 'We the people', max_tokens: 200, stream: true, seed }), { drop: true });
  } else if (r < 9) {
    kind = 'routed';
    res = await post('/v1/completions', JSON.stringify({ prompt: 'Congress', max_tokens: 24, seed, adaptive_k: { policy: 'top-p', top_p: 0.6 } }));
  } else {
    kind = 'malformed';
    want = 400;
    res = await post('/v1/completions', ['{"prompt":', '{"prompt":"x","max_tokens":-3}', '[1,2]', '{"prompt":"x","adaptive_k":{"policy":"nope"}}'][rand(4)]);
  }
  counts[kind]++;
  if (res.status !== want) { counts.failures++; if (counts.failures <= 5) console.error(`${kind}: status ${res.status} ${res.error || ''} ${(res.body || '').slice(0, 160)}`); }
}

async function loop() { while (Date.now() < until) await one(); }
Promise.all(Array.from({ length: clients }, loop)).then(() => {
  console.log(JSON.stringify(counts));
  process.exit(counts.failures ? 1 : 0);
});

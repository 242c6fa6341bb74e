// batch_savings.js BASE_URL CLIENTS REQUESTS_PER_CLIENT MAX_TOKENS TEXT_FILE - CLIENTS
// concurrent clients each send their requests one after another, every request with its
// own prompt (40 words from its own place in TEXT_FILE, so that requests route
// differently), temperature 0; then reads the server's batch metrics. Prints one JSON line:
// tokens/s, latency p50/p99, mean requests per forward pass, and expert bytes read per
// pass with the routing used and with the native top-k (each expert once per pass).
'use strict';
const http = require('http');
const fs = require('fs');
const { run } = require('./load_client.js');
const [base, clients, per, maxTokens, textFile] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5],
                                                   process.argv[6]];
const words = fs.readFileSync(textFile, 'utf8').split(/\s+/).filter(w => w);
const bodyOf = i => {
  const at = (i * 397) % (words.length - 40);
  return JSON.stringify({ prompt: words.slice(at, at + 40).join(' '), max_tokens: maxTokens, temperature: 0,
                          ignore_eos: true });
};
const get = path => new Promise(resolve => http.get(new URL(path, base), res => {
  let d = '';
  res.on('data', c => { d += c; });
  res.on('end', () => resolve(d));
}));
const metric = (text, name) => {
  const m = text.match(new RegExp('^' + name.replace(/[{}"=]/g, '\\$&') + ' (\\S+)$', 'm'));
  return m ? Number(m[1]) : NaN;
};
(async () => {
  const before = await get('/metrics');
  const r = await run(base, clients, per, bodyOf);
  const after = await get('/metrics');
  const d = n => metric(after, n) - metric(before, n);
  const steps = d('adaptive_k_batch_steps_total');
  delete r.wall_s;
  console.log(JSON.stringify(Object.assign(r, {
    requests_per_pass: +(d('adaptive_k_batch_sequences_total') / steps).toFixed(2),
    expert_mib_per_pass: +(d('adaptive_k_batch_expert_bytes_total{routing="chosen"}') / steps / 1048576).toFixed(2),
    native_mib_per_pass: +(d('adaptive_k_batch_expert_bytes_total{routing="native"}') / steps / 1048576).toFixed(2) })));
})();

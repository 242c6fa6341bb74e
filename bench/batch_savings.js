// batch_savings.js BASE_URL CLIENTS REQUESTS_PER_CLIENT MAX_TOKENS TEXT_FILE - CLIENTS
// concurrent clients each send their requests one after another, every request with its
// own prompt (40 words from its own place in TEXT_FILE, so that requests route
// differently), temperature 0; then reads the server's batch metrics. Prints one JSON line:
// tokens/s, latency p50/p99, mean requests per forward pass, and expert bytes read per
// pass with the routing used and with the native top-k (each expert once per pass).
'use strict';
const http = require('http');
const fs = require('fs');
const [base, clients, per, maxTokens, textFile] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5],
                                                   process.argv[6]];
const words = fs.readFileSync(textFile, 'utf8').split(/\s+/).filter(w => w);
const lat = [];
let tokens = 0, failures = 0, next = 0;
function get(path) {
  return new Promise(resolve => http.get(new URL(path, base), res => {
    let d = '';
    res.on('data', c => { d += c; });
    res.on('end', () => resolve(d));
  }));
}
function one() {
  const at = (next++ * 397) % (words.length - 40);
  const body = JSON.stringify({ prompt: words.slice(at, at + 40).join(' '), max_tokens: maxTokens, temperature: 0,
                                ignore_eos: true });
  return new Promise(resolve => {
    const t0 = process.hrtime.bigint();
    const req = http.request(new URL('/v1/completions', base), { method: 'POST',
                             headers: { 'Content-Type': 'application/json' } }, res => {
      let d = '';
      res.on('data', c => { d += c; });
      res.on('end', () => {
        lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        try { tokens += JSON.parse(d).usage.completion_tokens; } catch (e) { failures++; }
        if (res.statusCode !== 200) failures++;
        resolve();
      });
    });
    req.on('error', () => { failures++; resolve(); });
    req.end(body);
  });
}
const metric = (text, name) => { const m = text.match(new RegExp('^' + name.replace(/[{}"=]/g, '\\$&') + ' (\\S+)$', 'm'));
                                 return m ? Number(m[1]) : NaN; };
(async () => {
  const before = await get('/metrics');
  const t0 = Date.now();
  await Promise.all(Array.from({ length: clients }, async () => { for (let i = 0; i < per; i++) await one(); }));
  const wall = (Date.now() - t0) / 1000;
  const after = await get('/metrics');
  const d = n => metric(after, n) - metric(before, n);
  const steps = d('adaptive_k_batch_steps_total');
  lat.sort((a, b) => a - b);
  const q = p => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
  console.log(JSON.stringify({ clients, requests: clients * per, failures, tokens, tokens_per_s: +(tokens / wall).toFixed(1),
    p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1),
    requests_per_pass: +(d('adaptive_k_batch_sequences_total') / steps).toFixed(2),
    expert_mib_per_pass: +(d('adaptive_k_batch_expert_bytes_total{routing="chosen"}') / steps / 1048576).toFixed(2),
    native_mib_per_pass: +(d('adaptive_k_batch_expert_bytes_total{routing="native"}') / steps / 1048576).toFixed(2) }));
})();

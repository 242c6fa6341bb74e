// load_serve.js BASE_URL CLIENTS REQUESTS_PER_CLIENT MAX_TOKENS - an OpenAI-compatible
// server under CLIENTS concurrent clients, each sending its requests one after another
// (POST /v1/completions, the same prompt, temperature 0, max_tokens tokens, and
// "ignore_eos" so every request generates them all on llama-server too). Prints one JSON
// line: requests, completion tokens, wall seconds, tokens/s, latency p50/p99 (ms).
'use strict';
const http = require('http');
const [base, clients, per, maxTokens] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const url = new URL('/v1/completions', base);
const body = JSON.stringify({ prompt: 'The Congress of the United States', max_tokens: maxTokens, temperature: 0,
                              ignore_eos: true });
const lat = [];
let tokens = 0, failures = 0;
function one() {
  return new Promise(resolve => {
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, res => {
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
async function client() { for (let i = 0; i < per; i++) await one(); }
const w0 = process.hrtime.bigint();
Promise.all(Array.from({ length: clients }, client)).then(() => {
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  lat.sort((a, b) => a - b);
  const q = p => lat[Math.min(lat.length - 1, Math.floor(p * (lat.length - 1) + 0.5))];
  console.log(JSON.stringify({ clients, requests: lat.length, failures, tokens, wall_s: +wall.toFixed(3),
                               tokens_per_s: +(tokens / wall).toFixed(1), p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1) }));
});

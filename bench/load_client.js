// load_client.js - the load generator of bench/load_serve.js and bench/batch_savings.js:
// CLIENTS concurrent clients against an OpenAI-compatible server, each sending its
// requests one after another (POST /v1/completions, the body bodyOf(i) for request i).
// Resolves to requests, failures, completion tokens, wall seconds, tokens/s and latency
// p50/p99 (ms).
'use strict';
const http = require('http');

function one(url, body, st) {
  return new Promise(resolve => {
    const t0 = process.hrtime.bigint();
    const req = http.request(url, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, res => {
      let d = '';
      res.on('data', c => { d += c; });
      res.on('end', () => {
        st.lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
        try { st.tokens += JSON.parse(d).usage.completion_tokens; } catch (e) { st.failures++; }
        if (res.statusCode !== 200) st.failures++;
        resolve();
      });
    });
    req.on('error', () => { st.failures++; resolve(); });
    req.end(body);
  });
}

async function run(base, clients, per, bodyOf) {
  const url = new URL('/v1/completions', base);
  const st = { lat: [], tokens: 0, failures: 0 };
  let next = 0;
  const w0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let i = 0; i < per; i++) await one(url, bodyOf(next++), st);
  }));
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  const lat = st.lat.sort((a, b) => a - b);
  const q = p => lat[Math.min(lat.length - 1, Math.floor(p * (lat.length - 1) + 0.5))];
  return { clients, requests: lat.length, failures: st.failures, tokens: st.tokens, wall_s: +wall.toFixed(3),
           tokens_per_s: +(st.tokens / wall).toFixed(1), p50_ms: +q(0.5).toFixed(1), p99_ms: +q(0.99).toFixed(1) };
}

module.exports = { run };

// faults.js PORT PHASE - misbehaving clients against a running server (test_serve_faults.sh).
// PHASE "clients": slow headers and body (a byte at a time), clients that disconnect in
//   the middle of a stream, 500 idle connections held open while normal requests must
//   still succeed; prints "ok" lines, exits 1 on the first failure.
// PHASE "term": starts streaming and plain requests, prints READY when they are running
//   (the shell then sends SIGTERM), and checks each one ends: a complete response, or an
//   error, never a hang; requests sent after SIGTERM are refused or answered 503.
'use strict';
const net = require('net');
const port = +process.argv[2], phase = process.argv[3];
const sleep = ms => new Promise(r => setTimeout(r, ms));
const fail = msg => { console.error('FAIL: ' + msg); process.exit(1); };

function request(body, { path = '/v1/completions', slow = 0, timeoutMs = 60000 } = {}) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => { s.destroy(); resolve({ status: 0, body: data, timeout: true }); }, timeoutMs);
    s.on('data', d => { data += d; });
    s.on('error', e => { clearTimeout(t); resolve({ status: 0, body: data, error: e.code }); });
    s.on('close', () => {
      clearTimeout(t);
      const m = /^HTTP\/1\.[01] (\d+)/.exec(data);
      resolve({ status: m ? +m[1] : 0, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    const msg = `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
                `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
    if (!slow) { s.write(msg); return; }
    (async () => { for (const ch of Buffer.from(msg)) { if (s.destroyed) return; s.write(Buffer.from([ch])); await sleep(slow); } })();
  });
}

function okCompletion(r, what) {
  if (r.status !== 200) fail(`${what}: status ${r.status} ${r.error || ''} ${r.body.slice(0, 200)}`);
  const d = JSON.parse(r.body);
  if (!d.choices || !(d.usage.completion_tokens >= 1)) fail(`${what}: no completion in ${r.body.slice(0, 200)}`);
}

// Reads a stream until the first content chunk, then drops the connection.
function streamAndDrop() {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const body = '{"prompt":"The Congress","max_tokens":400,"stream":true}';
    s.write(`POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    let data = '';
    s.on('data', d => { data += d; if (data.includes('data: {')) { s.destroy(); resolve(true); } });
    s.on('error', () => resolve(false));
    s.on('close', () => resolve(data.includes('data: {')));
    setTimeout(() => { s.destroy(); resolve(false); }, 30000);
  });
}

async function clients() {
  const plain = '{"prompt":"The Congress","max_tokens":4,"temperature":0}';
  okCompletion(await request(plain, { slow: 2 }), 'headers and body a byte at a time');
  console.log('ok slow client');
  for (let i = 0; i < 8; i++) if (!(await streamAndDrop())) fail('stream did not start before the disconnect');
  okCompletion(await request(plain), 'a request after 8 dropped streams');
  console.log('ok 8 clients dropped mid-stream, the next request served');
  const idle = [];
  for (let i = 0; i < 500; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    if (i % 2) s.on('connect', () => s.write('POST /v1/completions HTTP/1.1\r\nHost: x\r\n')); /* half send a partial header */
    idle.push(s);
  }
  await sleep(1500);
  const open = idle.filter(s => !s.destroyed && s.readyState === 'open').length;
  const t0 = Date.now();
  const rs = await Promise.all([request(plain), request(plain), request('{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3}', { path: '/v1/chat/completions' })]);
  rs.forEach((r, i) => okCompletion(r, `request ${i} with ${open} idle connections open`));
  console.log(`ok idle_connections_do_not_block_requests: 3 requests served in ${Date.now() - t0} ms with ${open} of 500 idle connections open`);
  if (open < 500) fail(`only ${open} of 500 idle connections stayed open`);
  idle.forEach(s => s.destroy());
}

async function term() {
  const long = '{"prompt":"The Congress","max_tokens":400,"temperature":0.9,"seed":1}';
  const inflight = [], ended = [];
  const track = p => p.then(r => { r.t = Date.now(); return r; });
  for (let i = 0; i < 4; i++) inflight.push(track(request(long, { timeoutMs: 120000 })));
  for (let i = 0; i < 4; i++) inflight.push(track(request(long.replace('}', ',"stream":true}'), { timeoutMs: 120000 })));
  await sleep(300);
  console.log('READY');
  const tTerm = Date.now();
  await sleep(300); // SIGTERM arrives now
  const after = await request('{"prompt":"late","max_tokens":2}', { timeoutMs: 20000 });
  if (!(after.status === 0 || after.status === 503)) fail(`a request after SIGTERM got ${after.status}`);
  console.log(`ok request after SIGTERM: ${after.status ? 'status 503' : 'connection refused'}`);
  const rs = await Promise.all(inflight);
  rs.forEach((r, i) => {
    if (r.timeout) fail(`in-flight request ${i} hung`);
    if (r.status !== 200 && r.status !== 503) fail(`in-flight request ${i}: status ${r.status}`);
  });
  const late = rs.filter(r => r.t > tTerm).length;
  if (late === 0) fail('every request ended before SIGTERM: the test did not exercise a shutdown in flight');
  console.log(`ok in-flight requests (${late} of ${rs.length} ended after SIGTERM): ` + rs.map(r => r.status).join(' '));
}

(phase === 'clients' ? clients() : term()).then(() => process.exit(0), e => fail(e.stack));

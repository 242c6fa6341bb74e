// load_serve.js BASE_URL CLIENTS REQUESTS_PER_CLIENT MAX_TOKENS - an OpenAI-compatible
// server under CLIENTS concurrent clients, each sending its requests one after another
// (POST /v1/completions, the same prompt, temperature 0, max_tokens tokens, and
// "ignore_eos" so every request generates them all on llama-server too). Prints one JSON
// line: requests, completion tokens, wall seconds, tokens/s, latency p50/p99 (ms).
'use strict';
const { run } = require('./load_client.js');
const [base, clients, per, maxTokens] = [process.argv[2], +process.argv[3], +process.argv[4], +process.argv[5]];
const body = JSON.stringify({ prompt: 'The Congress of the United States', max_tokens: maxTokens, temperature: 0,
                              ignore_eos: true });
run(base, clients, per, () => body).then(r => console.log(JSON.stringify(r)));

// test_serve_openai.js BASE_URL SDK_DIR - the server through the official openai SDK:
// models, completions and chat (plain and streamed; streamed text = plain text under
// greedy decoding), per-request routing as an extra body field, and a 400 as a typed error.
const [base, sdkDir] = process.argv.slice(2);
const OpenAI = require(sdkDir + "/node_modules/openai");
const client = new OpenAI({ baseURL: base + "/v1", apiKey: "unused", maxRetries: 0, timeout: 60000 });
let failed = 0;
function check(name, cond) {
  if (!cond) { console.error("FAIL: " + name); failed = 1; }
}

(async () => {
  const models = await client.models.list();
  const ids = models.data.map((m) => m.id);
  check("models.list", ids.includes("olmoe-sotu-f16"));
  const model = ids[0];
  const one = await client.models.retrieve(model);
  check("models.retrieve", one.id === model && one.object === "model");
  try {
    await client.models.retrieve("no-such-model");
    check("unknown model raises", false);
  } catch (e) {
    check("unknown model is a NotFoundError", e instanceof OpenAI.NotFoundError && e.status === 404);
  }

  const c = await client.completions.create({ model, prompt: "The Congress", max_tokens: 10, temperature: 0 });
  check("completion text", typeof c.choices[0].text === "string" && c.choices[0].text.length > 0);
  check("completion usage", c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens && c.usage.avg_k === 4);

  let streamed = "";
  const cs = await client.completions.create({ model, prompt: "The Congress", max_tokens: 10, temperature: 0, stream: true });
  for await (const chunk of cs) streamed += chunk.choices[0]?.text ?? "";
  check("streamed completion = completion", streamed === c.choices[0].text);

  const messages = [{ role: "user", content: "What of the revenue?" }];
  const chat = await client.chat.completions.create({ model, messages, max_tokens: 10, temperature: 0 });
  check("chat message", chat.object === "chat.completion" && chat.choices[0].message.role === "assistant");
  let deltas = "", finish = null;
  const stream = await client.chat.completions.create({ model, messages, max_tokens: 10, temperature: 0, stream: true });
  for await (const chunk of stream) {
    if (!chunk.choices.length) continue;
    deltas += chunk.choices[0].delta.content ?? "";
    if (chunk.choices[0].finish_reason) finish = chunk.choices[0].finish_reason;
  }
  check("streamed chat = chat", deltas === chat.choices[0].message.content);
  check("streamed chat finish_reason", finish === "stop" || finish === "length");

  // routing per request: unknown parameters pass through the SDK into the body
  const r = await client.completions.create({ model, prompt: "The", max_tokens: 4, adaptive_k: { policy: "fixed", k: 2 } });
  check("adaptive_k through the SDK", r.usage.avg_k === 2 && r.usage.compute_saved === 0.5);

  try {
    await client.completions.create({ model, prompt: "The", max_tokens: 4, adaptive_k: { policy: "fixed", k: 2, bogus: 1 } });
    check("400 raises", false);
  } catch (e) {
    check("400 is a BadRequestError", e instanceof OpenAI.BadRequestError && e.status === 400 && e.code === "unknown_field");
  }
  if (!failed) console.log("serve openai sdk: ok");
  process.exit(failed);
})().catch((e) => {
  console.error("FAIL: " + (e && e.stack ? e.stack : e));
  process.exit(1);
});

// stacking_report.js - the markdown tables of docs/stacking.md from bench/stacking.sh's CSVs:
//   node bench/stacking_report.js OUT_DIR/*.csv
// Per model and text: each adaptive row (compute used, PPL ratio, KL, same top token) beside
// the best static alternative using at most the same compute (the lowest PPL ratio among
// fixed K x fewer layers x shorter context); then the seeds' multiplicative claim: the
// compute and the PPL ratio of each combination against the product of its parts alone.
const fs = require("fs");
const rows = [];
for (const f of process.argv.slice(2)) {
  const lines = fs.readFileSync(f, "utf8").trim().split("\n");
  const head = lines[0].split(",");
  for (const l of lines.slice(1)) {
    const v = l.split(","), r = {};
    head.forEach((h, i) => (r[h] = isNaN(Number(v[i])) || v[i] === "" ? v[i] : Number(v[i])));
    rows.push(r);
  }
}
const groups = {};
for (const r of rows) (groups[r.model + " / " + r.text] ||= []).push(r);
const pct = x => x.toFixed(1) + "%";
const rat = r => `${r.ratio.toFixed(4)} ± ${r.ratio_err.toFixed(4)}`;
const out = [];
for (const [name, g] of Object.entries(groups)) {
  const by = Object.fromEntries(g.map(r => [r.row, r]));
  const statics = g.filter(r => r.kind === "static");
  const native = by.native;
  out.push(`### ${name}`, "",
    `Native: PPL ${native.ppl.toFixed(3)} ± ${native.ppl_err.toFixed(3)}. Compute = whole-model MACs per token against native (each saving counted once).`, "",
    "| run | avg K | layers/token | pruned | compute | PPL ratio | KLD | same top | best static at <= compute | its compute | its PPL ratio | adaptive better? |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|");
  for (const r of g.filter(r => r.kind === "adaptive")) {
    const cands = statics.filter(s => s.used <= r.used + 1e-9).sort((a, b) => a.ratio - b.ratio);
    const best = cands[0];
    let verdict = "no static that cheap";
    if (best) {
      const d = r.ratio - best.ratio, e = Math.hypot(r.ratio_err, best.ratio_err);
      verdict = d < -2 * e ? "yes" : d > 2 * e ? "no" : "tie (within 2 sigma)";
    }
    out.push(`| ${r.row} | ${r.avg_k.toFixed(2)} | ${Number(r.layers).toFixed(2)} | ${r.pruned} | ${pct(r.used)} | ${rat(r)} | ${r.kld.toFixed(4)} | ${r.same_top.toFixed(1)}% | ` +
      (best ? `${best.row.replace("static-", "")} | ${pct(best.used)} | ${rat(best)} | ${verdict}` : `- | - | - | ${verdict}`) + " |");
  }
  out.push("", "Combinations against the product of their parts (the seeds' multiplicative claim):", "",
    "| combination | compute measured | product of parts | PPL ratio measured | product of parts |", "|---|---:|---:|---:|---:|");
  for (const r of g.filter(r => r.row.includes("+"))) {
    const parts = r.row.split("+").map(p => by[p]);
    if (parts.some(p => !p)) continue;
    const used = parts.reduce((a, p) => a * p.used / 100, 1) * 100, ratio = parts.reduce((a, p) => a * p.ratio, 1);
    out.push(`| ${r.row} | ${pct(r.used)} | ${pct(used)} | ${r.ratio.toFixed(4)} | ${ratio.toFixed(4)} |`);
  }
  out.push("");
}
console.log(out.join("\n"));

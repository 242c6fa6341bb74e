"""summary.py - the summary `adaptive-k route` prints (tools/route_stats.c), from the
decisions route() returns, character for character: per-layer average K, compute saved
against the native top-k, entropy percentiles and the share of tokens by K, then the K
histogram. Tests compare it with the CLI's output on the same logits."""
import math

import numpy as np

MAX_COLUMNS = 10


def _percentiles(entropy, qs):
    """Linear interpolation between order statistics of the float32 values, in double (as
    route_stats.c, numpy's default method)."""
    v = np.sort(np.asarray(entropy, np.float32).ravel()).astype(np.float64)
    n = v.size
    out = []
    for q in qs:
        pos = q * (n - 1)
        lo = int(math.floor(pos))
        if lo >= n - 1:
            out.append(v[n - 1])
        else:
            out.append(v[lo] + (pos - lo) * (v[lo + 1] - v[lo]))
    return out


def _columns(hist_all, n_experts):
    """The distinct K chosen, or equal-width ranges of K when there are more than MAX_COLUMNS."""
    chosen = [k for k in range(n_experts + 1) if hist_all[k]]
    if len(chosen) <= MAX_COLUMNS:
        return [(k, k) for k in chosen]
    kmin, kmax = chosen[0], chosen[-1]
    width = (kmax - kmin + MAX_COLUMNS) // MAX_COLUMNS
    cols = []
    for lo in range(kmin, kmax + 1, width):
        hi = min(lo + width - 1, kmax)
        if hist_all[lo:hi + 1].sum():
            cols.append((lo, hi))
    return cols


def _label(col):
    return "K=%d" % col[0] if col[0] == col[1] else "K=%d-%d" % col


def format_route_summary(k, entropy, n_experts, k_native):
    """k, entropy: [layers, tokens] (or [tokens]) as route(..., return_entropy=True) returns."""
    k = np.asarray(k).reshape((-1, np.shape(k)[-1]))
    entropy = np.asarray(entropy, np.float32).reshape(k.shape)
    n_layers, n_tokens = k.shape
    hist = np.stack([np.bincount(k[l], minlength=n_experts + 1) for l in range(n_layers)]).astype(np.int64)
    hist_all = hist.sum(axis=0)
    cols = _columns(hist_all, n_experts)
    lines = ["", "  %5s  %6s  %7s  %-17s  |  share of tokens by K" % ("layer", "avg K", "saved", "entropy (nats)"),
             "  %5s  %6s  %7s  %5s %5s %5s  |" % ("", "", "", "p10", "p50", "p90")
             + "".join(" %8s" % _label(c) for c in cols)]

    def row(name, h, ent, total):
        avg = float((h * np.arange(n_experts + 1)).sum()) / float(h.sum()) if h.sum() else 0.0
        p = _percentiles(ent, (0.10, 0.50, 0.90))
        text = "  %5s  %6.3f  %6.1f%%  %5.2f %5.2f %5.2f  |" % (name, avg, 100.0 * (1.0 - avg / k_native), *p)
        return text + "".join(" %7.1f%%" % (100.0 * h[c[0]:c[1] + 1].sum() / total) for c in cols)

    for l in range(n_layers):
        lines.append(row("%d" % l, hist[l], entropy[l], n_tokens))
    if n_layers > 1:
        lines.append(row("all", hist_all, entropy, n_tokens * n_layers))
    total = n_tokens * n_layers
    counts = [int(hist_all[c[0]:c[1] + 1].sum()) for c in cols]
    most = max([1] + counts)
    lines += ["", "  K histogram, %s (%d routing decisions):" % ("all layers" if n_layers > 1 else "the layer", total)]
    for c, n in zip(cols, counts):
        bar = (n * 40 + most // 2) // most if n else 0
        if n and not bar:
            bar = 1
        lines.append("  %8s %8d %6.1f%%  " % (_label(c), n, 100.0 * n / total) + "#" * bar)
    avg = float((hist_all * np.arange(n_experts + 1)).sum()) / total
    saved = 1.0 - avg / k_native
    tail = ("%.1f%% of the routed-expert FFN compute saved" % (100.0 * saved) if saved >= 0 else
            "%.1f%% MORE routed-expert FFN compute than top-%d" % (-100.0 * saved, k_native))
    lines += ["", "  average K %.3f vs native top-%d: %s" % (avg, k_native, tail),
              "  (entropy of a uniform router over %d experts: ln %d = %.3f nats)" % (
                  n_experts, n_experts, math.log(n_experts))]
    return "\n".join(lines) + "\n"

/*
 * adaptivek.h - libadaptivek, the routing core of adaptive-k.
 *
 * A dependency-free C11 library that decides, per token and per MoE layer, how many
 * experts to run and which ones. Any engine can embed it through this one header.
 *
 *   router logits [n_tokens][n_experts]  --softmax-->  p  --policy-->  K, ids, weights
 *
 * Conventions
 *   - Logits are float32, row-major [n_tokens][n_experts], 1 <= n_experts <= AK_MAX_EXPERTS.
 *   - Entropy is always computed in nats; thresholds may be given in nats, bits, or
 *     normalised by ln(n_experts) (see ak_entropy_unit) and are converted internally.
 *   - Expert ids of a token come in descending probability; unused slots hold -1 and weight 0.
 *   - Routing (ak_route, ak_select_k, ak_softmax_entropy) never allocates. Allocation happens
 *     only in config loading/saving/layers and calibration (temporary buffers). Every function
 *     that can fail returns ak_status and, when err != NULL, fills err->msg.
 *   - Order: experts are ranked by router logit, i.e. by probability (without ties that
 *     float rounding of exp can create between different logits); equal logits go to the
 *     lower expert id first.
 *   - Thread safety: no global state (beyond a once-detected CPU feature); functions may be
 *     called concurrently on different outputs.
 */
#ifndef ADAPTIVEK_H
#define ADAPTIVEK_H

#include <stddef.h>
#include <stdint.h>

/* The shared library (libadaptivek.so) is built with hidden visibility: what this header
 * declares is its whole ABI; the files' internal helpers stay private. */
#if defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define AK_VERSION "0.1.0"
#define AK_MAX_EXPERTS 1024
#define AK_MAX_LEVELS 16 /* most K levels an entropy policy can have */

typedef enum {
    AK_OK = 0,
    AK_ERR_INVALID_ARG,  /* a NULL pointer, zero tokens, n_experts out of range ... */
    AK_ERR_NONFINITE,    /* NaN or Inf in the logits */
    AK_ERR_CONFIG,       /* an invalid policy or router config */
    AK_ERR_JSON,         /* malformed JSON or a JSON value of the wrong type */
    AK_ERR_IO,           /* a file could not be read or written */
    AK_ERR_NOMEM,
    AK_ERR_FORMAT,       /* a malformed or unsupported file: GGUF, model shapes, vocabulary */
} ak_status;

typedef struct {
    ak_status code;
    char msg[512]; /* room for a path and what went wrong with it */
} ak_error;

const char *ak_status_str(ak_status s);

/* ---------------------------------------------------------------- gate and entropy */

typedef enum {
    AK_ENTROPY_NATS = 0,
    AK_ENTROPY_BITS,       /* H / ln 2 */
    AK_ENTROPY_NORMALIZED, /* H / ln(n_experts), in [0, 1] */
} ak_entropy_unit;

/* Numerically stable softmax of one row (log-sum-exp). Returns the entropy in nats,
 * computed from the log-sum-exp without a log per expert:
 *   H = lse - sum_i p_i * z_i.
 * probs may alias logits. Returns AK_ERR_NONFINITE on NaN/Inf input. */
ak_status ak_softmax_entropy(const float *logits, int n_experts, float *probs, float *entropy_nats,
                             ak_error *err);

/* log p[id] of the softmax of a row of any length (a vocabulary's logits, say), with the
 * same vectorised kernel; scratch holds n floats. Gaps below the row's maximum are floored
 * at 80 nats (as in routing), so a token 80 nats or more below the best reads about -80 -
 * ln(sum). The sums are float: within 1e-4 nats of the double result on a 50k vocabulary.
 * NaN when the row holds a NaN or an Inf, or id is out of range. */
float ak_log_softmax_at(const float *logits, int n, int id, float *scratch);

/* Convert an entropy in nats to the given unit, or back. */
float ak_entropy_to_unit(float h_nats, ak_entropy_unit unit, int n_experts);
float ak_entropy_from_unit(float h, ak_entropy_unit unit, int n_experts);

/* ---------------------------------------------------------------- policies */

typedef enum {
    AK_POLICY_FIXED = 0, /* top-k */
    AK_POLICY_ENTROPY,   /* thresholds on router entropy map H to k (the seeds' method) */
    AK_POLICY_TOP_P,     /* smallest prefix of sorted p whose sum reaches top_p */
    AK_POLICY_RATIO,     /* keep rank i if p_i >= ratio * p_0 (dynamic skipping) */
    AK_POLICY_THRESHOLD, /* keep rank i if p_i >= p_min (an absolute probability) */
} ak_policy_kind;

typedef struct {
    ak_policy_kind kind;
    /* fixed */
    int k;
    /* entropy: n_levels k values (strictly ascending) and n_levels-1 thresholds
     * (strictly ascending, in `unit`). H < thresholds[0] -> k_values[0];
     * thresholds[i-1] <= H < thresholds[i] -> k_values[i]; H >= last -> last k. */
    int n_levels;
    int k_values[AK_MAX_LEVELS];
    float thresholds[AK_MAX_LEVELS - 1];
    ak_entropy_unit unit;
    /* top-p, ratio and threshold: parameter and clamp [k_min, k_max] */
    float top_p;
    float ratio;
    float p_min;
    int k_min;
    int k_max;
} ak_policy;

/* Constructors that fill every field (no validation beyond what they can check). */
ak_policy ak_policy_fixed(int k);
ak_policy ak_policy_entropy(int n_levels, const int *k_values, const float *thresholds,
                            ak_entropy_unit unit);
ak_policy ak_policy_entropy_default(void); /* seeds: k = {1,2,4}, h = {0.6, 1.2} nats */
ak_policy ak_policy_top_p(float p, int k_min, int k_max);
ak_policy ak_policy_ratio(float r, int k_min, int k_max);
ak_policy ak_policy_threshold(float p_min, int k_min, int k_max);

/* Checks a policy against an expert count: k in 1..n_experts, k_values ascending,
 * thresholds ascending and finite, 0 < p <= 1, 0 < r <= 1, 1 <= k_min <= k_max <= n_experts. */
ak_status ak_policy_validate(const ak_policy *p, int n_experts, ak_error *err);

/* The largest K the policy can choose: the number of id/weight slots per token. */
int ak_policy_max_k(const ak_policy *p, int n_experts);

/* "fixed", "entropy", "top-p", "ratio", "threshold" */
const char *ak_policy_kind_name(ak_policy_kind kind);
int ak_policy_kind_parse(const char *name, ak_policy_kind *kind); /* 0 on success */
/* Human-readable one-line description, e.g. "entropy k={1,2,4} h={0.6,1.2} nats". */
void ak_policy_describe(const ak_policy *p, char *buf, size_t len);

/* ---------------------------------------------------------------- routing */

typedef struct {
    int n_tokens;  /* capacity in tokens (0: unchecked); ak_stats_add reads this many */
    int slots;     /* ids/weights per token (>= the policy's max K) */
    int *k;        /* [n_tokens] chosen K */
    int32_t *ids;  /* [n_tokens][slots], descending probability, -1 unused */
    float *weights;/* [n_tokens][slots], 0 unused */
    float *entropy;/* [n_tokens] entropy in nats (may be NULL if not wanted) */
} ak_route_out;

/* Route a batch of tokens through one layer's policy.
 * renormalize != 0: weights of the chosen experts are rescaled to sum to 1 (Mixtral,
 * Qwen3-MoE, Qwen2-MoE with norm_topk_prob); renormalize == 0: weights are the softmax
 * probabilities over all experts (OLMoE, Qwen1.5/Qwen2-MoE default).
 * Errors: zero tokens, out->slots < ak_policy_max_k, out->n_tokens (when not 0) < n_tokens,
 * invalid policy, NaN/Inf logits (err->msg names the token and expert; tokens before it
 * are already written). Allocation-free. Probabilities below ~1e-35 (logit gap > 80) are
 * floored there rather than underflowing. */
ak_status ak_route(const ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                   int renormalize, ak_route_out *out, ak_error *err);

/* The same for IEEE binary16 logits (NumPy float16, torch.float16), [n_tokens][n_experts]:
 * each row is widened exactly to float32 and routed as ak_route would route it, so the
 * decisions equal ak_route's on the widened values. Allocation-free. */
ak_status ak_route_f16(const ak_policy *policy, const uint16_t *logits, int n_tokens, int n_experts,
                       int renormalize, ak_route_out *out, ak_error *err);

/* Select K for one token from its sorted probabilities and entropy; exposed for engines
 * that compute the softmax themselves. sorted_p: descending; only the first
 * min(k_max, n_experts) entries are read (none for fixed and entropy policies).
 * top-p stops at the first prefix whose sum reaches top_p * (1 - 1e-6). */
int ak_select_k(const ak_policy *policy, const float *sorted_p, int n_experts, float entropy_nats);

/* ---------------------------------------------------------------- router config (per model) */

typedef struct {
    char name[64];          /* e.g. "olmoe-1b-7b" */
    char provenance[256];   /* where the numbers come from */
    int n_experts;
    int k_native;           /* the model's own top-k */
    int renormalize;        /* weight normalisation the architecture uses */
    int n_layers;           /* 0: one policy for all layers */
    ak_policy default_policy;
    ak_policy *layers;      /* [n_layers] or NULL */
} ak_router_config;

/* A config with one policy for every layer (no per-layer entries, empty name). */
ak_router_config ak_config_uniform(int n_experts, int k_native, int renormalize, ak_policy policy);
/* Policy for a layer (the per-layer one if present, otherwise the default). */
const ak_policy *ak_config_layer_policy(const ak_router_config *c, int layer);
ak_status ak_config_validate(const ak_router_config *c, ak_error *err);
/* Allocates c->layers for n_layers copies of the default policy. */
ak_status ak_config_set_layers(ak_router_config *c, int n_layers, ak_error *err);
void ak_config_free(ak_router_config *c); /* frees c->layers only */

/* JSON (schema in docs/router-config.md). Strict: unknown policy names, wrong types,
 * missing required fields and trailing garbage are AK_ERR_JSON with the position. */
ak_status ak_config_from_json(const char *json, size_t len, ak_router_config *c, ak_error *err);
ak_status ak_config_load(const char *path, ak_router_config *c, ak_error *err);
/* Writes JSON into a malloc'd string (*out, caller frees). */
ak_status ak_config_to_json(const ak_router_config *c, char **out, ak_error *err);
ak_status ak_config_save(const char *path, const ak_router_config *c, ak_error *err);

/* Presets for the models the seeds name; each with its real expert count and native top-k
 * (docs/router-config.md). ak_preset_get overwrites *c (n_layers 0, layers NULL). */
int ak_preset_count(void);
const char *ak_preset_name(int i);
ak_status ak_preset_get(const char *name, ak_router_config *c, ak_error *err);

/* The largest K any of the config's policies (default and per-layer) can choose, not
 * clamped to n_experts: the baseline top-k when neither the user nor the config gives one. */
int ak_config_max_k(const ak_router_config *c);

/* ---------------------------------------------------------------- policy specifications */

/* A policy as a user states it: the CLI's routing flags, an HTTP request's "adaptive_k"
 * object and the server's A/B variants each only fill one (syntax), and the rules that turn
 * it into policies live here (docs/router-config.md, "Policy specifications"):
 *   - kind: given, else implied by the parameters (k: fixed; k_values, thresholds, unit:
 *     entropy; top_p: top-p; ratio: ratio), else the policy's own kind. Parameters of two
 *     kinds, or of another kind than the given one, are an error.
 *   - a policy of another kind starts from that kind's defaults: fixed k (or the config's
 *     k_native), the seeds' entropy policy, top-p / ratio over 1..n_experts.
 *   - unit without thresholds keeps the thresholds' meaning (converted); k_values with a new
 *     level count need thresholds, unless calibration will fit them (fit).
 *   - k_min / k_max apply to top-p and ratio only. */
typedef struct {
    const char *kind, *k, *k_values, *thresholds, *unit, *top_p, *ratio, *k_min, *k_max;
} ak_policy_spec_names;

#define AK_FIT_THRESHOLDS 1 /* an entropy policy may come without thresholds (placeholders) */
#define AK_FIT_PARAM 2      /* top-p / ratio may come without p / r (placeholder 0.5) */

typedef struct {
    int has_kind;
    ak_policy_kind kind;
    int has_k, k;
    int n_k_values;   /* 0: not given */
    int k_values[AK_MAX_LEVELS];
    int n_thresholds; /* -1: not given; 0: none (placeholders when fit allows) */
    float thresholds[AK_MAX_LEVELS - 1];
    int has_unit;
    ak_entropy_unit unit;
    int has_top_p;
    float top_p;
    int has_ratio;
    float ratio;
    int has_k_min, k_min;
    int has_k_max, k_max;
    int fit; /* AK_FIT_* : what calibration will set afterwards */
    /* how the syntax spells each field, for messages; NULL: the router-config JSON names
     * ("kind", "k", "k_values", "thresholds", "unit", "top_p", "ratio", "k_min", "k_max") */
    const ak_policy_spec_names *names;
} ak_policy_spec;

void ak_policy_spec_init(ak_policy_spec *s); /* nothing given */

/* Parses an entropy unit name: "nats", "bits" or "normalized"; 0 on success. */
int ak_entropy_unit_parse(const char *name, ak_entropy_unit *unit);

/* Applies the spec to one policy (rules above) and validates it against n_experts.
 * k_native: the K of a fixed policy the spec gives no k for (0: k is required). */
ak_status ak_policy_spec_apply(const ak_policy_spec *s, int n_experts, int k_native, ak_policy *p,
                               ak_error *err);

/* Applies the spec to the config's default and per-layer policies (c->n_experts, with
 * c->k_native for a fixed policy without k), validates them and the config, and sets
 * k_native to ak_config_max_k when it is 0. Messages name the policy ("invalid policy for
 * layer 3 'fixed k=9': ..."). On failure the policies may be partly changed. */
ak_status ak_config_apply_spec(ak_router_config *c, const ak_policy_spec *s, ak_error *err);

/* The smallest K the policy can choose (fixed k, the first k_values entry, or k_min). */
int ak_policy_min_k(const ak_policy *p);

/* ---------------------------------------------------------------- calibration */

/* Calibrate one policy so that its average K over the sample hits target_avg_k.
 *   entropy: keeps k_values and scales the thresholds by one factor s > 0 (shape kept)
 *            found by bisection; if the policy has no thresholds yet, quantiles are used.
 *   top-p:   bisection on p.   ratio: bisection on r.   fixed: error.
 * logits: [n_tokens][n_experts]. achieved (optional) receives the average K on the sample.
 * Returns AK_ERR_CONFIG if the target is outside what the policy can reach on the sample
 * (the message gives the reachable range). The average K is a step function of the
 * parameter: the result is the closest achievable value. Allocates temporary buffers.
 * Method: docs/calibration.md. */
ak_status ak_calibrate_policy(ak_policy *policy, const float *logits, int n_tokens, int n_experts,
                              double target_avg_k, double *achieved, ak_error *err);

/* Same, from per-token entropies (nats) only; entropy policy only. */
ak_status ak_calibrate_entropy(ak_policy *policy, const float *entropies, int n_tokens,
                               int n_experts, double target_avg_k, double *achieved, ak_error *err);

/* Calibrate a whole model: logits per layer [n_layers][n_tokens][n_experts].
 * per_layer != 0: each layer hits the target; otherwise one parameter for all layers,
 * chosen so the average over all layers and tokens hits the target (layers keep
 * the same policy). The config must have n_layers set (ak_config_set_layers). */
ak_status ak_calibrate_config(ak_router_config *c, const float *logits, int n_layers, int n_tokens,
                              double target_avg_k, int per_layer, double *achieved, ak_error *err);

/* ---------------------------------------------------------------- statistics */

#define AK_ENTROPY_BINS 32

typedef struct {
    int n_experts;
    int k_native;
    uint64_t n_tokens;
    uint64_t k_sum;
    uint64_t k_hist[AK_MAX_EXPERTS + 1]; /* k_hist[k]: tokens that chose K = k */
    uint64_t n_entropy; /* tokens whose entropy was recorded (out->entropy != NULL) */
    double entropy_sum;
    /* histogram of normalised entropy H/ln(n_experts) in AK_ENTROPY_BINS equal bins of [0,1] */
    uint64_t entropy_hist[AK_ENTROPY_BINS];
} ak_layer_stats;

void ak_stats_init(ak_layer_stats *s, int n_experts, int k_native);
void ak_stats_add(ak_layer_stats *s, const ak_route_out *out);
void ak_stats_merge(ak_layer_stats *dst, const ak_layer_stats *src);
double ak_stats_avg_k(const ak_layer_stats *s);
double ak_stats_avg_entropy(const ak_layer_stats *s); /* nats */
/* Expert-FFN compute saved against the native top-k: 1 - avgK / k_native.
 * Negative when the policy runs more experts than the model's own top-k. */
double ak_stats_saved(const ak_layer_stats *s);
/* Entropy percentile (q in [0,1]) in nats, read from the histogram (bin midpoints). */
double ak_stats_entropy_percentile(const ak_layer_stats *s, double q);

#ifdef __cplusplus
}
#endif

#if defined(__GNUC__)
#pragma GCC visibility pop
#endif
#endif

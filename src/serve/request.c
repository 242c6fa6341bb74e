/* request.c - a POST body to a job: strict types, limits, the chat template, per-request
 * routing and A/B assignment. Unknown top-level fields are ignored (clients send many
 * OpenAI options); unknown fields inside "adaptive_k" are an error. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "serve/calib.h"
#include "serve/request.h"
#include "serve/server_state.h"
#include "serve/textutil.h"

static int bad(ak_req_error *e, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int bad(ak_req_error *e, int status, const char *code, const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = "invalid_request_error";
    e->code = code;
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

/* The field if present and not null; *ok = 0 (error set) when it has the wrong type. */
static const cJSON *field(const cJSON *o, const char *name) {
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return f && !cJSON_IsNull(f) ? f : NULL;
}

static int get_int(const cJSON *o, const char *name, int lo, int hi, int *out, int *present, ak_req_error *e) {
    const cJSON *f = field(o, name);
    *present = 0;
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || f->valuedouble != floor(f->valuedouble))
        return bad(e, 400, "invalid_type", name, "'%s' must be an integer", name);
    if (f->valuedouble < lo || f->valuedouble > hi)
        return bad(e, 400, "invalid_value", name, "'%s' must be between %d and %d, got %.17g", name, lo, hi,
                   f->valuedouble);
    *out = (int)f->valuedouble;
    *present = 1;
    return 0;
}

static int get_num(const cJSON *o, const char *name, double lo, double hi, int lo_open, double *out, int *present,
                   ak_req_error *e) {
    const cJSON *f = field(o, name);
    *present = 0;
    if (!f) return 0;
    if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble))
        return bad(e, 400, "invalid_type", name, "'%s' must be a number", name);
    double x = f->valuedouble;
    if (x < lo || x > hi || (lo_open && x == lo))
        return bad(e, 400, "invalid_value", name, "'%s' must be in %c%g, %g], got %g", name, lo_open ? '(' : '[', lo,
                   hi, x);
    *out = x;
    *present = 1;
    return 0;
}

static int get_bool(const cJSON *o, const char *name, int *out, ak_req_error *e) {
    const cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return bad(e, 400, "invalid_type", name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(f);
    return 0;
}

static int get_string(const cJSON *o, const char *name, const char **out, ak_req_error *e) {
    const cJSON *f = field(o, name);
    *out = NULL;
    if (!f) return 0;
    if (!cJSON_IsString(f)) return bad(e, 400, "invalid_type", name, "'%s' must be a string", name);
    *out = f->valuestring;
    return 0;
}

/* ---------------------------------------------------------------- per-request routing */

static const char *const routing_fields[] = {"policy", "k", "k_values", "thresholds", "threshold_unit",
                                             "top_p", "ratio", "k_min", "k_max", "target_avg_k"};

/* How "adaptive_k" spells the policy specification's fields (for the spec's messages). */
static const ak_policy_spec_names request_names = {"policy", "k",     "k_values", "thresholds", "threshold_unit",
                                                   "top_p",  "ratio", "k_min",    "k_max"};

/* A JSON array of at most cap numbers into out (integers in lo..hi when integers != 0);
 * the count, or -1 with the error set. */
static int number_array(const cJSON *a, const char *name, int cap, int integers, int lo, int hi, double *out,
                        ak_req_error *e) {
    const char *P = "adaptive_k";
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : -1;
    if (n < (integers ? 1 : 0) || n > cap)
        return bad(e, 400, "invalid_type", P, "%s must be an array of %d to %d %s", name, integers ? 1 : 0, cap,
                   integers ? "integers" : "numbers");
    int i = 0;
    for (const cJSON *c = a->child; c; c = c->next, i++) {
        if (!cJSON_IsNumber(c) || !isfinite(c->valuedouble))
            return bad(e, 400, "invalid_type", P, "%s must hold numbers", name);
        if (integers && (c->valuedouble != floor(c->valuedouble) || c->valuedouble < lo || c->valuedouble > hi))
            return bad(e, 400, "invalid_value", P, "%s must hold integers in %d..%d", name, lo, hi);
        out[i] = c->valuedouble;
    }
    return n;
}

/* "adaptive_k" into a policy specification (syntax only: the rules are libadaptivek's,
 * ak_config_apply_spec); *target is the requested average K (0: none). */
static int routing_spec(ak_server *s, const cJSON *o, ak_policy_spec *sp, double *target, ak_req_error *e) {
    const int E = s->hp->n_expert;
    const char *P = "adaptive_k";
    if (!cJSON_IsObject(o)) return bad(e, 400, "invalid_type", P, "'adaptive_k' must be an object");
    for (const cJSON *c = o->child; c; c = c->next) {
        int known = 0;
        for (size_t i = 0; i < sizeof routing_fields / sizeof routing_fields[0]; i++)
            if (c->string && !strcmp(c->string, routing_fields[i])) known = 1;
        if (!known)
            return bad(e, 400, "unknown_field", P,
                       "unknown field '%s' in adaptive_k (allowed: policy, k, k_values, thresholds, threshold_unit, "
                       "top_p, ratio, k_min, k_max, target_avg_k)",
                       c->string ? c->string : "");
    }
    ak_policy_spec_init(sp);
    sp->names = &request_names;
    sp->has_kind = 1; /* the policy defaults to entropy; other kinds' parameters are errors */
    sp->kind = AK_POLICY_ENTROPY;
    const char *name, *unit_name;
    if (get_string(o, "policy", &name, e) || get_string(o, "threshold_unit", &unit_name, e)) return -1;
    if (name && ak_policy_kind_parse(name, &sp->kind))
        return bad(e, 400, "invalid_value", P, "adaptive_k.policy must be fixed, entropy, top-p or ratio, not '%s'",
                   name);
    if (unit_name && ak_entropy_unit_parse(unit_name, &sp->unit))
        return bad(e, 400, "invalid_value", P, "threshold_unit must be nats, bits or normalized");
    sp->has_unit = unit_name != NULL;
    int has_target;
    double top_p = 0, ratio = 0;
    if (get_int(o, "k", 1, E, &sp->k, &sp->has_k, e) || get_int(o, "k_min", 1, E, &sp->k_min, &sp->has_k_min, e) ||
        get_int(o, "k_max", 1, E, &sp->k_max, &sp->has_k_max, e) ||
        get_num(o, "target_avg_k", 1, E, 0, target, &has_target, e) ||
        get_num(o, "top_p", 0, 1, 1, &top_p, &sp->has_top_p, e) || get_num(o, "ratio", 0, 1, 1, &ratio, &sp->has_ratio, e)) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "adaptive_k.%.40s", e->param);
        snprintf(e->param, sizeof e->param, "%s", tmp);
        return -1;
    }
    sp->top_p = (float)top_p;
    sp->ratio = (float)ratio;
    if (!has_target) *target = 0;
    else if (sp->kind == AK_POLICY_FIXED)
        return bad(e, 400, "invalid_value", P, "target_avg_k applies to entropy, top-p and ratio; use k with fixed");
    else sp->fit = AK_FIT_THRESHOLDS | AK_FIT_PARAM;
    double v[AK_MAX_LEVELS];
    const cJSON *kv = field(o, "k_values"), *th = field(o, "thresholds");
    if (kv) {
        if ((sp->n_k_values = number_array(kv, "k_values", AK_MAX_LEVELS, 1, 1, E, v, e)) < 0) return -1;
        for (int i = 0; i < sp->n_k_values; i++) sp->k_values[i] = (int)v[i];
    }
    if (th) {
        if ((sp->n_thresholds = number_array(th, "thresholds", AK_MAX_LEVELS - 1, 0, 0, 0, v, e)) < 0) return -1;
        for (int i = 0; i < sp->n_thresholds; i++) sp->thresholds[i] = (float)v[i];
    }
    return 0;
}

static int parse_routing(ak_server *s, const cJSON *o, ak_router_config *cfg, ak_req_error *e) {
    const char *P = "adaptive_k";
    ak_policy_spec sp;
    double target;
    if (routing_spec(s, o, &sp, &target, e)) return -1;
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->name, sizeof cfg->name, "request");
    cfg->n_experts = s->hp->n_expert;
    cfg->k_native = s->hp->n_expert_used;
    cfg->renormalize = s->hp->renormalize;
    cfg->default_policy = ak_policy_entropy_default();
    ak_error ae = {0};
    if (ak_config_apply_spec(cfg, &sp, &ae) != AK_OK) return bad(e, 400, "invalid_value", P, "adaptive_k: %s", ae.msg);
    const ak_policy *p = &cfg->default_policy;
    int lo = ak_policy_min_k(p), hi = ak_policy_max_k(p, cfg->n_experts);
    if (lo < s->opt.min_k || hi > s->opt.max_k)
        return bad(e, 400, "routing_not_allowed", P,
                   "this policy chooses K in %d..%d; the server allows K in %d..%d (--min-k, --max-k)", lo, hi,
                   s->opt.min_k, s->opt.max_k);
    if (target > 0) {
        ak_error why;
        if (ak_calib_config(s, cfg, target, &why)) {
            ak_config_free(cfg);
            return bad(e, 400, "invalid_value", P, "adaptive_k.target_avg_k: %s", why.msg);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- prompt and chat */

static int content_text(const cJSON *c, ak_sbuf *out, ak_req_error *e) {
    if (!c) return 0;
    if (cJSON_IsString(c)) return ak_sbuf_puts(out, c->valuestring);
    if (!cJSON_IsArray(c)) return bad(e, 400, "invalid_type", "messages", "message content must be a string or an array of parts");
    for (const cJSON *part = c->child; part; part = part->next) {
        const char *type, *text;
        if (!cJSON_IsObject(part) || get_string(part, "type", &type, e) || !type || strcmp(type, "text") ||
            get_string(part, "text", &text, e) || !text)
            return bad(e, 400, "invalid_value", "messages", "content parts must be {\"type\":\"text\",\"text\":\"...\"}");
        ak_sbuf_puts(out, text);
    }
    return 0;
}

/* The chat template (docs/serving.md): "System: ...\nUser: ...\nAssistant: ...\n" and a final
 * "Assistant:"; generation stops at "\nUser:" and "\nSystem:". */
static int render_chat(const cJSON *msgs, ak_sbuf *out, ak_req_error *e) {
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) < 1)
        return bad(e, 400, "invalid_type", "messages", "'messages' must be a non-empty array");
    for (const cJSON *m = msgs->child; m; m = m->next) {
        const char *role;
        if (!cJSON_IsObject(m)) return bad(e, 400, "invalid_type", "messages", "each message must be an object");
        if (get_string(m, "role", &role, e)) return -1;
        if (!role) return bad(e, 400, "invalid_value", "messages", "each message needs a 'role'");
        const char *label = !strcmp(role, "system") || !strcmp(role, "developer") ? "System"
                            : !strcmp(role, "user")                               ? "User"
                            : !strcmp(role, "assistant")                          ? "Assistant"
                                                                                  : NULL;
        if (!label)
            return bad(e, 400, "invalid_value", "messages", "role must be system, developer, user or assistant, not '%s'",
                       role);
        ak_sbuf_printf(out, "%s: ", label);
        if (content_text(field(m, "content"), out, e)) return -1;
        ak_sbuf_puts(out, "\n");
    }
    return ak_sbuf_puts(out, "Assistant:");
}

static int add_stop(ak_job *j, const char *s, ak_req_error *e) {
    size_t n = strlen(s);
    if (n == 0 || n > AK_MAX_STOP_LEN)
        return bad(e, 400, "invalid_value", "stop", "stop strings must be 1 to %d bytes", AK_MAX_STOP_LEN);
    memcpy(j->stop[j->n_stop++], s, n + 1);
    return 0;
}

static const char *const unsupported_true[] = {"echo"};

/* The body as a JSON value (valid UTF-8, no NUL, nothing after the value), or NULL. */
static cJSON *parse_body(const char *body, size_t len, ak_req_error *e) {
    if (!ak_utf8_valid(body, len)) return bad(e, 400, "invalid_utf8", NULL, "the request body is not valid UTF-8"), NULL;
    if (memchr(body, 0, len)) return bad(e, 400, "invalid_json", NULL, "the request body contains a NUL byte"), NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
    if (!root) {
        size_t at = end && end >= body && end <= body + len ? (size_t)(end - body) : 0;
        bad(e, 400, "invalid_json", NULL, "the request body is not valid JSON (error near byte %zu)", at);
        return NULL;
    }
    size_t used = (size_t)(end - body);
    while (used < len && strchr(" \t\r\n", body[used])) used++;
    if (used < len) {
        cJSON_Delete(root);
        bad(e, 400, "invalid_json", NULL, "unexpected data after the JSON value at byte %zu", used);
        return NULL;
    }
    return root;
}

/* stream, trace, stream_options and the OpenAI options this server supports only at their
 * default (n, best_of, logprobs, echo). */
static int parse_flags(const cJSON *root, ak_job *j, ak_req_error *e) {
    if (get_bool(root, "stream", &j->stream, e) || get_bool(root, "trace", &j->want_trace, e)) return -1;
    for (size_t i = 0; i < sizeof unsupported_true / sizeof unsupported_true[0]; i++) {
        int v = 0;
        if (get_bool(root, unsupported_true[i], &v, e)) return -1;
        if (v) return bad(e, 400, "unsupported", unsupported_true[i], "'%s' is not supported", unsupported_true[i]);
    }
    const cJSON *so = field(root, "stream_options");
    if (so) {
        if (!cJSON_IsObject(so))
            return bad(e, 400, "invalid_type", "stream_options", "'stream_options' must be an object");
        if (get_bool(so, "include_usage", &j->include_usage, e)) return -1;
    }
    int n, present;
    if (get_int(root, "n", 1, 1, &n, &present, e) || get_int(root, "best_of", 1, 1, &n, &present, e)) {
        e->code = "unsupported";
        snprintf(e->msg, sizeof e->msg, "'%s' must be 1: one choice per request", e->param);
        return -1;
    }
    if (get_int(root, "logprobs", 0, 0, &n, &present, e)) {
        const cJSON *lp = field(root, "logprobs");
        if (!cJSON_IsBool(lp) || cJSON_IsTrue(lp)) return bad(e, 400, "unsupported", "logprobs", "'logprobs' is not supported");
    }
    return 0;
}

/* temperature, top_p, top_k, seed (and the penalties, checked and ignored) into j->sp. */
static int parse_sampling(ak_server *s, const cJSON *root, const char *request_id, ak_job *j, ak_req_error *e) {
    int present, seed = 0, has_seed = 0, top_k = 0, has_top_k = 0;
    double temp = 1.0, top_p = 1.0, ign;
    if (get_int(root, "seed", INT32_MIN, INT32_MAX, &seed, &has_seed, e) ||
        get_int(root, "top_k", 0, s->hp->n_vocab, &top_k, &has_top_k, e) ||
        get_num(root, "temperature", 0, 2, 0, &temp, &present, e) || get_num(root, "top_p", 0, 1, 1, &top_p, &present, e) ||
        get_num(root, "presence_penalty", -2, 2, 0, &ign, &present, e) ||
        get_num(root, "frequency_penalty", -2, 2, 0, &ign, &present, e))
        return -1;
    j->sp = ak_sampler_default_params();
    j->sp.temp = (float)temp;
    j->sp.top_p = (float)top_p;
    j->sp.top_k = has_top_k ? top_k : 0;
    j->sp.seed = has_seed ? (uint64_t)(uint32_t)seed : ak_fnv1a64(request_id, strlen(request_id));
    return 0;
}

static int parse_stop(const cJSON *root, ak_job *j, ak_req_error *e) {
    const cJSON *stop = field(root, "stop");
    if (!stop) return 0;
    if (cJSON_IsString(stop)) return add_stop(j, stop->valuestring, e);
    if (!cJSON_IsArray(stop) || cJSON_GetArraySize(stop) > 4)
        return bad(e, 400, "invalid_type", "stop", "'stop' must be a string or an array of up to 4 strings");
    for (const cJSON *c = stop->child; c; c = c->next) {
        if (!cJSON_IsString(c))
            return bad(e, 400, "invalid_type", "stop", "'stop' must be a string or an array of up to 4 strings");
        if (add_stop(j, c->valuestring, e)) return -1;
    }
    return 0;
}

/* The prompt text: the chat template over "messages", or "prompt". */
static int parse_prompt(const cJSON *root, ak_req_kind kind, ak_job *j, ak_sbuf *prompt, ak_req_error *e) {
    if (kind == AK_REQ_CHAT) {
        if (render_chat(field(root, "messages"), prompt, e)) return -1;
        if (add_stop(j, "\nUser:", e) || add_stop(j, "\nSystem:", e)) return -1;
    } else {
        const cJSON *p = field(root, "prompt");
        if (p && cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(p->child)) p = p->child;
        if (!p || !cJSON_IsString(p))
            return bad(e, 400, p ? "invalid_type" : "missing_field", "prompt",
                       "'prompt' must be a string (or an array of one string)");
        ak_sbuf_puts(prompt, p->valuestring);
    }
    if (!prompt->s) ak_sbuf_puts(prompt, "");
    if (!prompt->s || !ak_utf8_valid(prompt->s, prompt->len))
        return bad(e, 400, "invalid_utf8", kind == AK_REQ_CHAT ? "messages" : "prompt", "the prompt is not valid UTF-8");
    return 0;
}

/* ---------------------------------------------------------------- early exit and pruning */

static const char *const skip_fields[] = {"exit_threshold", "exit_measure", "exit_layer", "exit_every",
                                          "prune_ratio",    "prune_layer",  "prune_by"};

/* A string field of "skip" that must be one of two names: 0 or 1 into *out (absent: kept). */
static int skip_choice(const cJSON *o, const char *name, const char *a, const char *b, int *out, ak_req_error *e) {
    const char *v;
    if (get_string(o, name, &v, e)) return -1;
    if (!v) return 0;
    if (strcmp(v, a) && strcmp(v, b)) return bad(e, 400, "invalid_value", name, "skip.%s must be %s or %s", name, a, b);
    *out = strcmp(v, a) ? 1 : 0;
    return 0;
}

/* "skip" (early exit and prompt pruning, docs/stacking.md) over the server's defaults,
 * within the operator's limits (--min-exit-threshold, --max-prune-ratio). */
static int parse_skip(ak_server *s, const cJSON *root, ak_job *j, ak_req_error *e) {
    j->skip = s->opt.skip;
    const cJSON *o = field(root, "skip");
    if (!o) return 0;
    if (!cJSON_IsObject(o)) return bad(e, 400, "invalid_type", "skip", "'skip' must be an object");
    for (const cJSON *c = o->child; c; c = c->next) {
        int known = 0;
        for (size_t i = 0; i < sizeof skip_fields / sizeof skip_fields[0]; i++)
            if (c->string && !strcmp(c->string, skip_fields[i])) known = 1;
        if (!known)
            return bad(e, 400, "unknown_field", "skip", "unknown field '%s' in skip (allowed: exit_threshold, "
                       "exit_measure, exit_layer, exit_every, prune_ratio, prune_layer, prune_by)", c->string ? c->string : "");
    }
    ak_skip_params *p = &j->skip;
    double x;
    int present, L = s->hp->n_layer;
    if (get_num(o, "exit_threshold", 0.0, 1.0, 0, &x, &present, e)) return -1;
    if (present && x > 0.0 && x < s->opt.min_exit_threshold)
        return bad(e, 400, "invalid_value", "exit_threshold", "skip.exit_threshold %g is below this server's limit %g "
                   "(--min-exit-threshold)", x, (double)s->opt.min_exit_threshold);
    if (present) p->exit_threshold = (float)x;
    if (get_num(o, "prune_ratio", 0.0, 1.0, 0, &x, &present, e)) return -1;
    if (present && x > s->opt.max_prune_ratio)
        return bad(e, 400, "invalid_value", "prune_ratio", "skip.prune_ratio %g is above this server's limit %g "
                   "(--max-prune-ratio)", x, (double)s->opt.max_prune_ratio);
    if (present) p->prune_ratio = (float)x;
    if (get_int(o, "exit_layer", 0, L, &p->exit_layer, &present, e) || get_int(o, "exit_every", 1, L, &p->exit_every, &present, e) ||
        get_int(o, "prune_layer", 0, L, &p->prune_layer, &present, e) ||
        skip_choice(o, "exit_measure", "top1", "saturation", &p->exit_measure, e) ||
        skip_choice(o, "prune_by", "attention", "oldest", &p->prune_by, e))
        return -1;
    ak_error why = {0};
    if (ak_skip_check(s->model, p, &why)) return bad(e, 400, "invalid_value", "skip", "skip: %s", why.msg);
    return 0;
}

/* The request's own routing ("adaptive_k"), else its A/B variant (by user, else request id). */
static int choose_routing(ak_server *s, const cJSON *root, const char *user, const char *request_id, ak_job *j,
                          ak_req_error *e) {
    const cJSON *route = cJSON_GetObjectItemCaseSensitive(root, "adaptive_k");
    if (route && !cJSON_IsNull(route)) {
        if (parse_routing(s, route, &j->own_routing, e)) return -1;
        j->has_own_routing = 1;
        j->routing = &j->own_routing;
        j->variant = AK_VARIANT_CUSTOM(s);
        return 0;
    }
    const char *key = user && *user ? user : request_id;
    j->variant = s->ab_enabled ? ak_ab_assign(s->variants, s->n_variants, key, strlen(key)) : 0;
    j->routing = s->variants[j->variant].native ? NULL : &s->variants[j->variant].cfg;
    return 0;
}

/* The prompt's tokens, room for max_tokens more, and the trace arrays when asked for. */
static int prepare_tokens(ak_server *s, const ak_sbuf *prompt, int max_tokens, ak_job *j, ak_req_error *e) {
    int limit = s->opt.max_prompt_tokens;
    j->tokens = malloc(((size_t)limit + (size_t)max_tokens + 1) * sizeof *j->tokens);
    if (!j->tokens) return bad(e, 500, "out_of_memory", NULL, "out of memory");
    int np = ak_tokenize(s->tok, prompt->s, prompt->len, ak_tokenizer_add_bos(s->tok), 0, j->tokens, limit);
    if (np == INT32_MIN) return bad(e, 400, "invalid_value", "prompt", "the prompt could not be tokenised");
    if (np < 0)
        return bad(e, 400, "prompt_too_long", "prompt", "the prompt has %d tokens; this server accepts at most %d", -np,
                   limit);
    if (np == 0) return bad(e, 400, "invalid_value", "prompt", "the prompt is empty");
    if (np >= s->n_ctx)
        return bad(e, 400, "prompt_too_long", "prompt", "the prompt has %d tokens; the context holds %d", np, s->n_ctx);
    j->n_prompt = np;
    j->max_tokens = max_tokens < s->n_ctx - np ? max_tokens : s->n_ctx - np;
    j->cap_tokens = np + j->max_tokens;
    j->print_trace = s->opt.trace;
    if (j->want_trace || j->print_trace) {
        size_t n_cells = (size_t)j->cap_tokens * (size_t)s->hp->n_layer;
        j->trace_h = calloc(n_cells, sizeof *j->trace_h);
        j->trace_k = calloc(n_cells, sizeof *j->trace_k);
        if (!j->trace_h || !j->trace_k) return bad(e, 500, "out_of_memory", NULL, "out of memory");
    }
    return 0;
}

/* Everything but the body's syntax: fields into the job. */
static int fill_job(ak_server *s, ak_req_kind kind, const cJSON *root, const char *request_id, ak_job *j,
                    ak_req_error *e) {
    if (!cJSON_IsObject(root)) return bad(e, 400, "invalid_type", NULL, "the request body must be a JSON object");
    const char *model, *user;
    int max_tokens = 0, has_max = 0;
    if (get_string(root, "model", &model, e) || get_string(root, "user", &user, e) || parse_flags(root, j, e))
        return -1;
    if (get_int(root, kind == AK_REQ_CHAT && field(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens",
                1, s->opt.max_tokens, &max_tokens, &has_max, e))
        return -1;
    if (parse_sampling(s, root, request_id, j, e) || parse_stop(root, j, e)) return -1;
    ak_sbuf prompt = {0};
    int rc = parse_prompt(root, kind, j, &prompt, e) || choose_routing(s, root, user, request_id, j, e) ||
             parse_skip(s, root, j, e);
    if (!has_max) max_tokens = kind == AK_REQ_CHAT ? s->opt.max_tokens : (s->opt.max_tokens < 16 ? s->opt.max_tokens : 16);
    if (!rc) rc = prepare_tokens(s, &prompt, max_tokens, j, e);
    ak_sbuf_free(&prompt);
    return rc ? -1 : 0;
}

ak_job *ak_request_parse(ak_server *s, ak_req_kind kind, const char *body, size_t len, const char *request_id,
                         ak_req_error *e) {
    memset(e, 0, sizeof *e);
    cJSON *root = parse_body(body, len, e);
    if (!root) return NULL;
    ak_job *j = ak_job_new();
    if (!j) bad(e, 500, "out_of_memory", NULL, "out of memory");
    else {
        j->kind = kind;
        snprintf(j->request_id, sizeof j->request_id, "%s", request_id);
        snprintf(j->id, sizeof j->id, "%s-%s", kind == AK_REQ_CHAT ? "chatcmpl" : "cmpl", request_id);
    }
    if (j && fill_job(s, kind, root, request_id, j, e)) {
        ak_job_release(j);
        j = NULL;
    }
    cJSON_Delete(root);
    return j;
}

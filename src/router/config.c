/* config.c - per-model router config: validation, layers, JSON load/save
 * (schema: docs/router-config.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/file.h"
#include "router/json.h"
#include "router/router_internal.h"

ak_router_config ak_config_uniform(int n_experts, int k_native, int renormalize, ak_policy policy) {
    ak_router_config c;
    memset(&c, 0, sizeof c);
    c.n_experts = n_experts;
    c.k_native = k_native;
    c.renormalize = renormalize;
    c.default_policy = policy;
    return c;
}

const ak_policy *ak_config_layer_policy(const ak_router_config *c, int layer) {
    if (c->layers && layer >= 0 && layer < c->n_layers) return &c->layers[layer];
    return &c->default_policy;
}

ak_status ak_config_validate(const ak_router_config *c, ak_error *err) {
    if (!c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "config is NULL");
    if (!memchr(c->name, '\0', sizeof c->name) || !memchr(c->provenance, '\0', sizeof c->provenance))
        return ak_error_setf(err, AK_ERR_CONFIG, "config: name or provenance is not NUL-terminated");
    if (c->n_experts < 1 || c->n_experts > AK_MAX_EXPERTS)
        return ak_error_setf(err, AK_ERR_CONFIG, "config: n_experts=%d out of range 1..%d", c->n_experts,
                       AK_MAX_EXPERTS);
    if (c->k_native < 1 || c->k_native > c->n_experts)
        return ak_error_setf(err, AK_ERR_CONFIG, "config: k_native=%d must be in 1..n_experts=%d",
                       c->k_native, c->n_experts);
    if (c->renormalize != 0 && c->renormalize != 1)
        return ak_error_setf(err, AK_ERR_CONFIG, "config: renormalize must be 0 or 1, got %d",
                       c->renormalize);
    if (c->n_layers < 0 || (c->n_layers > 0 && !c->layers))
        return ak_error_setf(err, AK_ERR_CONFIG, "config: n_layers=%d without a layers array",
                       c->n_layers);
    ak_error e;
    if (ak_policy_validate(&c->default_policy, c->n_experts, &e) != AK_OK)
        return ak_error_setf(err, AK_ERR_CONFIG, "config: default policy: %s", e.msg);
    for (int l = 0; l < c->n_layers; l++)
        if (ak_policy_validate(&c->layers[l], c->n_experts, &e) != AK_OK)
            return ak_error_setf(err, AK_ERR_CONFIG, "config: layer %d: %s", l, e.msg);
    return AK_OK;
}

ak_status ak_config_set_layers(ak_router_config *c, int n_layers, ak_error *err) {
    if (!c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "config is NULL");
    if (n_layers < 1 || n_layers > 100000)
        return ak_error_setf(err, AK_ERR_INVALID_ARG, "config: n_layers=%d out of range 1..100000",
                       n_layers);
    ak_policy *layers = malloc((size_t)n_layers * sizeof *layers);
    if (!layers) return ak_error_setf(err, AK_ERR_NOMEM, "config: out of memory for %d layers", n_layers);
    for (int l = 0; l < n_layers; l++) layers[l] = c->default_policy;
    free(c->layers);
    c->layers = layers;
    c->n_layers = n_layers;
    return AK_OK;
}

void ak_config_free(ak_router_config *c) {
    if (!c) return;
    free(c->layers);
    c->layers = NULL;
    c->n_layers = 0;
}

/* ---------------------------------------------------------------- JSON reading */

typedef struct {
    const json_doc *doc;
    ak_error *err;
} reader;

static ak_status at_error(reader *r, const json_node *n, const char *fmt, const char *a,
                          const char *b) {
    char where[64], msg[160];
    json_where(r->doc, n->pos, where, sizeof where);
    snprintf(msg, sizeof msg, fmt, a, b);
    return ak_error_setf(r->err, AK_ERR_JSON, "router config at %s: %s", where, msg);
}

static ak_status check_keys(reader *r, const json_node *obj, const char *const *allowed, int n) {
    for (const json_node *m = json_child(r->doc, obj); m; m = json_next(r->doc, m)) {
        int ok = 0;
        for (int i = 0; i < n && !ok; i++) ok = strcmp(m->key, allowed[i]) == 0;
        if (!ok) return at_error(r, m, "unknown key \"%s\"%s", m->key, "");
    }
    return AK_OK;
}

static ak_status need(reader *r, const json_node *obj, const char *key, json_type type,
                      const json_node **out) {
    const json_node *n = json_get(r->doc, obj, key);
    if (!n) return at_error(r, obj, "missing required key \"%s\"%s", key, "");
    int ok = n->type == type || (type == JSON_TRUE && n->type == JSON_FALSE);
    if (!ok)
        return at_error(r, n, "\"%s\" must be a %s", key,
                        type == JSON_TRUE ? "boolean" : json_type_name(type));
    *out = n;
    return AK_OK;
}

static ak_status get_int(reader *r, const json_node *obj, const char *key, int *out) {
    const json_node *n = NULL;
    ak_status st = need(r, obj, key, JSON_NUMBER, &n);
    if (st != AK_OK) return st;
    if (n->num != floor(n->num) || n->num < -2147483648.0 || n->num > 2147483647.0)
        return at_error(r, n, "\"%s\" must be an integer%s", key, "");
    *out = (int)n->num;
    return AK_OK;
}

static ak_status get_float(reader *r, const json_node *obj, const char *key, float *out) {
    const json_node *n = NULL;
    ak_status st = need(r, obj, key, JSON_NUMBER, &n);
    if (st != AK_OK) return st;
    if (fabs(n->num) > 3.0e38) return at_error(r, n, "\"%s\" is out of float range%s", key, "");
    *out = (float)n->num;
    return AK_OK;
}

static ak_status get_string(reader *r, const json_node *obj, const char *key, char *out,
                            size_t size, int required) {
    const json_node *n = json_get(r->doc, obj, key);
    if (!n) {
        if (required) return at_error(r, obj, "missing required key \"%s\"%s", key, "");
        out[0] = '\0';
        return AK_OK;
    }
    if (n->type != JSON_STRING) return at_error(r, n, "\"%s\" must be a string%s", key, "");
    if (strlen(n->str) >= size) return at_error(r, n, "\"%s\" is too long%s", key, "");
    strcpy(out, n->str);
    return AK_OK;
}

static ak_status read_policy(reader *r, const json_node *obj, ak_policy *p) {
    if (obj->type != JSON_OBJECT) return at_error(r, obj, "a policy must be an object%s%s", "", "");
    char kind_name[32];
    ak_status st = get_string(r, obj, "kind", kind_name, sizeof kind_name, 1);
    if (st != AK_OK) return st;
    ak_policy_kind kind;
    if (ak_policy_kind_parse(kind_name, &kind) != 0)
        return at_error(r, json_get(r->doc, obj, "kind"),
                        "unknown policy kind \"%s\" (fixed, entropy, top-p, ratio, threshold)%s", kind_name, "");
    switch (kind) {
    case AK_POLICY_FIXED: {
        static const char *const keys[] = {"kind", "k"};
        int k;
        if ((st = check_keys(r, obj, keys, 2)) || (st = get_int(r, obj, "k", &k))) return st;
        *p = ak_policy_fixed(k);
        return AK_OK;
    }
    case AK_POLICY_ENTROPY: {
        static const char *const keys[] = {"kind", "k_values", "thresholds", "unit"};
        const json_node *kv, *th;
        if ((st = check_keys(r, obj, keys, 4)) || (st = need(r, obj, "k_values", JSON_ARRAY, &kv)) ||
            (st = need(r, obj, "thresholds", JSON_ARRAY, &th)))
            return st;
        if (kv->count < 1 || kv->count > AK_MAX_LEVELS)
            return at_error(r, kv, "\"k_values\" needs 1..16 entries%s%s", "", "");
        if (th->count != kv->count - 1)
            return at_error(r, th, "\"thresholds\" needs one entry fewer than \"k_values\"%s%s",
                            "", "");
        int k[AK_MAX_LEVELS];
        float h[AK_MAX_LEVELS];
        int i = 0;
        for (const json_node *e = json_child(r->doc, kv); e; e = json_next(r->doc, e), i++) {
            if (e->type != JSON_NUMBER || e->num != floor(e->num) || fabs(e->num) > 1e9)
                return at_error(r, e, "\"k_values\" entries must be integers%s%s", "", "");
            k[i] = (int)e->num;
        }
        i = 0;
        for (const json_node *e = json_child(r->doc, th); e; e = json_next(r->doc, e), i++) {
            if (e->type != JSON_NUMBER || fabs(e->num) > 3.0e38)
                return at_error(r, e, "\"thresholds\" entries must be numbers%s%s", "", "");
            h[i] = (float)e->num;
        }
        ak_entropy_unit unit = AK_ENTROPY_NATS;
        char unit_name[16];
        if ((st = get_string(r, obj, "unit", unit_name, sizeof unit_name, 0))) return st;
        if (strcmp(unit_name, "bits") == 0) unit = AK_ENTROPY_BITS;
        else if (strcmp(unit_name, "normalized") == 0) unit = AK_ENTROPY_NORMALIZED;
        else if (unit_name[0] && strcmp(unit_name, "nats") != 0)
            return at_error(r, json_get(r->doc, obj, "unit"),
                            "unknown unit \"%s\" (nats, bits, normalized)%s", unit_name, "");
        *p = ak_policy_entropy(kv->count, k, h, unit);
        return AK_OK;
    }
    case AK_POLICY_TOP_P:
    case AK_POLICY_RATIO:
    case AK_POLICY_THRESHOLD: {
        const char *param = kind == AK_POLICY_TOP_P ? "top_p" : kind == AK_POLICY_RATIO ? "ratio" : "p_min";
        const char *const keys[] = {"kind", param, "k_min", "k_max"};
        float v = 0.0f;
        int k_min, k_max;
        if ((st = check_keys(r, obj, keys, 4)) || (st = get_float(r, obj, param, &v)) ||
            (st = get_int(r, obj, "k_min", &k_min)) || (st = get_int(r, obj, "k_max", &k_max)))
            return st;
        *p = kind == AK_POLICY_TOP_P   ? ak_policy_top_p(v, k_min, k_max)
             : kind == AK_POLICY_RATIO ? ak_policy_ratio(v, k_min, k_max)
                                       : ak_policy_threshold(v, k_min, k_max);
        return AK_OK;
    }
    }
    return at_error(r, obj, "unknown policy kind%s%s", "", "");
}

static ak_status read_config(reader *r, const json_node *root, ak_router_config *c) {
    static const char *const keys[] = {"name",         "provenance",     "n_experts", "k_native",
                                       "renormalize",  "default_policy", "layers"};
    if (root->type != JSON_OBJECT)
        return at_error(r, root, "the top level must be an object%s%s", "", "");
    ak_status st;
    const json_node *renorm, *def;
    if ((st = check_keys(r, root, keys, 7)) ||
        (st = get_string(r, root, "name", c->name, sizeof c->name, 1)) ||
        (st = get_string(r, root, "provenance", c->provenance, sizeof c->provenance, 0)) ||
        (st = get_int(r, root, "n_experts", &c->n_experts)) ||
        (st = get_int(r, root, "k_native", &c->k_native)) ||
        (st = need(r, root, "renormalize", JSON_TRUE, &renorm)) ||
        (st = need(r, root, "default_policy", JSON_OBJECT, &def)) ||
        (st = read_policy(r, def, &c->default_policy)))
        return st;
    c->renormalize = renorm->type == JSON_TRUE;
    const json_node *layers = json_get(r->doc, root, "layers");
    if (layers) {
        if (layers->type != JSON_ARRAY)
            return at_error(r, layers, "\"layers\" must be an array%s%s", "", "");
        if (layers->count > 0) {
            c->layers = calloc((size_t)layers->count, sizeof *c->layers);
            if (!c->layers) return ak_error_setf(r->err, AK_ERR_NOMEM, "router config: out of memory");
            c->n_layers = layers->count;
            int l = 0;
            for (const json_node *e = json_child(r->doc, layers); e; e = json_next(r->doc, e), l++)
                if ((st = read_policy(r, e, &c->layers[l]))) return st;
        }
    }
    return AK_OK;
}

ak_status ak_config_from_json(const char *json, size_t len, ak_router_config *c, ak_error *err) {
    if (!json || !c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "router config: NULL argument");
    memset(c, 0, sizeof *c);
    json_doc doc;
    ak_status st = json_parse(json, len, &doc, err);
    if (st != AK_OK) return st;
    reader r = {&doc, err};
    st = read_config(&r, &doc.nodes[0], c);
    json_free(&doc);
    if (st == AK_OK) {
        ak_error e;
        if (ak_config_validate(c, &e) != AK_OK) st = ak_error_setf(err, AK_ERR_CONFIG, "%s", e.msg);
    }
    if (st != AK_OK) ak_config_free(c);
    return st;
}

ak_status ak_config_load(const char *path, ak_router_config *c, ak_error *err) {
    if (!path || !c) return ak_error_setf(err, AK_ERR_INVALID_ARG, "router config: NULL argument");
    ak_error why;
    size_t len = 0;
    char *buf = ak_read_file_max(path, (size_t)64 << 20, &len, &why);
    if (!buf) return ak_error_setf(err, why.code, "cannot open or read router config %s", why.msg);
    ak_error e = {AK_OK, ""};
    ak_status st = ak_config_from_json(buf, len, c, &e);
    free(buf);
    if (st != AK_OK) return ak_error_setf(err, st, "%s: %s", path, e.msg);
    return AK_OK;
}

/* ---------------------------------------------------------------- JSON writing */

static void write_policy(json_writer *w, const ak_policy *p) {
    jw_raw(w, "{\"kind\": ");
    jw_string(w, ak_policy_kind_name(p->kind));
    switch (p->kind) {
    case AK_POLICY_FIXED: jw_printf(w, ", \"k\": %d", p->k); break;
    case AK_POLICY_ENTROPY:
        jw_raw(w, ", \"k_values\": [");
        for (int i = 0; i < p->n_levels; i++) jw_printf(w, "%s%d", i ? ", " : "", p->k_values[i]);
        jw_raw(w, "], \"thresholds\": [");
        for (int i = 0; i + 1 < p->n_levels; i++) {
            if (i) jw_raw(w, ", ");
            jw_float(w, p->thresholds[i]);
        }
        jw_raw(w, "], \"unit\": ");
        jw_string(w, p->unit == AK_ENTROPY_BITS         ? "bits"
                     : p->unit == AK_ENTROPY_NORMALIZED ? "normalized"
                                                        : "nats");
        break;
    case AK_POLICY_TOP_P:
    case AK_POLICY_RATIO:
    case AK_POLICY_THRESHOLD:
        jw_raw(w, p->kind == AK_POLICY_TOP_P   ? ", \"top_p\": "
                  : p->kind == AK_POLICY_RATIO ? ", \"ratio\": "
                                               : ", \"p_min\": ");
        jw_float(w, p->kind == AK_POLICY_TOP_P ? p->top_p : p->kind == AK_POLICY_RATIO ? p->ratio : p->p_min);
        jw_printf(w, ", \"k_min\": %d, \"k_max\": %d", p->k_min, p->k_max);
        break;
    }
    jw_raw(w, "}");
}

ak_status ak_config_to_json(const ak_router_config *c, char **out, ak_error *err) {
    if (!out) return ak_error_setf(err, AK_ERR_INVALID_ARG, "router config: out is NULL");
    *out = NULL;
    ak_status st = ak_config_validate(c, err);
    if (st != AK_OK) return st;
    json_writer w = {0};
    jw_raw(&w, "{\n  \"name\": ");
    jw_string(&w, c->name);
    jw_raw(&w, ",\n  \"provenance\": ");
    jw_string(&w, c->provenance);
    jw_printf(&w, ",\n  \"n_experts\": %d,\n  \"k_native\": %d,\n  \"renormalize\": %s,\n",
              c->n_experts, c->k_native, c->renormalize ? "true" : "false");
    jw_raw(&w, "  \"default_policy\": ");
    write_policy(&w, &c->default_policy);
    if (c->n_layers > 0) {
        jw_raw(&w, ",\n  \"layers\": [");
        for (int l = 0; l < c->n_layers; l++) {
            jw_raw(&w, l ? ",\n    " : "\n    ");
            write_policy(&w, &c->layers[l]);
        }
        jw_raw(&w, "\n  ]");
    }
    jw_raw(&w, "\n}\n");
    if (w.failed) {
        free(w.buf);
        return ak_error_setf(err, AK_ERR_NOMEM, "router config: out of memory writing JSON");
    }
    *out = w.buf;
    return AK_OK;
}

ak_status ak_config_save(const char *path, const ak_router_config *c, ak_error *err) {
    if (!path) return ak_error_setf(err, AK_ERR_INVALID_ARG, "router config: path is NULL");
    char *text;
    ak_status st = ak_config_to_json(c, &text, err);
    if (st != AK_OK) return st;
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(text);
        return ak_error_setf(err, AK_ERR_IO, "cannot create router config %s", path);
    }
    size_t len = strlen(text);
    int ok = fwrite(text, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    free(text);
    if (!ok) return ak_error_setf(err, AK_ERR_IO, "error writing router config %s", path);
    return AK_OK;
}

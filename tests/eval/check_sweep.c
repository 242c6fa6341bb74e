/* check_sweep.c DIR - parses a sweep's outputs: sweep.json with the project's strict JSON
 * reader (every row has the fields, numbers in range), sweep.csv (header, the same field
 * count on every line, the same rows and average K as the JSON), and sweep.svg (well-formed
 * tags, one polyline per series, axis labels and a legend). Exit status 0 when all hold. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "router/json.h"

static int failures;
#define CHECK(cond, ...)                                                             \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "check_sweep: CHECK(%s) failed: ", #cond);               \
            fprintf(stderr, __VA_ARGS__);                                            \
            fprintf(stderr, "\n");                                                   \
            failures++;                                                              \
        }                                                                            \
    } while (0)

static char *slurp(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    if (b) b[n] = 0, *len = (size_t)n;
    return b;
}

#define MAX_ROWS 512
static double json_avg_k[MAX_ROWS];
static int json_ok[MAX_ROWS];

static int check_json(const char *dir) {
    size_t len = 0;
    char *src = slurp(dir, "sweep.json", &len);
    CHECK(src, "no sweep.json");
    if (!src) return -1;
    json_doc doc;
    ak_error err = {0};
    ak_status s = json_parse(src, len, &doc, &err);
    CHECK(s == AK_OK, "sweep.json: %s", err.msg);
    if (s) {
        free(src);
        return -1;
    }
    const json_node *root = &doc.nodes[0];
    const char *keys[] = {"model", "text", "calibration", "n_ctx", "scored_tokens", "n_experts", "k_native", "rows"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECK(json_get(&doc, root, keys[i]), "no '%s'", keys[i]);
    const json_node *kn = json_get(&doc, root, "k_native"), *ne = json_get(&doc, root, "n_experts");
    const json_node *rows = json_get(&doc, root, "rows");
    int n = -1;
    if (rows && kn && ne && rows->type == JSON_ARRAY) {
        n = 0;
        for (const json_node *r = json_child(&doc, rows); r && n < MAX_ROWS; r = json_next(&doc, r), n++) {
            const json_node *ok = json_get(&doc, r, "ok"), *pol = json_get(&doc, r, "policy");
            CHECK(ok && pol && pol->type == JSON_STRING, "row %d: ok/policy", n);
            json_ok[n] = ok && ok->type == JSON_TRUE;
            if (!json_ok[n]) {
                CHECK(json_get(&doc, r, "note"), "row %d: skipped without a note", n);
                continue;
            }
            const char *num[] = {"avg_k", "ppl", "ppl_ratio", "kld", "same_top", "expert_macs_saved",
                                 "model_macs_saved", "expert_bytes_saved", "decode_tok_s", "decode_speedup"};
            for (size_t j = 0; j < sizeof num / sizeof num[0]; j++) {
                const json_node *v = json_get(&doc, r, num[j]);
                CHECK(v && v->type == JSON_NUMBER && isfinite(v->num), "row %d: %s", n, num[j]);
            }
            const json_node *k = json_get(&doc, r, "avg_k"), *sv = json_get(&doc, r, "expert_macs_saved"),
                            *st = json_get(&doc, r, "same_top"), *kl = json_get(&doc, r, "kld");
            if (k && sv && st && kl) {
                json_avg_k[n] = k->num;
                CHECK(k->num >= 1 && k->num <= ne->num, "row %d: avg K %g", n, k->num);
                CHECK(fabs(sv->num - (1 - k->num / kn->num)) < 2e-3, "row %d: saved %g vs 1 - K/native", n, sv->num);
                CHECK(st->num >= 0 && st->num <= 1 && kl->num >= -1e-4, "row %d: same top %g, KL %g", n, st->num,
                      kl->num);
            }
        }
        CHECK(n > 0, "no rows");
    }
    json_free(&doc);
    free(src);
    return n;
}

/* Splits one CSV line (quotes with "" escapes); returns the field count. */
static int csv_fields(char *line, char **f, int max) {
    int n = 0;
    char *p = line;
    while (n < max) {
        if (*p == '"') {
            char *w = ++p;
            f[n++] = w;
            while (*p && !(*p == '"' && p[1] != '"')) {
                if (*p == '"') p++;
                *w++ = *p++;
            }
            if (*p == '"') p++;
            *w = 0;
            if (*p == ',') p++;
            else break;
        } else {
            f[n++] = p;
            char *c = strchr(p, ',');
            if (!c) break;
            *c = 0;
            p = c + 1;
        }
    }
    return n;
}

static void check_csv(const char *dir, int n_json) {
    size_t len = 0;
    char *src = slurp(dir, "sweep.csv", &len);
    CHECK(src, "no sweep.csv");
    if (!src) return;
    char *save = NULL, *line = strtok_r(src, "\n", &save);
    char *f[64];
    int n_head = line ? csv_fields(line, f, 64) : 0;
    CHECK(n_head == 21 && !strcmp(f[0], "policy") && !strcmp(f[5], "avg_k") && !strcmp(f[20], "params"),
          "header (%d fields)", n_head);
    int n = 0;
    while ((line = strtok_r(NULL, "\n", &save))) {
        int k = csv_fields(line, f, 64);
        CHECK(k == n_head, "line %d: %d fields, header %d", n + 2, k, n_head);
        if (k == n_head && n < MAX_ROWS && json_ok[n]) {
            char *end;
            double v = strtod(f[5], &end);
            CHECK(*end == 0 && fabs(v - json_avg_k[n]) < 1e-3, "row %d: avg K %s in CSV, %g in JSON", n, f[5],
                  json_avg_k[n]);
            CHECK(!strcmp(f[19], "ok"), "row %d status '%s'", n, f[19]);
        }
        n++;
    }
    CHECK(n == n_json, "CSV rows %d, JSON rows %d", n, n_json);
    free(src);
}

static int count(const char *s, const char *needle) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

static void check_svg(const char *dir) {
    size_t len = 0;
    char *src = slurp(dir, "sweep.svg", &len);
    CHECK(src, "no sweep.svg");
    if (!src) return;
    CHECK(!strncmp(src, "<?xml", 5) && strstr(src, "<svg xmlns=\"http://www.w3.org/2000/svg\""), "SVG header");
    /* well-formed: every element closed in order (a stack of names) */
    char stack[16][32];
    int depth = 0, bad = 0, elements = 0;
    for (const char *p = strchr(src + 1, '<'); p && !bad; p = strchr(p + 1, '<')) {
        const char *e = strchr(p, '>');
        if (!e) {
            bad = 1;
            break;
        }
        if (p[1] == '?') continue;
        int closing = p[1] == '/', self = e[-1] == '/';
        const char *name = p + 1 + closing;
        size_t nl = strcspn(name, " />");
        if (nl == 0 || nl >= 32) {
            bad = 1;
            break;
        }
        elements++;
        if (closing) {
            if (depth == 0 || strncmp(stack[depth - 1], name, nl) || stack[depth - 1][nl]) bad = 1;
            else depth--;
        } else if (!self) {
            if (depth == 16) bad = 1;
            else memcpy(stack[depth], name, nl), stack[depth][nl] = 0, depth++;
        }
        for (const char *q = p + 1; q < e; q++)
            if (*q == '<') bad = 1; /* unescaped text */
    }
    CHECK(!bad && depth == 0 && elements > 20, "SVG not well-formed (depth %d, %d elements)", depth, elements);
    CHECK(count(src, "<polyline") >= 4, "polylines %d: one per series and panel", count(src, "<polyline"));
    CHECK(strstr(src, "average experts per token and layer") && strstr(src, "PPL / PPL(native top-k)") &&
              strstr(src, "mean KL divergence"),
          "axis labels");
    CHECK(strstr(src, ">fixed top-k<") && strstr(src, ">entropy<") && strstr(src, ">top-p<") && strstr(src, ">ratio<"),
          "legend");
    free(src);
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: check_sweep DIR\n");
        return 2;
    }
    int n = check_json(argv[1]);
    if (n > 0) check_csv(argv[1], n);
    check_svg(argv[1]);
    if (failures) return 1;
    printf("check_sweep: %s: %d rows ok\n", argv[1], n);
    return 0;
}

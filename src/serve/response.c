/* response.c - OpenAI-shaped response bodies: errors, whole completions, stream events,
 * the usage block (with avg_k and compute_saved) and the routing trace. */
#include <stdlib.h>
#include <string.h>

#include "serve/response.h"
#include "serve/server_state.h"
#include "serve/textutil.h"

void ak_error_json(ak_sbuf *o, const char *msg, const char *type, const char *code, const char *param) {
    ak_sbuf_puts(o, "{\"error\":{\"message\":");
    ak_sbuf_json_string(o, msg, strlen(msg));
    ak_sbuf_puts(o, ",\"type\":");
    ak_sbuf_json_string(o, type, strlen(type));
    ak_sbuf_puts(o, ",\"param\":");
    if (param && *param) ak_sbuf_json_string(o, param, strlen(param));
    else ak_sbuf_puts(o, "null");
    ak_sbuf_puts(o, ",\"code\":");
    if (code) ak_sbuf_json_string(o, code, strlen(code));
    else ak_sbuf_puts(o, "null");
    ak_sbuf_puts(o, "}}");
}

double ak_job_avg_k(const ak_job *j) { return j->counts.routed ? (double)j->counts.k_sum / (double)j->counts.routed : 0.0; }

/* Decode alone: the prompt's K is not what a user pays per generated token. 0 when no
 * generated token went through the model (at most one token, or a failed prompt). */
static double job_completion_avg_k(const ak_job *j) {
    return j->counts.gen_routed ? (double)j->counts.gen_k_sum / (double)j->counts.gen_routed : 0.0;
}

double ak_job_compute_saved(const ak_job *j) {
    return j->counts.expert_macs_native ? 1.0 - (double)j->counts.expert_macs / (double)j->counts.expert_macs_native : 0.0;
}

int ak_usage_json(ak_server *s, const ak_job *j, ak_sbuf *o) {
    (void)s;
    return ak_sbuf_printf(o,
                          "{\"prompt_tokens\":%d,\"completion_tokens\":%d,\"total_tokens\":%d,\"avg_k\":%.4f,"
                          "\"completion_avg_k\":%.4f,\"compute_saved\":%.4f}",
                          j->n_prompt, j->n_gen, j->n_prompt + j->n_gen, ak_job_avg_k(j), job_completion_avg_k(j),
                          ak_job_compute_saved(j));
}

/* [{"pos":0,"token":"The","layers":[{"layer":0,"entropy":0.42,"k":1,"bar":"L00 | ..."}, ...]}, ...] */
int ak_trace_json(ak_server *s, const ak_job *j, ak_sbuf *o) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    char piece[256], bar[128];
    ak_sbuf_puts(o, "[");
    int n_pos = j->n_prompt + j->n_gen;
    for (int p = 0; p < n_pos && p < j->cap_tokens; p++) {
        int n = ak_token_to_piece(s->tok, j->tokens[p], piece, (int)sizeof piece);
        if (n < 0) n = 0;
        ak_sbuf_printf(o, "%s{\"pos\":%d,\"token\":", p ? "," : "", p);
        ak_sbuf_json_string(o, piece, (size_t)n);
        ak_sbuf_puts(o, ",\"layers\":[");
        int first = 1;
        for (int l = 0; l < L; l++) {
            size_t cell = (size_t)p * (size_t)L + (size_t)l;
            if (!j->trace_k[cell]) continue; /* not a MoE layer, or the token was never decoded */
            ak_trace_bar(bar, sizeof bar, l, j->trace_h[cell], E, j->trace_k[cell], 8);
            ak_sbuf_printf(o, "%s{\"layer\":%d,\"entropy\":%.4f,\"k\":%d,\"bar\":", first ? "" : ",", l,
                           (double)j->trace_h[cell], j->trace_k[cell]);
            ak_sbuf_json_string(o, bar, strlen(bar));
            ak_sbuf_puts(o, "}");
            first = 0;
        }
        ak_sbuf_puts(o, "]}");
    }
    return ak_sbuf_puts(o, "]");
}

void ak_trace_print(ak_server *s, const ak_job *j, FILE *f) {
    const int L = s->hp->n_layer, E = s->hp->n_expert;
    char piece[256], bar[128];
    int n_pos = j->n_prompt + j->n_gen;
    pthread_mutex_lock(&s->trace_mu);
    fprintf(f, "trace %s: %d prompt + %d generated tokens\n", j->request_id, j->n_prompt, j->n_gen);
    for (int p = 0; p < n_pos && p < j->cap_tokens; p++) {
        int n = ak_token_to_piece(s->tok, j->tokens[p], piece, (int)sizeof piece - 1);
        if (n < 0) n = 0;
        for (int i = 0; i < n; i++)
            if ((unsigned char)piece[i] < 0x20) piece[i] = ' ';
        piece[n] = 0;
        fprintf(f, "pos %d%s \"%s\"\n", p, p < j->n_prompt ? " (prompt)" : "", piece);
        for (int l = 0; l < L; l++) {
            size_t cell = (size_t)p * (size_t)L + (size_t)l;
            if (!j->trace_k[cell]) continue;
            ak_trace_bar(bar, sizeof bar, l, j->trace_h[cell], E, j->trace_k[cell], 8);
            fprintf(f, "  %s\n", bar);
        }
    }
    fflush(f);
    pthread_mutex_unlock(&s->trace_mu);
}

static void head(ak_server *s, const ak_job *j, ak_sbuf *o, const char *object) {
    ak_sbuf_puts(o, "{\"id\":");
    ak_sbuf_json_string(o, j->id, strlen(j->id));
    ak_sbuf_printf(o, ",\"object\":\"%s\",\"created\":%ld,\"model\":", object, s->created);
    ak_sbuf_json_string(o, s->model_name, strlen(s->model_name));
}

static void tail(ak_server *s, const ak_job *j, ak_sbuf *o, int with_usage) {
    if (with_usage) {
        ak_sbuf_puts(o, ",\"usage\":");
        ak_usage_json(s, j, o);
    }
    const char *vn = j->variant < s->n_variants ? s->variants[j->variant].name : "custom";
    ak_sbuf_puts(o, ",\"variant\":");
    ak_sbuf_json_string(o, vn, strlen(vn));
    if (j->want_trace && with_usage) {
        ak_sbuf_puts(o, ",\"trace\":");
        ak_trace_json(s, j, o);
    }
    ak_sbuf_puts(o, "}");
}

int ak_response_json(ak_server *s, const ak_job *j, ak_sbuf *o) {
    const char *fr = j->finish_reason ? j->finish_reason : "stop";
    head(s, j, o, j->kind == AK_REQ_CHAT ? "chat.completion" : "text_completion");
    ak_sbuf_puts(o, ",\"choices\":[{\"index\":0,");
    if (j->kind == AK_REQ_CHAT) {
        ak_sbuf_puts(o, "\"message\":{\"role\":\"assistant\",\"content\":");
        ak_sbuf_json_string(o, j->text.s ? j->text.s : "", j->text.len);
        ak_sbuf_puts(o, "},\"logprobs\":null");
    } else {
        ak_sbuf_puts(o, "\"text\":");
        ak_sbuf_json_string(o, j->text.s ? j->text.s : "", j->text.len);
        ak_sbuf_puts(o, ",\"logprobs\":null");
    }
    ak_sbuf_printf(o, ",\"finish_reason\":\"%s\"}]", fr);
    tail(s, j, o, 1);
    return o->s ? 0 : -1;
}

int ak_sse_chunk(ak_server *s, ak_job *j, const char *text, size_t n, int first, int final) {
    ak_sbuf *o = &j->sse;
    ak_sbuf_puts(o, "data: ");
    head(s, j, o, j->kind == AK_REQ_CHAT ? "chat.completion.chunk" : "text_completion");
    ak_sbuf_puts(o, ",\"choices\":[{\"index\":0,");
    if (j->kind == AK_REQ_CHAT) {
        ak_sbuf_puts(o, "\"delta\":{");
        if (first) ak_sbuf_puts(o, "\"role\":\"assistant\",\"content\":\"\"");
        if (n) {
            if (first) ak_sbuf_puts(o, ",");
            ak_sbuf_puts(o, "\"content\":");
            ak_sbuf_json_string(o, text, n);
        }
        ak_sbuf_puts(o, "},\"logprobs\":null");
    } else {
        ak_sbuf_puts(o, "\"text\":");
        ak_sbuf_json_string(o, text, n);
        ak_sbuf_puts(o, ",\"logprobs\":null");
    }
    if (final) ak_sbuf_printf(o, ",\"finish_reason\":\"%s\"}]", j->finish_reason ? j->finish_reason : "stop");
    else ak_sbuf_puts(o, ",\"finish_reason\":null}]");
    tail(s, j, o, final);
    return ak_sbuf_puts(o, "\n\n");
}

void ak_sse_end(ak_server *s, ak_job *j) {
    ak_sbuf *o = &j->sse;
    if (j->status == 200) {
        ak_sse_chunk(s, j, "", 0, 0, 1);
        if (j->include_usage) {
            ak_sbuf_puts(o, "data: ");
            head(s, j, o, j->kind == AK_REQ_CHAT ? "chat.completion.chunk" : "text_completion");
            ak_sbuf_puts(o, ",\"choices\":[],\"usage\":");
            ak_usage_json(s, j, o);
            ak_sbuf_puts(o, "}\n\n");
        }
    } else {
        ak_sbuf_puts(o, "data: ");
        ak_error_json(o, j->errmsg, j->err_type ? j->err_type : "server_error", j->err_code, NULL);
        ak_sbuf_puts(o, "\n\n");
    }
    ak_sbuf_puts(o, "data: [DONE]\n\n");
}

/* reqlog.c - the end of every request: one JSON log line, the metrics, the A/B samples. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "base/clock.h"
#include "serve/reqlog.h"
#include "serve/response.h"
#include "serve/server_state.h"

static const char *variant_name(const ak_server *s, int v) {
    if (v >= 0 && v < s->n_variants) return s->variants[v].name;
    return v == AK_VARIANT_CUSTOM(s) ? "custom" : "none";
}

void ak_request_finished(ak_server *s, const char *request_id, int variant, int status, const ak_job *j,
                         double t_arrival, const char *error) {
    double now = ak_now();
    double t_end = j && j->t_done > 0 ? j->t_done : now;
    double latency = t_end - t_arrival;
    double ttft = j && j->t_first > 0 ? j->t_first - t_arrival : -1;
    int np = j && j->state == AK_JOB_DONE ? j->n_prompt : 0, nc = j ? j->n_gen : 0;
    double avg_k = j ? ak_job_avg_k(j) : 0, saved = j ? ak_job_compute_saved(j) : 0;
    if (variant < 0 || variant > AK_VARIANT_NONE(s)) variant = AK_VARIANT_NONE(s);

    ak_metrics_add_request(s->metrics, variant, status, latency, ttft, np, nc, j ? j->counts.k_sum : 0, j ? j->counts.routed : 0,
                           j ? j->counts.expert_macs : 0, j ? j->counts.expert_macs_native : 0);
    if (j) {
        const ak_job_counts *c = &j->counts;
        const ak_metrics_skip k = {c->layers_run, c->layers_native, c->exit_tokens, c->exit_checks, c->pruned_tokens,
                                   c->model_macs, c->model_macs_native, c->expert_macs_native - c->expert_macs,
                                   c->macs_saved_prune, c->macs_saved_exit};
        ak_metrics_add_skip(s->metrics, &k);
    }
    if (status == 200 && j && variant < s->n_variants) {
        double gen_s = j->t_done - j->t_start;
        ak_ab_record(s->ab, variant, latency, gen_s > 0 ? j->n_gen / gen_s : 0, avg_k,
                     j->n_gen ? j->sum_logprob / j->n_gen : 0, j->n_gen > 0);
    }

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[96];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));
    cJSON *o = cJSON_CreateObject();
    if (!o) return;
    cJSON_AddStringToObject(o, "ts", ts);
    cJSON_AddStringToObject(o, "request_id", request_id);
    cJSON_AddStringToObject(o, "variant", variant_name(s, variant));
    cJSON_AddNumberToObject(o, "status", status);
    cJSON_AddNumberToObject(o, "prompt_tokens", np);
    cJSON_AddNumberToObject(o, "completion_tokens", nc);
    cJSON_AddNumberToObject(o, "avg_k", round(avg_k * 1e4) / 1e4);
    cJSON_AddNumberToObject(o, "compute_saved", round(saved * 1e4) / 1e4);
    if (j && j->counts.tokens) { /* early exit and pruning: layers per token, tokens that left early or were dropped */
        cJSON_AddNumberToObject(o, "layers_per_token", round((double)j->counts.layers_run / (double)j->counts.tokens * 1e4) / 1e4);
        cJSON_AddNumberToObject(o, "exit_tokens", (double)j->counts.exit_tokens);
        cJSON_AddNumberToObject(o, "pruned_tokens", (double)j->counts.pruned_tokens);
        cJSON_AddNumberToObject(o, "model_compute_saved",
                                j->counts.model_macs_native ? round((1.0 - (double)j->counts.model_macs /
                                                                    (double)j->counts.model_macs_native) * 1e4) / 1e4 : 0.0);
    }
    cJSON_AddNumberToObject(o, "latency_ms", round(latency * 1e6) / 1e3);
    if (ttft >= 0) cJSON_AddNumberToObject(o, "ttft_ms", round(ttft * 1e6) / 1e3);
    else cJSON_AddNullToObject(o, "ttft_ms");
    if (j && j->finish_reason && status == 200) cJSON_AddStringToObject(o, "finish_reason", j->finish_reason);
    if (status != 200 && error && *error) cJSON_AddStringToObject(o, "error", error);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!line) return;
    pthread_mutex_lock(&s->log_mu);
    fprintf(s->log, "%s\n", line);
    fflush(s->log);
    pthread_mutex_unlock(&s->log_mu);
    free(line);
}

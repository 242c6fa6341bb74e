/* fuzz_request - the HTTP request body parser (POST /v1/completions and
 * /v1/chat/completions bodies) on arbitrary bytes, against a server built on a tiny model.
 * Properties: a body is refused with a 4xx status, an error type and a message, or becomes
 * a job whose prompt fits its token buffer, whose limits (and early exit / pruning) are inside
 * the server's, and whose
 * non-streaming response (with no tokens generated) is valid JSON. */
#include <cjson/cJSON.h>
#include <string.h>

#include "fuzz.h"
#include "serve/request.h"
#include "serve/response.h"
#include "serve/server_state.h"

static void check_job(ak_server *s, ak_job *j) {
    FUZZ_CHECK(j->n_prompt >= 1 && j->max_tokens >= 1 && j->n_prompt + j->max_tokens <= j->cap_tokens);
    FUZZ_CHECK(j->n_prompt <= s->opt.max_prompt_tokens && j->max_tokens <= s->opt.max_tokens);
    FUZZ_CHECK(j->n_stop >= 0 && j->n_stop <= AK_MAX_STOP);
    for (int i = 0; i < j->n_prompt; i++) FUZZ_CHECK(j->tokens[i] >= 0 && j->tokens[i] < s->hp->n_vocab);
    if (j->routing) {
        ak_error err = {0};
        FUZZ_CHECK(ak_config_validate(j->routing, &err) == AK_OK);
    }
    ak_error err = {0}; /* early exit / pruning: valid for the model, inside the operator's limits */
    FUZZ_CHECK(ak_skip_check(s->model, &j->skip, &err) == 0);
    FUZZ_CHECK(j->skip.exit_threshold == 0.0f || j->skip.exit_threshold >= s->opt.min_exit_threshold);
    FUZZ_CHECK(j->skip.prune_ratio <= s->opt.max_prune_ratio);
    ak_sbuf out = {0};
    FUZZ_CHECK(ak_response_json(s, j, &out) == 0);
    cJSON *doc = cJSON_ParseWithLength(out.s, out.len);
    FUZZ_CHECK(doc != NULL);
    cJSON_Delete(doc);
    ak_sbuf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    ak_server *s = fuzz_server();
    for (int kind = AK_REQ_COMPLETION; kind <= AK_REQ_CHAT; kind++) {
        ak_req_error e;
        ak_job *j = ak_request_parse(s, (ak_req_kind)kind, (const char *)data, size, "fuzz", &e);
        if (j) {
            check_job(s, j);
            ak_job_release(j);
        } else {
            FUZZ_CHECK(e.status >= 400 && e.status < 500 && e.type && e.msg[0]);
        }
    }
    return 0;
}

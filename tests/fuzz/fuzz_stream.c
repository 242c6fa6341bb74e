/* fuzz_stream - the text path of a streaming response: generated pieces (arbitrary bytes,
 * cut anywhere, as byte-level tokens are) against stop strings (arbitrary bytes), through
 * ak_job_append and the SSE writer.
 * Input: byte 0 = kind (even: completion, odd: chat) and stop count (bits 1-3); then each
 * stop string as a length byte and its bytes; the rest is the pieces, split at 0xFF (a byte
 * UTF-8 never uses).
 * Properties: every event is "data: " + valid JSON or [DONE]; the final text holds no stop
 * string; when the text is valid UTF-8, the streamed deltas put together equal it. */
#include <cjson/cJSON.h>
#include <string.h>

#include "fuzz.h"
#include "base/clock.h"
#include "serve/job.h"
#include "serve/request.h"
#include "serve/server_state.h"
#include "serve/textutil.h"

static const char *const bodies[2] = {
    "{\"prompt\":\"a\",\"stream\":true,\"max_tokens\":64}",
    "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"stream\":true,\"max_tokens\":64}",
};

/* Parses the stop strings; returns the offset of the pieces. */
static size_t read_stops(ak_job *j, const uint8_t *d, size_t size) {
    size_t at = 1;
    j->n_stop = 0;
    for (int i = 0; i < ((d[0] >> 1) & 7) && i < AK_MAX_STOP && at < size; i++) {
        size_t n = d[at++] % (AK_MAX_STOP_LEN + 1), w = 0;
        for (; n && at < size; n--, at++)
            if (d[at]) j->stop[j->n_stop][w++] = (char)d[at];
        j->stop[j->n_stop][w] = 0;
        if (w) j->n_stop++;
    }
    return at;
}

/* Puts together the text of every chunk event, checking each event's form. */
static void read_stream(ak_job *j, ak_sbuf *streamed) {
    ak_sbuf ev = {0};
    char buf[4096];
    ssize_t n;
    while ((n = ak_job_read_events(j, buf, sizeof buf)) >= 0) ak_sbuf_append(&ev, buf, (size_t)n);
    char *p = ev.s, *end = ev.s + ev.len;
    while (p && p < end) {
        char *sep = strstr(p, "\n\n");
        FUZZ_CHECK(sep && strncmp(p, "data: ", 6) == 0);
        *sep = 0;
        if (strcmp(p + 6, "[DONE]")) {
            cJSON *doc = cJSON_Parse(p + 6);
            FUZZ_CHECK(doc != NULL);
            const cJSON *c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "choices"), 0);
            const cJSON *t = j->kind == AK_REQ_CHAT ? cJSON_GetObjectItem(cJSON_GetObjectItem(c0, "delta"), "content")
                                                    : cJSON_GetObjectItem(c0, "text");
            if (cJSON_IsString(t)) ak_sbuf_puts(streamed, t->valuestring);
            cJSON_Delete(doc);
        }
        p = sep + 2;
    }
    ak_sbuf_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    ak_server *s = fuzz_server();
    ak_req_error e;
    const char *body = bodies[data[0] & 1];
    ak_job *j = ak_request_parse(s, data[0] & 1 ? AK_REQ_CHAT : AK_REQ_COMPLETION, body, strlen(body), "fuzz", &e);
    FUZZ_CHECK(j != NULL);
    size_t at = read_stops(j, data, size);
    j->deadline = ak_now() + 3600; /* set when a connection queues the job */
    FUZZ_CHECK(ak_job_begin(s, j, 0) == 0);
    int stopped = 0;
    while (at < size && !stopped && j->n_gen < j->max_tokens) {
        const uint8_t *ff = memchr(data + at, 0xFF, size - at);
        size_t n = ff ? (size_t)(ff - (data + at)) : size - at;
        stopped = ak_job_append(s, j, 1, (const char *)data + at, n, -0.5);
        at += n + 1;
    }
    ak_job_finish(s, j, stopped ? "stop" : "length", NULL);
    for (int i = 0; i < j->n_stop; i++)
        FUZZ_CHECK(!j->text.len || !memmem(j->text.s, j->text.len, j->stop[i], strlen(j->stop[i])));
    ak_sbuf streamed = {0};
    read_stream(j, &streamed);
    if (ak_utf8_valid(j->text.s ? j->text.s : "", j->text.len) && !memchr(j->text.s ? j->text.s : "", 0, j->text.len))
        FUZZ_CHECK(streamed.len == j->text.len && (!streamed.len || !memcmp(streamed.s, j->text.s, streamed.len)));
    ak_sbuf_free(&streamed);
    ak_job_release(j);
    return 0;
}

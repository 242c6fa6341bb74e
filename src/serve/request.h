/* request.h - a POST body to a job, or an HTTP error. */
#ifndef AK_SERVE_REQUEST_H
#define AK_SERVE_REQUEST_H

#include <stddef.h>

#include "serve/job.h"

typedef struct {
    int status;
    const char *type, *code;
    char param[64];
    char msg[320];
} ak_req_error;

ak_job *ak_request_parse(ak_server *s, ak_req_kind kind, const char *body, size_t len, const char *request_id,
                         ak_req_error *e);

#endif

/* response.h - OpenAI-shaped response bodies: errors, whole completions, stream events
 * (appended to the job's event buffer), the usage block and the routing trace. */
#ifndef AK_SERVE_RESPONSE_H
#define AK_SERVE_RESPONSE_H

#include "adaptivek.h" /* ak_error */
#include <stdio.h>

#include "serve/job.h"
#include "serve/sbuf.h"

void ak_error_json(ak_sbuf *out, const char *msg, const char *type, const char *code, const char *param);
int ak_response_json(ak_server *s, const ak_job *j, ak_sbuf *out); /* the whole non-streaming body */
/* One "data: {...}" chunk of text (the role first when first, the finish reason when final). */
int ak_sse_chunk(ak_server *s, ak_job *j, const char *text, size_t n, int first, int final);
/* The stream's last events: the final chunk and the usage (include_usage), or the error;
 * then "data: [DONE]". */
void ak_sse_end(ak_server *s, ak_job *j);
int ak_usage_json(ak_server *s, const ak_job *j, ak_sbuf *out);
int ak_trace_json(ak_server *s, const ak_job *j, ak_sbuf *out);
void ak_trace_print(ak_server *s, const ak_job *j, FILE *f);
double ak_job_avg_k(const ak_job *j);
double ak_job_compute_saved(const ak_job *j);

#endif

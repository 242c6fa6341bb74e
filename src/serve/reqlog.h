/* reqlog.h - the end of every request: one JSON log line, the metrics and the A/B records. */
#ifndef AK_SERVE_REQLOG_H
#define AK_SERVE_REQLOG_H

#include "serve/job.h"

/* j may be NULL (a request that never became a job, or a stream the client closed). */
void ak_request_finished(ak_server *s, const char *request_id, int variant, int status, const ak_job *j,
                         double t_arrival, const char *error);

#endif

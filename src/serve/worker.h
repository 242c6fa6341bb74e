/* worker.h - the workers: each owns an ak_context and runs one job at a time from the
 * queue (which only they and the submit call below see). */
#ifndef AK_SERVE_WORKER_H
#define AK_SERVE_WORKER_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>

#include "serve/job.h"

typedef struct ak_workers ak_workers;

/* s->n_workers workers over a queue of opt.queue_size waiting jobs; into s->workers. */
int ak_workers_start(ak_server *s, ak_error *err);
/* 0 queued (a reference taken); 429 when the queue is full; 503 when shutting down. */
int ak_workers_submit(ak_server *s, ak_job *j);
int ak_workers_depth(ak_server *s, int *running); /* jobs queued (and running) */
/* Lets the queue empty and running jobs finish for at most grace_s, then ends what is left. */
void ak_workers_drain_and_stop(ak_server *s, double grace_s);
void ak_workers_free(ak_server *s);

#endif

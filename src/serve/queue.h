/* queue.h - the bounded queue of jobs between the connection threads and the slots.
 * Opaque; thread-safe. Its capacity counts the jobs waiting and the jobs running. */
#ifndef AK_SERVE_QUEUE_H
#define AK_SERVE_QUEUE_H

#include "serve/job.h"

typedef struct ak_queue ak_queue;

ak_queue *ak_queue_new(int capacity); /* NULL when out of memory */
void ak_queue_free(ak_queue *q);
/* 0: queued, with a reference taken; 429: full; 503: closed. */
int ak_queue_push(ak_queue *q, ak_job *j);
/* The next job, which then counts as running until ak_queue_done. wait: waits while the
 * queue is empty and open, NULL once it is closed and empty; else NULL when empty now. */
ak_job *ak_queue_pop(ak_queue *q, int wait);
void ak_queue_done(ak_queue *q);
int ak_queue_depth(ak_queue *q, int *running); /* jobs waiting (and running, when not NULL) */
/* Pushes answer 503 from now on; pops end once the queue is empty. */
void ak_queue_close(ak_queue *q);
/* Waits until nothing waits or runs, for at most `seconds`. */
void ak_queue_wait_idle(ak_queue *q, double seconds);

#endif

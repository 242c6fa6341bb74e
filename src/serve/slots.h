/* slots.h - continuous batching: --parallel slots, each an ak_context (its own KV cache and
 * routing) holding one request; one scheduler thread runs the next tokens of every running
 * request (a prompt chunk or one generated token each) in one batched forward pass
 * (ak_decode_group) on one thread pool. Requests join between steps and leave when done.
 * The queue is seen only by the slots and the submit call below. */
#ifndef AK_SERVE_SLOTS_H
#define AK_SERVE_SLOTS_H

#include "adaptivek.h" /* ak_error */
#include <stddef.h>

#include "serve/job.h"

typedef struct ak_slots ak_slots;

/* s->n_slots slots over a queue of opt.queue_size waiting jobs; into s->slots. */
int ak_slots_start(ak_server *s, ak_error *err);
/* 0 queued (a reference taken); 429 when the queue is full; 503 when shutting down. */
int ak_slots_submit(ak_server *s, ak_job *j);
int ak_slots_depth(ak_server *s, int *running); /* jobs queued (and running) */
/* Lets the queue empty and running jobs finish for at most grace_s, then ends what is left. */
void ak_slots_drain_and_stop(ak_server *s, double grace_s);
void ak_slots_free(ak_server *s);

#endif

/* queue.c - the bounded job queue: a ring of job pointers under one mutex. */
#include "serve/queue.h"

#include <pthread.h>
#include <stdlib.h>

#include "base/clock.h"

struct ak_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ak_job **ring;
    int cap, head, len;
    int running;
    int closed;
};

ak_queue *ak_queue_new(int capacity) {
    ak_queue *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->cap = capacity > 0 ? capacity : 1;
    q->ring = calloc((size_t)q->cap, sizeof *q->ring);
    if (!q->ring) {
        free(q);
        return NULL;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    return q;
}

void ak_queue_free(ak_queue *q) {
    if (!q) return;
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    free(q->ring);
    free(q);
}

int ak_queue_push(ak_queue *q, ak_job *j) {
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    if (q->closed) rc = 503;
    else if (q->len + q->running >= q->cap) rc = 429;
    else {
        q->ring[(q->head + q->len) % q->cap] = j;
        q->len++;
        ak_job_retain(j);
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

ak_job *ak_queue_pop(ak_queue *q, int wait) {
    pthread_mutex_lock(&q->mu);
    while (wait && !q->len && !q->closed) pthread_cond_wait(&q->cv, &q->mu);
    ak_job *j = NULL;
    if (q->len) {
        j = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        q->running++;
    }
    pthread_mutex_unlock(&q->mu);
    return j;
}

void ak_queue_done(ak_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->running--;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int ak_queue_depth(ak_queue *q, int *running) {
    pthread_mutex_lock(&q->mu);
    int n = q->len;
    if (running) *running = q->running;
    pthread_mutex_unlock(&q->mu);
    return n;
}

void ak_queue_close(ak_queue *q) {
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

void ak_queue_wait_idle(ak_queue *q, double seconds) {
    double until = ak_now() + seconds;
    pthread_mutex_lock(&q->mu);
    while ((q->len || q->running) && ak_now() < until) {
        struct timespec ts = ak_abstime_in(0.05);
        pthread_cond_timedwait(&q->cv, &q->mu, &ts);
    }
    pthread_mutex_unlock(&q->mu);
}

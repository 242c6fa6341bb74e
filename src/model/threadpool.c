/* threadpool.c - persistent pthread pool. A forward pass dispatches a task every few
 * microseconds, so waiting threads first spin (a sleep and wake-up costs tens of
 * microseconds); but a thread that spins while the thread it waits for is not running
 * (more threads than cores: several contexts, other processes) only burns that thread's
 * core, and each barrier then costs a scheduler time slice. So every wait spins for at
 * most spin_ns of wall time and then sleeps on a condition variable: the workers waiting
 * for a task, and the caller waiting for the workers to finish one. The limit is
 * AK_SPIN_US_DEFAULT microseconds (measured: docs/engine.md, "Waiting threads") or the
 * environment variable AK_SPIN_US. */
#include "model/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/clock.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

#define AK_SPIN_US_DEFAULT 50

struct ak_pool {
    int n;
    pthread_t *threads;
    pthread_mutex_t mu;
    pthread_cond_t wake; /* workers: a new generation */
    pthread_cond_t done; /* the caller: pending reached 0 */
    atomic_uint_fast64_t generation;
    atomic_int pending;  /* workers still running the current task */
    atomic_int quit;
    atomic_int caller_sleeping;
    int sleeping;        /* workers in pthread_cond_wait, under mu */
    double spin_s;
    ak_task_fn fn;
    void *arg;
};

typedef struct {
    ak_pool *pool;
    int ith;
} worker_arg;

static worker_arg *worker_args(ak_pool *p) { return (worker_arg *)(p->threads + p->n); }

static int new_task(ak_pool *p, uint_fast64_t seen) {
    return atomic_load_explicit(&p->generation, memory_order_acquire) != seen || atomic_load(&p->quit);
}

static int no_task(ak_pool *p, uint_fast64_t seen) { return !new_task(p, seen); }

static int workers_busy(ak_pool *p, uint_fast64_t unused) {
    (void)unused;
    return atomic_load_explicit(&p->pending, memory_order_acquire) > 0;
}

/* Spins while busy(p, seen) holds, for at most spin_s; 1 if it stopped holding, 0 if the
 * time ran out. The clock is read every 64 pauses: a pause takes 10-150 cycles depending
 * on the CPU, which is why the limit is a time, not a count. */
static int spin_while(ak_pool *p, int (*busy)(ak_pool *, uint_fast64_t), uint_fast64_t seen) {
    double until = 0;
    for (unsigned i = 1; busy(p, seen); i++) {
        cpu_relax();
        if (i % 64) continue;
        double now = ak_now();
        if (until == 0) until = now + p->spin_s;
        else if (now >= until) return 0;
    }
    return 1;
}

static void *worker_main(void *v) {
    worker_arg *wa = v;
    ak_pool *p = wa->pool;
    uint_fast64_t seen = 0;
    for (;;) {
        if (!spin_while(p, no_task, seen)) {
            pthread_mutex_lock(&p->mu);
            p->sleeping++;
            while (!new_task(p, seen)) pthread_cond_wait(&p->wake, &p->mu);
            p->sleeping--;
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->quit)) return NULL;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        p->fn(p->arg, wa->ith, p->n);
        /* the last one out wakes a caller that went to sleep (seq_cst pairs with the
         * caller's store of caller_sleeping and its load of pending) */
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping)) {
            pthread_mutex_lock(&p->mu);
            pthread_cond_signal(&p->done);
            pthread_mutex_unlock(&p->mu);
        }
    }
}

static double spin_seconds(void) {
    const char *e = getenv("AK_SPIN_US");
    double us = e && *e ? atof(e) : AK_SPIN_US_DEFAULT;
    return us >= 0 && us < 1e6 ? us * 1e-6 : AK_SPIN_US_DEFAULT * 1e-6;
}

ak_pool *ak_pool_new(int n_threads) {
    if (n_threads < 1) return NULL;
    ak_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n = n_threads;
    p->spin_s = spin_seconds();
    /* threads and their arguments in one block */
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t) + sizeof(worker_arg));
    if (!p->threads) {
        free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->done, NULL);
    atomic_init(&p->generation, 0);
    atomic_init(&p->pending, 0);
    atomic_init(&p->quit, 0);
    atomic_init(&p->caller_sleeping, 0);
    for (int i = 1; i < n_threads; i++) {
        worker_arg *wa = &worker_args(p)[i];
        wa->pool = p;
        wa->ith = i;
        if (pthread_create(&p->threads[i], NULL, worker_main, wa) != 0) {
            p->n = i; /* only the threads started so far are joined */
            ak_pool_free(p);
            return NULL;
        }
    }
    return p;
}

void ak_pool_free(ak_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->quit, 1);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++) pthread_join(p->threads[i], NULL);
    pthread_cond_destroy(&p->done);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p->threads);
    free(p);
}

int ak_pool_size(const ak_pool *p) { return p->n; }

/* The caller's wait for the workers: spin, then sleep until the last one signals. */
static void wait_workers(ak_pool *p) {
    if (spin_while(p, workers_busy, 0)) return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->caller_sleeping, 1);
    while (atomic_load(&p->pending) > 0) pthread_cond_wait(&p->done, &p->mu); /* seq_cst: see worker_main */
    atomic_store(&p->caller_sleeping, 0);
    pthread_mutex_unlock(&p->mu);
}

void ak_pool_run(ak_pool *p, ak_task_fn fn, void *arg) {
    if (p->n == 1) {
        fn(arg, 0, 1);
        return;
    }
    p->fn = fn;
    p->arg = arg;
    atomic_store_explicit(&p->pending, p->n - 1, memory_order_relaxed);
    /* the release publishes fn/arg to workers that see the new generation */
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_mutex_lock(&p->mu);
    if (p->sleeping) pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);

    fn(arg, 0, p->n);
    wait_workers(p);
}

void ak_split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi) {
    int64_t per = n / nth, rem = n % nth;
    *lo = ith * per + (ith < rem ? ith : rem);
    *hi = *lo + per + (ith < rem ? 1 : 0);
}

/* The CPUs this process may run on (taskset, cpusets), not all the machine has online:
 * more threads than that only take turns on the same cores. */
int ak_cpu_count(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

int ak_threads_within_cpus(int requested, const char *who) {
    int cpus = ak_cpu_count();
    if (requested <= 0) return cpus;
    if (requested <= cpus) return requested;
    fprintf(stderr, "%s: -t %d is more than the %d CPUs this process may use; using %d\n", who, requested, cpus, cpus);
    return cpus;
}

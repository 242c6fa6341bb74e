/* threadpool.h - a persistent pool of worker threads that run one task at a time.
 *
 * ak_pool_run(pool, fn, arg) calls fn(arg, ith, nth) on every thread (ith = 0 is the
 * caller) and returns when all have finished: each call is a barrier. */
#ifndef AK_THREADPOOL_H
#define AK_THREADPOOL_H

#include <stdint.h>

typedef void (*ak_task_fn)(void *arg, int ith, int nth);
typedef struct ak_pool ak_pool;

ak_pool *ak_pool_new(int n_threads); /* n_threads >= 1; NULL on failure */
void ak_pool_free(ak_pool *p);
int ak_pool_size(const ak_pool *p);
void ak_pool_run(ak_pool *p, ak_task_fn fn, void *arg);
/* The share [*lo, *hi) of n items that thread ith of nth gets. */
void ak_split(int64_t n, int ith, int nth, int64_t *lo, int64_t *hi);
int ak_cpu_count(void);
/* The thread count a command line asked for (0: all), at most ak_cpu_count(): in a pool
 * whose every task is a barrier, a thread without a core of its own only makes the others
 * wait for it (8 threads on 2 cores decoded at 0.18x the speed of 2; docs/engine.md).
 * Says so on stderr, naming `who`, when it lowers the count. */
int ak_threads_within_cpus(int requested, const char *who);

#endif

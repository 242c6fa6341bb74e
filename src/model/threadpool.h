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

#endif

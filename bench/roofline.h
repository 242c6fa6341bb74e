/* roofline.h - the memory roofline of decoding (bench_engine): a decoded token must read
 * every weight it uses once (nothing is reused between tokens when the model is much larger
 * than the caches), so tokens/s can be at most read bandwidth / bytes read per token.
 *   bytes per token = dense weights (attention, norms, routers, shared experts, the output
 *                     head; of the embedding table one row) + the chosen experts' bytes,
 *                     counted exactly by the engine's ledger (each chosen expert once)
 *                     + the KV cache read by attention (F32 K and V of every cached
 *                     position, every layer: what makes decoding at depth slower).
 *   read bandwidth  = the best of 3 passes summing a 1 GiB buffer (far beyond any cache)
 *                     with the same number of threads, measured in the same process. */
#ifndef AK_BENCH_ROOFLINE_H
#define AK_BENCH_ROOFLINE_H

#include <stdint.h>

#include "model/model.h"

typedef struct {
    double dense_bytes, expert_bytes, kv_bytes; /* per decoded token */
    double bandwidth;                 /* bytes / s */
    double tps;                       /* the roofline: bandwidth / (dense + expert + kv) */
} ak_roofline;

/* Read bandwidth with n_threads threads (bytes/s); 0 if the buffer cannot be allocated. */
double ak_read_bandwidth(int n_threads);
/* The roofline of the decode tokens counted in c's counters since its last stats reset,
 * which attended to avg_past cached positions on average. */
int ak_decode_roofline(const ak_context *c, int n_threads, double avg_past, ak_roofline *r);

#endif

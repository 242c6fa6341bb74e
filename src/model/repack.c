/* repack.c - the model's matrices copied into the x8 layout of quant/repack.c at load.
 *
 * Only what the x8 kernels take is copied (MXFP4, Q4_K and Q5_K matrices whose rows come in groups of 8);
 * the token embedding stays in the file (it is read a row at a time), and so does a tied
 * output head's source: the head gets its own copy. The memory cost is nil in steady
 * state: the copy replaces the mapped pages, which are released (MADV_DONTNEED on a
 * private read-only mapping drops them; the file is not changed). A caller's buffer
 * (ak_model_load_buffer) is left as it is, so there the copy adds to it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "base/errfmt.h"
#include "model/model_internal.h"
#include "model/threadpool.h"
#include "quant/quant.h"

/* Every matrix of the model, NULL-terminated in out (at most cap - 1); the count. */
static int all_mats(ak_model *m, ak_mat **out, int cap) {
    int n = 0;
#define ADD(w) (n < cap - 1 ? (void)(out[n++] = &(w)) : (void)0)
    ADD(m->output);
    for (int il = 0; il < m->hp.n_layer; il++) {
        ak_layer *l = &m->layers[il];
        ADD(l->wq), ADD(l->wk), ADD(l->wv), ADD(l->wo), ADD(l->gate_inp);
        ADD(l->gate_exps), ADD(l->up_exps), ADD(l->down_exps), ADD(l->latent_down), ADD(l->latent_up);
        ADD(l->wq_a), ADD(l->wq_b), ADD(l->wkv_a), ADD(l->wk_b), ADD(l->wv_b);
        ADD(l->ffn_gate), ADD(l->ffn_up), ADD(l->ffn_down), ADD(l->ssm_in), ADD(l->ssm_out);
        ADD(l->dn_qkv), ADD(l->dn_z), ADD(l->dn_beta), ADD(l->dn_alpha);
        ADD(l->gate_shexp), ADD(l->up_shexp), ADD(l->down_shexp);
    }
#undef ADD
    out[n] = NULL;
    return n;
}

enum { MATS_PER_LAYER = 27 };

static int takes(const ak_mat *w) {
    return w->data && ak_repack_supported((ak_type)w->type, w->n_in, w->n_out);
}

/* The whole pages inside [p, p + n) of a mapping, given back to the kernel. */
static void release_pages(const uint8_t *p, size_t n) {
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) & ~(page - 1), hi = ((uintptr_t)p + n) & ~(page - 1);
    if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void ak_model_repack_free(ak_model *m) {
    if (m->repacked) munmap(m->repacked, m->repacked_bytes);
    m->repacked = NULL;
}

/* The copies, cut into (matrix, expert) units that threads claim: a 2 GiB file takes seconds
 * on one core, most of it the kernel zeroing the new pages, which threads share out too. */
typedef struct {
    ak_mat **mats;      /* those repacked, in buffer order */
    uint8_t **dst;      /* where each goes */
    int n_mats;
    int64_t n_units;
    atomic_llong next;
} repack_work;

static void *repack_worker(void *arg) {
    repack_work *rw = arg;
    for (int64_t u; (u = atomic_fetch_add(&rw->next, 1)) < rw->n_units;) {
        int i = 0;
        while (u >= rw->mats[i]->n_mat) u -= rw->mats[i++]->n_mat;
        const ak_mat *w = rw->mats[i];
        ak_repack_x8((ak_type)w->type, w->data + (size_t)u * w->mat_bytes, rw->dst[i] + (size_t)u * w->mat_bytes,
                     w->n_in, w->n_out);
    }
    return NULL;
}

static void repack_all(repack_work *rw) {
    enum { MAX_THREADS = 16 };
    pthread_t th[MAX_THREADS];
    int n = ak_cpu_count() < MAX_THREADS ? ak_cpu_count() : MAX_THREADS, started = 0;
    while (started < n - 1 && pthread_create(&th[started], NULL, repack_worker, rw) == 0) started++;
    repack_worker(rw); /* a thread that could not start leaves its share to the others */
    for (int i = 0; i < started; i++) pthread_join(th[i], NULL);
}

int ak_model_repack(ak_model *m, ak_error *err) {
    const int cap = 2 + MATS_PER_LAYER * m->hp.n_layer;
    ak_mat **mats = malloc((size_t)cap * sizeof *mats);
    uint8_t **dst = malloc((size_t)cap * sizeof *dst);
    if (!mats || !dst) {
        free(mats), free(dst);
        return ak_failf(err, AK_ERR_NOMEM, "out of memory");
    }
    all_mats(m, mats, cap);
    repack_work rw = {mats, dst, 0, 0, 0};
    size_t total = 0;
    for (ak_mat **w = mats; *w; w++)
        if (takes(*w)) {
            mats[rw.n_mats++] = *w; /* in place: the list only shrinks */
            total += (*w)->mat_bytes * (size_t)(*w)->n_mat;
            rw.n_units += (*w)->n_mat;
        }
    void *buf = NULL;
    if (total) {
        /* anonymous memory of its own, in 2 MiB pages where the kernel allows it: a tenth of
         * the page faults at load and of the TLB misses when the kernels stream it */
        buf = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (buf == MAP_FAILED) {
            free(mats), free(dst);
            return ak_failf(err, AK_ERR_NOMEM, "cannot allocate %.1f MiB for the repacked weights (--no-repack maps "
                            "them as they are)", (double)total / (1 << 20));
        }
#ifdef MADV_HUGEPAGE
        madvise(buf, total, MADV_HUGEPAGE);
#endif
        m->repacked = buf;
        m->repacked_bytes = total;
        uint8_t *p = buf;
        for (int i = 0; i < rw.n_mats; i++) {
            dst[i] = p;
            p += mats[i]->mat_bytes * (size_t)mats[i]->n_mat;
        }
        repack_all(&rw);
    }
    const int release = gguf_is_mapped(m->gguf);
    for (int i = 0; i < rw.n_mats; i++) {
        ak_mat *w = mats[i];
        if (release && w->data != m->tok_embd) release_pages(w->data, w->mat_bytes * (size_t)w->n_mat);
        w->data = dst[i];
        w->repacked = 1;
    }
    free(mats), free(dst);
    return 0;
}

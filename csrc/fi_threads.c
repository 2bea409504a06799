/*
 * Threaded fills without OpenMP: native threads are created per large call
 * and joined before returning, so there is no pool to break across fork()
 * and nothing to clash with another library's runtime.  Each thread runs
 * the same pure kernel on its own index range, cut on group boundaries
 * (64 logical elements), so the result does not depend on the split.
 */
#include "fi_kernels.h"

#if defined(_WIN32)
#define FI_NO_PTHREADS 1
#else
#include <pthread.h>
#endif

#define FI_MAX_THREADS 256

typedef struct {
    fi_fill_fn fn;
    const fi_params *p;
    uint64_t offset, n;
    void *out;
} fi_range;

#ifndef FI_NO_PTHREADS
static void *run_range(void *arg)
{
    fi_range *r = (fi_range *)arg;
    r->fn(r->p, r->offset, r->n, r->out);
    return NULL;
}
#endif

int fi_fill_parallel(fi_fill_fn fn, const fi_params *p, uint64_t offset, uint64_t n,
                     void *out, size_t itemsize, int nthreads, uint64_t min_per_thread)
{
#ifndef FI_NO_PTHREADS
    fi_range ranges[FI_MAX_THREADS];
    pthread_t tids[FI_MAX_THREADS];
    int started[FI_MAX_THREADS];
    uint64_t per, start = 0;
    int t, used;
    if (min_per_thread < 64) min_per_thread = 64;
    if (nthreads > FI_MAX_THREADS) nthreads = FI_MAX_THREADS;
    if (nthreads > 1 && n / min_per_thread < (uint64_t)nthreads)
        nthreads = (int)(n / min_per_thread);
    if (nthreads <= 1) {
        fn(p, offset, n, out);
        return 0;
    }
    per = n / (uint64_t)nthreads;
    for (t = 0; t < nthreads; t++) {
        uint64_t end;
        if (t == nthreads - 1) {
            end = n;
        } else {
            /* cut where the logical index is a multiple of 64 */
            uint64_t want = start + per;
            end = want + ((64 - (offset + want) % 64) % 64);
            if (end > n) end = n;
        }
        ranges[t].fn = fn;
        ranges[t].p = p;
        ranges[t].offset = offset + start;
        ranges[t].n = end - start;
        ranges[t].out = (unsigned char *)out + start * itemsize;
        start = end;
    }
    used = nthreads;
    for (t = 1; t < used; t++)
        started[t] = pthread_create(&tids[t], NULL, run_range, &ranges[t]) == 0;
    fn(p, ranges[0].offset, ranges[0].n, ranges[0].out);
    for (t = 1; t < used; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else /* could not start a thread: do its share here */
            fn(p, ranges[t].offset, ranges[t].n, ranges[t].out);
    }
    return used;
#else
    (void)itemsize; (void)nthreads; (void)min_per_thread;
    fn(p, offset, n, out);
    return 1;
#endif
}

/*
 * fastinit compiled core: public C interface.
 *
 * C does numbers only: pure functions of (key, stream, parameters, logical
 * index range) that write into raw output pointers.  Validation, dtype
 * dispatch, the GIL and threads live in the Cython layer (_core.pyx) and in
 * fi_threads.c.  The exact mapping from Philox words to values ("stream
 * version 1") is documented in docs/stream.md; any change to it is a new
 * stream version.
 */
#ifndef FASTINIT_KERNELS_H
#define FASTINIT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FI_STREAM_VERSION 1

/* Philox4x32-10 (Salmon et al., SC11): multipliers and key increments. */
#define FI_PHILOX_ROUNDS 10
#define FI_PHILOX_M0 0xD2511F53u
#define FI_PHILOX_M1 0xCD9E8D57u
#define FI_PHILOX_W0 0x9E3779B9u /* golden ratio */
#define FI_PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* Everything a fill needs besides the index range and the output pointer.
 * The float fields drive the float32/float16/bfloat16 kernels, the double
 * fields the float64 kernels; fi_params_* below fill both. */
typedef struct fi_params {
    uint32_t k0, k1;  /* Philox key: seed low and high words */
    uint32_t s0, s1;  /* stream low and high words (counter words 2 and 3) */
    /* uniform: lo + u * scale, clamped to hi.
     * normal: mean + z * std.
     * truncated normal: p = pa + u * d and q = qb + (1 - u) * d are the
     * lower and upper tail probabilities of the (possibly mirrored) window;
     * flip is +1 or -1 (mirror); the result is clamped to [lo, hi].
     * far32: the float32-family truncated normal takes the far-tail path
     * (the f32 words, the double arithmetic; docs/stream.md, 5.1) because
     * some tail probability of the window is below FLT_MIN. */
    float f_lo, f_hi, f_scale, f_mean, f_std, f_pa, f_d, f_qb, f_flip;
    double d_lo, d_hi, d_scale, d_mean, d_std, d_pa, d_d, d_qb, d_flip;
    int far32;
    /* stream: the caller asks the SIMD kernels to write whole 64-byte lines
     * with non-temporal (streaming) stores, through a small staging buffer,
     * so that the lines are not read for ownership first: set by _core.pyx
     * for fills larger than the caches.  The bytes written are the same. */
    int stream;
} fi_params;

/* One fill kernel: writes n values of logical indices [offset, offset + n)
 * to out (any alignment).  Requires offset + n <= 2**64. */
typedef void (*fi_fill_fn)(const fi_params *p, uint64_t offset, uint64_t n, void *out);

enum fi_dist { FI_RAW = 0, FI_UNIFORM = 1, FI_NORMAL = 2, FI_TRUNCNORM = 3, FI_NDIST = 4 };
enum fi_dtype { FI_F32 = 0, FI_F64 = 1, FI_F16 = 2, FI_BF16 = 3, FI_NDTYPE = 4 };
enum fi_level { FI_SCALAR = 0, FI_AVX2 = 1, FI_AVX512 = 2 };

/* One table per instruction set; fill[FI_RAW][*] all point at the uint32 raw kernel. */
typedef struct fi_kernel_table {
    const char *name;
    fi_fill_fn fill[FI_NDIST][FI_NDTYPE];
} fi_kernel_table;

extern const fi_kernel_table fi_table_scalar;
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FI_NO_SIMD)
#define FI_HAVE_X86 1
extern const fi_kernel_table fi_table_avx2;
extern const fi_kernel_table fi_table_avx512;
#endif

/* Dispatch (fi_dispatch.c). */
int fi_cpu_level(void);                       /* best level this CPU supports */
const fi_kernel_table *fi_table_for(int level); /* NULL if not built/supported */

/* One Philox4x32-10 block (the published algorithm, for known-answer tests). */
void fi_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* Parameter set-up (fi_params.c).  Return 0, or -1 if the parameters make
 * no sampleable distribution (checked before in Cython; kept as a guard),
 * or (truncated normal) FI_ERR_UNDERFLOW if the whole window lies so far
 * in a tail that its probability is below the smallest normal double. */
#define FI_ERR_UNDERFLOW (-2)
void fi_params_key(fi_params *p, uint64_t seed, uint64_t stream);
void fi_params_uniform(fi_params *p, double low, double high);
void fi_params_normal(fi_params *p, double mean, double std);
int fi_params_truncnorm(fi_params *p, double mean, double std, double a, double b);

/* Threaded fill (fi_threads.c): splits [0, n) over nthreads native threads
 * on group boundaries; nthreads <= 1 or small n runs on the caller. */
int fi_fill_parallel(fi_fill_fn fn, const fi_params *p, uint64_t offset, uint64_t n,
                     void *out, size_t itemsize, int nthreads, uint64_t min_per_thread);

#ifdef __cplusplus
}
#endif
#endif

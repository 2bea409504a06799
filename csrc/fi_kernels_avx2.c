/*
 * AVX2 path (8 lanes).  The target is raised for this translation unit only,
 * so the rest of the module stays baseline x86-64 and these functions run
 * only after fi_dispatch.c has seen AVX2, FMA and F16C on the CPU.  The
 * pragma must precede <immintrin.h> so its inline intrinsics get the target.
 */
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FI_NO_SIMD)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma,f16c")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)
#endif

#include <immintrin.h>
#include "fi_ops_avx2.h"
#define FI_TABLE fi_table_avx2
#define FI_TABLE_NAME "avx2"
#include "fi_kernels_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
/* Not x86-64: nothing to build (setup.py does not list this file there). */
typedef int fi_kernels_avx2_unused;
#endif

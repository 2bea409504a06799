/*
 * AVX-512 path (16 lanes).  The target is raised for this translation unit only,
 * so the rest of the module stays baseline x86-64 and these functions run
 * only after fi_dispatch.c has seen AVX512F, DQ, BW and VL on the CPU.  The
 * pragma must precede <immintrin.h> so its inline intrinsics get the target.
 */
#if (defined(__x86_64__) || defined(_M_X64)) && !defined(FI_NO_SIMD)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,f16c,popcnt")
#elif defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,f16c,popcnt"))), apply_to = function)
#endif

#include <immintrin.h>
#include "fi_ops_avx512.h"
#define FI_TABLE fi_table_avx512
#define FI_TABLE_NAME "avx512"
#include "fi_kernels_body.h"

#if defined(__clang__)
#pragma clang attribute pop
#endif
#else
/* Not x86-64: nothing to build (setup.py does not list this file there). */
typedef int fi_kernels_avx512_unused;
#endif

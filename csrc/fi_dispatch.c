/*
 * Runtime instruction-set selection.  This file is compiled for the
 * baseline target only: nothing here may execute AVX code before the CPU
 * check has passed.
 */
#include <stddef.h>
#include "fi_kernels.h"
#if defined(FI_HAVE_X86) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>

/* F16C is CPUID.1:ECX bit 29.  Asked directly because older compilers'
 * __builtin_cpu_supports does not know the name (clang before 16); the OS
 * support for the YMM state it needs is part of the AVX2 check. */
static int fi_has_f16c(void)
{
    unsigned int a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C);
}
#endif

int fi_cpu_level(void)
{
#if defined(FI_HAVE_X86) && (defined(__GNUC__) || defined(__clang__))
    int avx2;
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && fi_has_f16c();
    /* The AVX-512 kernels also use AVX2/FMA/F16C encodings and POPCNT: every
     * AVX-512 CPU has them, but a virtual machine may report any subset. */
    if (avx2 && __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return FI_AVX512;
    if (avx2)
        return FI_AVX2;
#endif
    return FI_SCALAR;
}

const fi_kernel_table *fi_table_for(int level)
{
    if (level < FI_SCALAR || level > fi_cpu_level()) return NULL;
#ifdef FI_HAVE_X86
    if (level == FI_AVX512) return &fi_table_avx512;
    if (level == FI_AVX2) return &fi_table_avx2;
#endif
    return &fi_table_scalar;
}

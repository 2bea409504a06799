/*
 * The default floating-point environment for the kernels and their
 * parameter set-up.
 *
 * Every value is a function of the fill's inputs alone only under round to
 * nearest even without flush-to-zero or denormals-are-zero.  A caller may
 * have changed that (a library linked with -ffast-math sets FTZ/DAZ for the
 * whole process, and threads inherit it), so parameter set-up and each
 * kernel run in the default environment and restore the caller's.
 */
#ifndef FASTINIT_FPENV_H
#define FASTINIT_FPENV_H

/* Compilers do not order floating-point arithmetic with changes of the
 * environment (GCC has no FENV_ACCESS): it may compute a conversion before
 * the switch.  FI_FP_FENCE makes every memory access stay on its side, and
 * FI_FP_OPAQUE(x) passes a register value through memory the compiler
 * cannot see, so arithmetic on x happens after it. */
#if defined(__GNUC__) || defined(__clang__)
#define FI_FP_FENCE() __asm__ __volatile__("" ::: "memory")
#define FI_FP_OPAQUE(x) __asm__ __volatile__("" : "+m"(x))
#else
#define FI_FP_FENCE() ((void)0)
#define FI_FP_OPAQUE(x) ((void)0)
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
/* all exceptions masked, round to nearest even, no FTZ/DAZ */
#define FI_MXCSR_DEFAULT 0x1F80u
typedef unsigned int fi_fpenv;
static inline fi_fpenv fi_fpenv_enter(void)
{
    unsigned int old = _mm_getcsr();
    _mm_setcsr(FI_MXCSR_DEFAULT);
    FI_FP_FENCE();
    return old;
}
static inline void fi_fpenv_leave(fi_fpenv old)
{
    FI_FP_FENCE();
    _mm_setcsr(old);
}
#else
#include <fenv.h>
typedef fenv_t fi_fpenv;
static inline fi_fpenv fi_fpenv_enter(void)
{
    fenv_t old;
    fegetenv(&old);
    fesetenv(FE_DFL_ENV);
    FI_FP_FENCE();
    return old;
}
static inline void fi_fpenv_leave(fi_fpenv old)
{
    FI_FP_FENCE();
    fesetenv(&old);
}
#endif

#endif

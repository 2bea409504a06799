/*
 * Per-call parameter set-up: runs once per fill on the calling thread.
 * The normal CDF values for the truncated normal are computed here in
 * double precision (libm erfc), never inside the kernels.
 */
#include <math.h>
#include "fi_kernels.h"
#include "fi_fpenv.h"

void fi_params_key(fi_params *p, uint64_t seed, uint64_t stream)
{
    p->k0 = (uint32_t)seed;
    p->k1 = (uint32_t)(seed >> 32);
    p->s0 = (uint32_t)stream;
    p->s1 = (uint32_t)(stream >> 32);
}

void fi_params_uniform(fi_params *p, double low, double high)
{
    fi_fpenv env = fi_fpenv_enter();
    FI_FP_OPAQUE(low);
    FI_FP_OPAQUE(high);
    p->d_lo = low;
    p->d_hi = high;
    p->d_scale = high - low;
    p->f_lo = (float)low;
    p->f_hi = (float)high;
    /* the float32 scale is the float32 difference of the float32 bounds, so
     * that low == high (after rounding) gives exactly low */
    p->f_scale = p->f_hi - p->f_lo;
    fi_fpenv_leave(env);
}

void fi_params_normal(fi_params *p, double mean, double std)
{
    fi_fpenv env = fi_fpenv_enter();
    FI_FP_OPAQUE(mean);
    FI_FP_OPAQUE(std);
    p->d_mean = mean;
    p->d_std = std;
    p->f_mean = (float)mean;
    p->f_std = (float)std;
    fi_fpenv_leave(env);
}

/* Phi(x) = P(Z <= x), accurate in relative terms for x < 0. */
static double ndtr(double x) { return 0.5 * erfc(-x * 0.70710678118654752440); }

int fi_params_truncnorm(fi_params *p, double mean, double std, double a, double b)
{
    double lo, hi, flip = 1.0;
    fi_fpenv env;
    if (!(a < b)) return -1;
    env = fi_fpenv_enter();
    FI_FP_OPAQUE(mean);
    FI_FP_OPAQUE(std);
    FI_FP_OPAQUE(a);
    FI_FP_OPAQUE(b);
    lo = a == -INFINITY ? -INFINITY : mean + a * std;
    hi = b == INFINITY ? INFINITY : mean + b * std;
    /* Work on the window mirrored into the lower half so that the tail
     * probabilities stay representable in relative terms. */
    if (a + b > 0.0) { /* NaN for (-inf, inf): no mirror */
        double t = a;
        a = -b;
        b = -t;
        flip = -1.0;
    }
    {
        double pa = ndtr(a), pb = ndtr(b), qb = ndtr(-b);
        double d = pb - pa;
        if (!(d > 0.0)) {
            /* window with no representable mass: sample its endpoint nearer
             * the mean (all lanes clamp there) */
            d = 0.0;
        }
        p->d_pa = pa;
        p->d_d = d;
        p->d_qb = qb;
        p->f_pa = (float)pa;
        p->f_d = (float)d;
        p->f_qb = (float)qb;
    }
    p->d_flip = flip;
    p->f_flip = (float)flip;
    p->d_mean = mean;
    p->d_std = std;
    p->f_mean = (float)mean;
    p->f_std = (float)std;
    p->d_lo = lo;
    p->d_hi = hi;
    p->f_lo = (float)lo;
    p->f_hi = (float)hi;
    fi_fpenv_leave(env);
    return 0;
}

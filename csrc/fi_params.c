/*
 * Per-call parameter set-up: runs once per fill on the calling thread.
 * The normal CDF values for the truncated normal are computed here in
 * double precision, once per call, never inside the kernels.
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
    p->stream = 0; /* set by the caller for large fills (far32: by
                    * fi_params_truncnorm, which may run first) */
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

/*
 * The normal CDF, from IEEE operations only (no libm transcendental), so the
 * truncated-normal set-up gives the same bits on every platform.  Accurate to
 * a few 1e-15 relative over the whole range (checked against mpmath).
 */

/* e^y for y <= 0: y = k ln2 + r, |r| <= ln2/2, Taylor series to degree 13. */
static double exp_nonpositive(double y)
{
    static const double inv_fact[14] = {
        1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
        1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0,
        1.0 / 479001600.0, 1.0 / 6227020800.0};
    double k, r, q;
    int n;
    if (y < -745.2) return 0.0;
    k = floor(y * 1.4426950408889634 + 0.5);
    r = fma(-k, 6.93147180369123816490e-01, y);  /* ln2, high part */
    r = fma(-k, 1.90821492927058770002e-10, r);  /* ln2, low part */
    q = inv_fact[13];
    for (n = 12; n >= 0; n--) q = fma(q, r, inv_fact[n]);
    return ldexp(q, (int)k); /* exact scaling */
}

/* phi(t) = exp(-t^2/2) / sqrt(2 pi), with t^2 split exactly into hi + lo. */
static double normal_pdf(double t)
{
    double hi;
    if (t > 40.0) return 0.0; /* below the smallest double; t*t may overflow */
    hi = t * t;
    double lo = fma(t, t, -hi);
    return exp_nonpositive(-0.5 * hi) * (1.0 - 0.5 * lo) * 0.39894228040143267794;
}

/* Q(t) = P(Z > t) for t >= 0: Taylor series of the integral below 1.5,
 * Laplace's continued fraction for the Mills ratio (150 terms) above. */
static double normal_sf_nonneg(double t)
{
    if (t < 1.5) {
        double t2 = t * t, term = t, sum = t;
        for (int n = 3; n < 200; n += 2) {
            term = term * t2 / n;
            sum += term;
            if (term <= sum * 1e-17) break;
        }
        return 0.5 - normal_pdf(t) * sum;
    } else {
        double r = t;
        for (int k = 150; k >= 1; k--) r = t + k / r;
        return normal_pdf(t) / r;
    }
}

/* Phi(x) = P(Z <= x), accurate in relative terms for x < 0. */
static double ndtr(double x)
{
    if (x == -INFINITY) return 0.0;
    if (x == INFINITY) return 1.0;
    return x < 0.0 ? normal_sf_nonneg(-x) : 1.0 - normal_sf_nonneg(x);
}

#define FI_DBL_MIN 0x1p-1022
#define FI_FLT_MIN 0x1p-126

int fi_params_truncnorm(fi_params *p, double mean, double std, double a, double b)
{
    double lo, hi, flip = 1.0;
    int rc = 0;
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
        /* Initializers call with the same window over and over: remember the
         * last one (per thread) instead of re-running the series. */
        static _Thread_local struct { double a, b, pa, pb, qb; int valid; } last;
        double pa, pb, qb, d;
        if (last.valid && last.a == a && last.b == b) {
            pa = last.pa;
            pb = last.pb;
            qb = last.qb;
        } else {
            pa = ndtr(a);
            pb = ndtr(b);
            qb = ndtr(-b);
            last.a = a;
            last.b = b;
            last.pa = pa;
            last.pb = pb;
            last.qb = qb;
            last.valid = 1;
        }
        d = pb - pa;
        if (pb < FI_DBL_MIN) {
            /* the whole window lies beyond about 37.5 std: its probability
             * underflows even in double, no sample can be computed */
            rc = FI_ERR_UNDERFLOW;
        }
        if (!(d > 0.0)) {
            /* a window narrower than the rounding of Phi at its ends: sample
             * its endpoint nearer the mean (all lanes clamp there) */
            d = 0.0;
        }
        /* Correction 1.1: the float32 path is exact while every tail
         * probability it forms, p = pa + u d and q = qb + (1 - u) d with
         * u >= 2^-24, and d itself, are normal floats.  Windows where one is
         * not (beyond about 12.9 std) take the far-tail path. */
        p->far32 = (pa < qb ? pa : qb) + 0x1p-24 * d < FI_FLT_MIN || (d > 0.0 && d < FI_FLT_MIN);
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
    return rc;
}

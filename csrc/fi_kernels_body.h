/*
 * The fill kernels, written once against the operation set of
 * fi_ops_scalar.h and compiled once per instruction set (fi_kernels_*.c
 * include an ops header, define FI_TABLE, then include this file).  Every
 * path performs the same IEEE operations in the same order on each lane,
 * so every path produces the same bits.  Build with -ffp-contract=off.
 *
 * Stream version 1 (docs/stream.md has the full statement):
 *  - Philox4x32-10, key (seed lo, seed hi), counter (b lo, b hi, stream lo, stream hi).
 *  - Elements are produced in groups.  Group g uses blocks 16g .. 16g+15.
 *    Float32-family dtypes (float32, float16, bfloat16): 64 elements per
 *    group; float64: 32 elements per group; raw: the 64 words in order.
 *  - Within a group, element e takes lane l = e % 16 (block 16g + l) and
 *    word(s) of that block chosen by e / 16, as each kernel below says.
 *
 * Speed without changing a bit: a fill runs over batches of whole groups
 * (independent chains side by side for out-of-order execution), inlined
 * into one loop; the truncated normal computes its rare tail branch only on
 * the lanes that need it; and each fill runs in the default floating-point
 * environment (fi_fpenv.h).  A lane's value never depends on which other
 * lanes share its vector, so none of this is visible in the output.
 */

#include "fi_kernels.h"
#include "fi_fpenv.h"

#define FI_GROUP_BLOCKS 16u
#define FI_GROUP_N32 64u /* elements per group: raw and the float32 family */
#define FI_GROUP_N64 32u /* elements per group: float64 */
#define FI_NV32 (FI_GROUP_N32 / FI_W)   /* vf vectors per group */

#if defined(__GNUC__) || defined(__clang__)
/* The group functions are inlined into the fill loop so that constants
 * and round keys stay in registers across groups. */
#define FI_INLINE static inline __attribute__((always_inline))
#else
#define FI_INLINE static inline
#endif

/* What every group of one fill call needs, set up once per call. */
typedef struct fi_ctx {
    fi_philox_keys keys;
    const fi_params *p;
} fi_ctx;

static inline void ctx_init(fi_ctx *x, const fi_params *p)
{
    fi_philox_keys_init(&x->keys, p->k0, p->k1, p->s0, p->s1);
    x->p = p;
}

/* ------------------------------------------------------------------ */
/* Word -> number transforms.                                          */

/* [0, 1): top 24 bits of a word. */
static inline vf unit_f32(vu w)
{
    return vf_mul(vf_from_i32(vu_srl(w, 8)), vf_set1(0x1p-24f));
}

/* (0, 1] for logarithms: top 31 bits, ((w >> 1) rounded to float) * 2^-31 + 2^-32. */
static inline vf unit_open_f32(vu w)
{
    return vf_fma(vf_from_i32(vu_srl(w, 1)), vf_set1(0x1p-31f), vf_set1(0x1p-32f));
}

/* [0, 1) with 53 bits: (wa >> 5) * 2^-27 + (wb >> 6) * 2^-53 (exact). */
static inline vd unit_f64(vuh wa, vuh wb)
{
    vd hi = vd_mul(vd_from_u32(vuh_srl(wa, 5)), vd_set1(0x1p-27));
    return vd_fma(vd_from_u32(vuh_srl(wb, 6)), vd_set1(0x1p-53), hi);
}

/* Natural log of a positive normal float: Cephes logf polynomial on
 * m - 1 with m in [sqrt(1/2), sqrt(2)), plus e * ln2 split in two parts. */
static inline vf log_f32(vf x)
{
    vf m, e;
    vf_decomp(x, &m, &e);
    vf f = vf_sub(m, vf_set1(1.0f));
    vf z = vf_mul(f, f);
    vf q = vf_set1(7.0376836292e-2f);
    q = vf_fma(q, f, vf_set1(-1.1514610310e-1f));
    q = vf_fma(q, f, vf_set1(1.1676998740e-1f));
    q = vf_fma(q, f, vf_set1(-1.2420140846e-1f));
    q = vf_fma(q, f, vf_set1(1.4249322787e-1f));
    q = vf_fma(q, f, vf_set1(-1.6668057665e-1f));
    q = vf_fma(q, f, vf_set1(2.0000714765e-1f));
    q = vf_fma(q, f, vf_set1(-2.4999993993e-1f));
    q = vf_fma(q, f, vf_set1(3.3333331174e-1f));
    vf y = vf_mul(vf_mul(f, z), q);
    y = vf_fma(e, vf_set1(-2.12194440e-4f), y);
    y = vf_fma(z, vf_set1(-0.5f), y);
    vf r = vf_add(f, y);
    return vf_fma(e, vf_set1(0.693359375f), r);
}

/* Natural log of a positive normal double: fdlibm's kernel (s = f/(2+f),
 * Remez polynomial in s^2), ln2 split into hi and lo parts. */
static inline vd log_f64(vd x)
{
    vd m, e;
    vd_decomp(x, &m, &e);
    vd f = vd_sub(m, vd_set1(1.0));
    vd s = vd_div(f, vd_add(vd_set1(2.0), f));
    vd z = vd_mul(s, s);
    vd w = vd_mul(z, z);
    vd t1 = vd_fma(w, vd_set1(1.531383769920937332e-01), vd_set1(2.222219843214978396e-01));
    t1 = vd_fma(w, t1, vd_set1(3.999999999940941908e-01));
    t1 = vd_mul(w, t1);
    vd t2 = vd_fma(w, vd_set1(1.479819860511658591e-01), vd_set1(1.818357216161805012e-01));
    t2 = vd_fma(w, t2, vd_set1(2.857142874366239149e-01));
    t2 = vd_fma(w, t2, vd_set1(6.666666666666735130e-01));
    t2 = vd_mul(z, t2);
    vd R = vd_add(t2, t1);
    vd hfsq = vd_mul(vd_mul(vd_set1(0.5), f), f);
    /* log(m) = f - (hfsq - s * (hfsq + R)) */
    vd inner = vd_fma(s, vd_add(hfsq, R), vd_mul(e, vd_set1(1.90821492927058770002e-10)));
    vd r = vd_sub(vd_sub(hfsq, inner), f);
    return vd_sub(vd_mul(e, vd_set1(6.93147180369123816490e-01)), r);
}

/* sin and cos of theta in [-pi/4, pi/4] (Cephes sinf/cosf polynomials). */
static inline void sincos_f32(vf x, vf *s, vf *c)
{
    vf z = vf_mul(x, x);
    vf ps = vf_fma(vf_set1(-1.9515295891e-4f), z, vf_set1(8.3321608736e-3f));
    ps = vf_fma(ps, z, vf_set1(-1.6666654611e-1f));
    *s = vf_fma(ps, vf_mul(z, x), x);
    vf pc = vf_fma(vf_set1(2.443315711809948e-5f), z, vf_set1(-1.388731625493765e-3f));
    pc = vf_fma(pc, z, vf_set1(4.166664568298827e-2f));
    *c = vf_fma(pc, vf_mul(z, z), vf_fma(z, vf_set1(-0.5f), vf_set1(1.0f)));
}

/* sin and cos of theta in [-pi/4, pi/4] (fdlibm kernels). */
static inline void sincos_f64(vd x, vd *s, vd *c)
{
    vd z = vd_mul(x, x);
    vd r = vd_fma(z, vd_set1(1.58969099521155010221e-10), vd_set1(-2.50507602534068634195e-08));
    r = vd_fma(z, r, vd_set1(2.75573137070700676789e-06));
    r = vd_fma(z, r, vd_set1(-1.98412698298579493134e-04));
    r = vd_fma(z, r, vd_set1(8.33333333332248946124e-03));
    vd v = vd_mul(z, x);
    *s = vd_fma(v, vd_fma(z, r, vd_set1(-1.66666666666666324348e-01)), x);
    vd q = vd_fma(z, vd_set1(-1.13596475577881948265e-11), vd_set1(2.08757232129817482790e-09));
    q = vd_fma(z, q, vd_set1(-2.75573143513906633035e-07));
    q = vd_fma(z, q, vd_set1(2.48015872894767294178e-05));
    q = vd_fma(z, q, vd_set1(-1.38888888888741095749e-03));
    q = vd_fma(z, q, vd_set1(4.16666666666666019037e-02));
    q = vd_mul(z, q);
    vd hz = vd_mul(vd_set1(0.5), z);
    vd w = vd_sub(vd_set1(1.0), hz);
    *c = vd_add(w, vd_fma(z, q, vd_sub(vd_sub(vd_set1(1.0), w), hz)));
}

/* Rotate (c, s) of the reduced angle by quadrant q (0..3) of a full turn. */
static inline void quadrant_f32(vu q, vf *c, vf *s)
{
    vu swap = vu_and(q, vu_set1(1));
    vf x = vf_blend_u(swap, *s, *c);
    vf y = vf_blend_u(swap, *c, *s);
    *c = vf_neg_if(x, vu_and(vu_add(q, vu_set1(1)), vu_set1(2)));
    *s = vf_neg_if(y, vu_and(q, vu_set1(2)));
}

static inline void quadrant_f64(vuh q, vd *c, vd *s)
{
    vuh swap = vuh_and(q, vuh_set1(1));
    vd x = vd_blend_u(swap, *s, *c);
    vd y = vd_blend_u(swap, *c, *s);
    *c = vd_neg_if(x, vuh_and(vuh_add(q, vuh_set1(1)), vuh_set1(2)));
    *s = vd_neg_if(y, vuh_and(q, vuh_set1(2)));
}

/* Box-Muller on one pair of words: radius from w1, angle (in turns) from w2. */
static inline void boxmuller_f32(vu w1, vu w2, vf *zc, vf *zs)
{
    vf r = vf_sqrt(vf_mul(log_f32(unit_open_f32(w1)), vf_set1(-2.0f)));
    /* angle: 24-bit fraction of a turn m; k = nearest quarter turn, f = m - k/4 */
    vu m = vu_srl(w2, 8);
    vu k = vu_srl(vu_add(m, vu_set1(1u << 21)), 22);
    vu fr = vu_sub(m, vu_sll(k, 22));                /* signed, |fr| <= 2^21 */
    vf theta = vf_mul(vf_from_i32(fr), vf_set1((float)(6.283185307179586 / 16777216.0)));
    vf s, c;
    sincos_f32(theta, &s, &c);
    quadrant_f32(vu_and(k, vu_set1(3)), &c, &s);
    *zc = vf_mul(r, c);
    *zs = vf_mul(r, s);
}

static inline void boxmuller_f64(vuh w0, vuh w1, vuh w2, vuh w3, vd *zc, vd *zs)
{
    /* radius: u in (0, 1] as 1 - (53-bit uniform), exact */
    vd u = vd_sub(vd_set1(1.0), unit_f64(w0, w1));
    vd r = vd_sqrt(vd_mul(log_f64(u), vd_set1(-2.0)));
    /* angle: 53-bit fraction of a turn m = mh * 2^26 + ml, reduced exactly */
    vuh mh = vuh_srl(w2, 5);
    vuh ml = vuh_srl(w3, 6);
    vuh k = vuh_srl(vuh_add(mh, vuh_set1(1u << 24)), 25);
    vuh fh = vuh_sub(mh, vuh_sll(k, 25));             /* signed, |fh| <= 2^24 */
    vd fr = vd_fma(vd_from_i32(fh), vd_set1(0x1p26), vd_from_u32(ml));
    vd theta = vd_mul(fr, vd_set1(6.283185307179586 / 9007199254740992.0));
    vd s, c;
    sincos_f64(theta, &s, &c);
    quadrant_f64(vuh_and(k, vuh_set1(3)), &c, &s);
    *zc = vd_mul(r, c);
    *zs = vd_mul(r, s);
}

/* Lower-tail standard normal quantile for s in (0, 0.5], float32:
 * Wichura's AS 241 PPND7, a central rational for t = s - 1/2 >= -0.425 and
 * tail rationals in r = sqrt(-log s) split at r = 5.  Each part returns a
 * numerator and a denominator and the caller divides once: the central
 * quotient is t * na / nb, the tail one 0 - nt / dt = (0 - nt) / dt exactly,
 * because nt > 0 and dt > 0 wherever the tail is selected (t < -0.425 gives
 * r > 1.6, and every coefficient of both tail rationals is positive).  The
 * tail part is computed only for the lanes that need it (about 11% for a
 * +-2 sigma window), gathered into full vectors. */
#define NDTRI_SPLIT_F32 (-0.425f) /* |t| <= 0.425: central rational */

static inline void ndtri_central_f32(vf t, vf *num, vf *den)
{
    vf r = vf_fma(vf_sub(vf_set1(0.0f), t), t, vf_set1(0.180625f));
    vf na = vf_fma(vf_set1(59.109374720f), r, vf_set1(159.29113202f));
    na = vf_fma(na, r, vf_set1(50.434271938f));
    na = vf_fma(na, r, vf_set1(3.3871327179f));
    vf nb = vf_fma(vf_set1(67.187563600f), r, vf_set1(78.757757664f));
    nb = vf_fma(nb, r, vf_set1(17.895169469f));
    nb = vf_fma(nb, r, vf_set1(1.0f));
    *num = vf_mul(t, na);
    *den = nb;
}

static inline void ndtri_tail_f32(vf s, vf *num, vf *den)
{
    vf rt = vf_sqrt(vf_sub(vf_set1(0.0f), log_f32(s)));
    vf far = vf_set1(5.0f);
    /* coefficients chosen per lane: r <= 5 -> (c, d), else (e, f) */
#define SEL(cn, en) vf_blend_le(rt, far, vf_set1(cn), vf_set1(en))
    vf tt = vf_sub(rt, SEL(1.6f, 5.0f));
    vf nt = vf_fma(SEL(0.17023821103f, 0.017337203997f), tt, SEL(1.3067284816f, 0.42868294337f));
    nt = vf_fma(nt, tt, SEL(2.7568153900f, 3.0812263860f));
    nt = vf_fma(nt, tt, SEL(1.4234372777f, 6.6579051150f));
    vf dt = vf_fma(SEL(0.12021132975f, 0.012258202635f), tt, SEL(0.73700164250f, 0.24197894225f));
    dt = vf_fma(dt, tt, vf_set1(1.0f));
#undef SEL
    *num = vf_sub(vf_set1(0.0f), nt);
    *den = dt;
}

/* Same for float64: AS 241 PPND16.  The group kernel computes the tail
 * part only on the lanes that need it, as for float32; the far-tail float32
 * kernel computes both on every lane (ndtri_lower_f64).  Same values. */
#define NDTRI_SPLIT_F64 (-0.425)

static inline void ndtri_central_f64(vd t, vd *num, vd *den)
{
    vd r = vd_fma(vd_sub(vd_set1(0.0), t), t, vd_set1(0.180625));
    vd na = vd_fma(vd_set1(2.5090809287301226727e+3), r, vd_set1(3.3430575583588128105e+4));
    na = vd_fma(na, r, vd_set1(6.7265770927008700853e+4));
    na = vd_fma(na, r, vd_set1(4.5921953931549871457e+4));
    na = vd_fma(na, r, vd_set1(1.3731693765509461125e+4));
    na = vd_fma(na, r, vd_set1(1.9715909503065514427e+3));
    na = vd_fma(na, r, vd_set1(1.3314166789178437745e+2));
    na = vd_fma(na, r, vd_set1(3.3871328727963666080e+0));
    vd nb = vd_fma(vd_set1(5.2264952788528545610e+3), r, vd_set1(2.8729085735721942674e+4));
    nb = vd_fma(nb, r, vd_set1(3.9307895800092710610e+4));
    nb = vd_fma(nb, r, vd_set1(2.1213794301586595867e+4));
    nb = vd_fma(nb, r, vd_set1(5.3941960214247511077e+3));
    nb = vd_fma(nb, r, vd_set1(6.8718700749205790830e+2));
    nb = vd_fma(nb, r, vd_set1(4.2313330701600911252e+1));
    nb = vd_fma(nb, r, vd_set1(1.0));
    *num = vd_mul(t, na);
    *den = nb;
}

static inline void ndtri_tail_f64(vd s, vd *num, vd *den)
{
    vd rt = vd_sqrt(vd_sub(vd_set1(0.0), log_f64(s)));
    vd far = vd_set1(5.0);
#define SEL(cn, en) vd_blend_le(rt, far, vd_set1(cn), vd_set1(en))
    vd tt = vd_sub(rt, SEL(1.6, 5.0));
    vd nt = vd_fma(SEL(7.74545014278341407640e-4, 2.01033439929228813265e-7), tt,
                   SEL(2.27238449892691845833e-2, 2.71155556874348757815e-5));
    nt = vd_fma(nt, tt, SEL(2.41780725177450611770e-1, 1.24266094738807843860e-3));
    nt = vd_fma(nt, tt, SEL(1.27045825245236838258e+0, 2.65321895265761230930e-2));
    nt = vd_fma(nt, tt, SEL(3.64784832476320460504e+0, 2.96560571828504891230e-1));
    nt = vd_fma(nt, tt, SEL(5.76949722146069140550e+0, 1.78482653991729133580e+0));
    nt = vd_fma(nt, tt, SEL(4.63033784615654529590e+0, 5.46378491116411436990e+0));
    nt = vd_fma(nt, tt, SEL(1.42343711074968357734e+0, 6.65790464350110377720e+0));
    vd dt = vd_fma(SEL(1.05075007164441684324e-9, 2.04426310338993978564e-15), tt,
                   SEL(5.47593808499534494600e-4, 1.42151175831644588870e-7));
    dt = vd_fma(dt, tt, SEL(1.51986665636164571966e-2, 1.84631831751005468180e-5));
    dt = vd_fma(dt, tt, SEL(1.48103976427480074590e-1, 7.86869131145613259100e-4));
    dt = vd_fma(dt, tt, SEL(6.89767334985100004550e-1, 1.48753612908506148525e-2));
    dt = vd_fma(dt, tt, SEL(1.67638483018380384940e+0, 1.36929880922735805310e-1));
    dt = vd_fma(dt, tt, SEL(2.05319162663775882187e+0, 5.99832206555887937690e-1));
    dt = vd_fma(dt, tt, vd_set1(1.0));
#undef SEL
    *num = vd_sub(vd_set1(0.0), nt);
    *den = dt;
}

/* Both parts on every lane, one division (exact as for float32: nt, dt > 0
 * where the tail is selected). */
static inline vd ndtri_lower_f64(vd s)
{
    vd t = vd_sub(s, vd_set1(0.5));
    vd cn, cd, tn, td;
    ndtri_central_f64(t, &cn, &cd);
    ndtri_tail_f64(s, &tn, &td);
    vd num = vd_blend_le(vd_set1(NDTRI_SPLIT_F64), t, cn, tn);
    vd den = vd_blend_le(vd_set1(NDTRI_SPLIT_F64), t, cd, td);
    return vd_div(num, den);
}

/* Truncated standard normal by inversion, one word per element.
 * u = (k + 1/2) 2^-23 and 1 - u are both exact, so the lower tail
 * probability pl and the upper one pu are each computed without
 * cancellation; the quantile is taken on the smaller one, s. */
static inline void truncnorm_prob_f32(const fi_params *p, vu w, vf *pl, vf *pu, vf *s)
{
    vf k = vf_from_i32(vu_srl(w, 9));
    vf u = vf_fma(k, vf_set1(0x1p-23f), vf_set1(0x1p-24f));
    vf v = vf_fma(k, vf_set1(-0x1p-23f), vf_set1(1.0f - 0x1p-24f));
    *pl = vf_fma(u, vf_set1(p->f_d), vf_set1(p->f_pa));
    *pu = vf_fma(v, vf_set1(p->f_d), vf_set1(p->f_qb));
    *s = vf_max(vf_min(*pl, *pu), vf_set1(0x1p-126f));
}

/* From the lower quantile x of s back to the sample: negated if s was the
 * upper tail, mirrored back, scaled, clamped into the window. */
static inline vf truncnorm_finish_f32(const fi_params *p, vf x, vf pl, vf pu)
{
    x = vf_blend_lt(pu, pl, vf_sub(vf_set1(0.0f), x), x);
    x = vf_mul(x, vf_set1(p->f_flip));
    vf y = vf_fma(x, vf_set1(p->f_std), vf_set1(p->f_mean));
    return vf_min(vf_max(y, vf_set1(p->f_lo)), vf_set1(p->f_hi));
}

/* The double-precision inversion from u in (0, 1) (1 - u exact), in two
 * halves around ndtri_lower_f64 as for float32. */
static inline void truncnorm_prob_f64(const fi_params *p, vd u, vd *pl, vd *pu, vd *s)
{
    vd v = vd_sub(vd_set1(1.0), u);
    *pl = vd_fma(u, vd_set1(p->d_d), vd_set1(p->d_pa));
    *pu = vd_fma(v, vd_set1(p->d_d), vd_set1(p->d_qb));
    *s = vd_max(vd_min(*pl, *pu), vd_set1(0x1p-1022));
}

static inline vd truncnorm_finish_f64(const fi_params *p, vd x, vd pl, vd pu)
{
    x = vd_blend_lt(pu, pl, vd_sub(vd_set1(0.0), x), x);
    x = vd_mul(x, vd_set1(p->d_flip));
    vd y = vd_fma(x, vd_set1(p->d_std), vd_set1(p->d_mean));
    return vd_min(vd_max(y, vd_set1(p->d_lo)), vd_set1(p->d_hi));
}

static inline vd truncnorm_u_f64(const fi_params *p, vd u)
{
    vd pl, pu, s;
    truncnorm_prob_f64(p, u, &pl, &pu, &s);
    return truncnorm_finish_f64(p, ndtri_lower_f64(s), pl, pu);
}

/* u = (k + 1/2) 2^-52 with a 52-bit k = (wa >> 6) 2^26 + (wb >> 6) */
static inline vd truncnorm_unit_f64(vuh wa, vuh wb)
{
    vd hi = vd_mul(vd_from_u32(vuh_srl(wa, 6)), vd_set1(0x1p-26));
    vd lo = vd_fma(vd_from_u32(vuh_srl(wb, 6)), vd_set1(0x1p-52), vd_set1(0x1p-53));
    return vd_add(hi, lo);
}

/* Float32 family, far-tail windows (correction 1.1): the float32 path's u,
 * (k + 1/2) 2^-23 from the top 23 bits of one word, then the float64
 * inversion, rounded once to float32. */
static inline vd truncnorm_far_f64(const fi_params *p, vuh w)
{
    vd k = vd_from_u32(vuh_srl(w, 9));
    return truncnorm_u_f64(p, vd_fma(k, vd_set1(0x1p-23), vd_set1(0x1p-24)));
}

/* ------------------------------------------------------------------ */
/* Groups.  A kernel fills a batch of ng whole groups (g .. g + ng - 1) at
 * dst: first the Philox blocks of the whole batch, then the transforms.
 * Batching puts several independent dependency chains (Philox rounds, the
 * log/div/sqrt chains of Box-Muller) next to each other in the instruction
 * stream, where out-of-order execution can overlap them; it changes no
 * value, since every lane is computed exactly as alone. */

#define FI_BATCH 4u     /* groups per batch, most kinds */
#define FI_TN_BATCH 4u  /* groups per batch, truncated normal (float32 family) */
#define FI_NB (FI_GROUP_BLOCKS / FI_W)  /* vu_philox calls per group */

/* c[k] = the FI_W blocks starting at block 16 g + k FI_W, k < ng FI_NB. */
FI_INLINE void philox_groups(const fi_ctx *x, uint64_t g, unsigned ng, vu c[][4])
{
    uint64_t b = g * FI_GROUP_BLOCKS;
    unsigned n = ng * FI_NB, k = 0;
    for (; k + 1 < n; k += 2)
        vu_philox2(&x->keys, b + (uint64_t)k * FI_W, b + (uint64_t)(k + 1) * FI_W, c[k], c[k + 1]);
    if (k < n)
        vu_philox(&x->keys, b + (uint64_t)k * FI_W, c[k]);
}

enum { OUT_F32 = 0, OUT_F16 = 1, OUT_BF16 = 2 };

/* Store ng groups of float32-family values (v in element order).  kind is
 * a constant wherever this is inlined, so the branch disappears. */
FI_INLINE void store_groups32(void *dst, const vf *v, unsigned ng, int kind)
{
    if (kind == OUT_BF16) { /* FI_NV32 is even: narrow vectors in pairs */
        for (unsigned i = 0; i < ng * FI_NV32; i += 2)
            vf_store2_bf16((uint16_t *)dst + i * FI_W, v[i], v[i + 1]);
        return;
    }
    for (unsigned i = 0; i < ng * FI_NV32; i++) {
        if (kind == OUT_F32)
            vf_store((float *)dst + i * FI_W, v[i]);
        else
            vf_store_f16((uint16_t *)dst + i * FI_W, v[i]);
    }
}

/* raw: the 64 words of the group's 16 blocks, in order. */
FI_INLINE void groups_raw(const fi_ctx *x, uint64_t g, unsigned ng, void *dst)
{
    vu c[FI_BATCH * FI_NB][4];
    philox_groups(x, g, ng, c);
    for (unsigned k = 0; k < ng * FI_NB; k++)
        vu_store_interleave4((uint32_t *)dst + 4 * FI_W * k, c[k][0], c[k][1], c[k][2], c[k][3]);
}

/* float32 family, uniform: element 16j + l <- word j of lane l. */
FI_INLINE void groups_uniform32(const fi_ctx *x, uint64_t g, unsigned ng, void *dst, int kind)
{
    const fi_params *p = x->p;
    vf lo = vf_set1(p->f_lo), sc = vf_set1(p->f_scale), hi = vf_set1(p->f_hi);
    vu c[FI_BATCH * FI_NB][4];
    vf v[FI_BATCH * FI_NV32];
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned j = 0; j < 4; j++)
                v[gi * FI_NV32 + (16 * j + l) / FI_W] =
                    vf_min(vf_fma(unit_f32(c[gi * FI_NB + l / FI_W][j]), sc, lo), hi);
    store_groups32(dst, v, ng, kind);
}

/* float32 family, normal: elements l and 16 + l <- Box-Muller (cos, sin) of
 * words 0, 1 of lane l; elements 32 + l and 48 + l <- words 2, 3. */
FI_INLINE void groups_normal32(const fi_ctx *x, uint64_t g, unsigned ng, void *dst, int kind)
{
    const fi_params *p = x->p;
    vf mean = vf_set1(p->f_mean), sd = vf_set1(p->f_std);
    vu c[FI_BATCH * FI_NB][4];
    vf v[FI_BATCH * FI_NV32];
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned j = 0; j < 2; j++) {
                const vu *w = c[gi * FI_NB + l / FI_W];
                vf zc, zs;
                boxmuller_f32(w[2 * j], w[2 * j + 1], &zc, &zs);
                v[gi * FI_NV32 + (32 * j + l) / FI_W] = vf_fma(zc, sd, mean);
                v[gi * FI_NV32 + (32 * j + 16 + l) / FI_W] = vf_fma(zs, sd, mean);
            }
    store_groups32(dst, v, ng, kind);
}

/* float32 family, truncated normal: element 16j + l <- word j of lane l.
 * The central rational is computed on every lane; the tail one only on the
 * lanes with t < -0.425, gathered into full vectors (the last one padded
 * with a harmless value) and scattered back; then one division per lane.
 * The gather goes through memory; a batch of several groups gives the
 * stores time to land and the tail several vectors to overlap. */
#define FI_TN_NV (FI_TN_BATCH * FI_NV32)
#define FI_TN_N (FI_TN_BATCH * FI_GROUP_N32)

FI_INLINE void groups_truncnorm32(const fi_ctx *x, uint64_t g, unsigned ng, void *dst, int kind)
{
    const fi_params *p = x->p;
    const vf split = vf_set1(NDTRI_SPLIT_F32);
    vu c[FI_TN_BATCH * FI_NB][4];
    vf pl[FI_TN_NV], pu[FI_TN_NV], t[FI_TN_NV], num[FI_TN_NV], den[FI_TN_NV];
    float tail_s[FI_TN_N + FI_W], tail_num[FI_TN_N + FI_W], tail_den[FI_TN_N + FI_W];
    unsigned first[FI_TN_NV], ntail = 0; /* first[i]: where vector i's tail lanes start */
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned j = 0; j < 4; j++) {
                unsigned i = gi * FI_NV32 + (16 * j + l) / FI_W;
                vf s;
                truncnorm_prob_f32(p, c[gi * FI_NB + l / FI_W][j], &pl[i], &pu[i], &s);
                t[i] = vf_sub(s, vf_set1(0.5f));
                ndtri_central_f32(t[i], &num[i], &den[i]);
                first[i] = ntail;
                ntail += vf_compress_lt(tail_s + ntail, t[i], split, s);
            }
    unsigned k = 0;
    if (ntail) {
        vf_store(tail_s + ntail, vf_set1(0.25f)); /* padding: any s in (0, 0.5] */
        for (; k < ntail; k += FI_W) {
            vf tn, td;
            ndtri_tail_f32(vf_load(tail_s + k), &tn, &td);
            vf_store(tail_num + k, tn);
            vf_store(tail_den + k, td);
        }
    }
    /* the scatter reads up to FI_W floats past the last tail lane (and
     * discards them): keep them initialized */
    vf_store(tail_num + k, vf_set1(0.0f));
    vf_store(tail_den + k, vf_set1(1.0f));
    for (unsigned i = 0; i < ng * FI_NV32; i++) {
        vf n = vf_expand_lt(tail_num + first[i], t[i], split, num[i]);
        vf d = vf_expand_lt(tail_den + first[i], t[i], split, den[i]);
        num[i] = truncnorm_finish_f32(p, vf_div(n, d), pl[i], pu[i]);
    }
    store_groups32(dst, num, ng, kind);
}

/* float32 family, truncated normal on a far-tail window (p->far32):
 * element 16j + l <- word j of lane l, as above, through the double
 * inversion; the doubles are rounded to float32 one by one (a plain C
 * conversion: round to nearest even on every path). */
FI_INLINE void groups_truncnorm_far32(const fi_ctx *x, uint64_t g, unsigned ng, void *dst,
                                      int kind)
{
    vu c[FI_TN_BATCH * FI_NB][4];
    _Alignas(64) double y[FI_TN_N];
    _Alignas(64) float f[FI_TN_N];
    vf v[FI_TN_NV];
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned j = 0; j < 4; j++)
                for (unsigned h = 0; h < FI_W / FI_WD; h++)
                    vd_store(y + gi * FI_GROUP_N32 + 16 * j + l + h * FI_WD,
                             truncnorm_far_f64(x->p, vu_half(c[gi * FI_NB + l / FI_W][j], (int)h)));
    for (unsigned i = 0; i < ng * FI_GROUP_N32; i++) f[i] = (float)y[i];
    for (unsigned i = 0; i < ng * FI_NV32; i++) v[i] = vf_load(f + i * FI_W);
    store_groups32(dst, v, ng, kind);
}

/* float64, uniform: element 16j + l <- words 2j, 2j + 1 of lane l.  The
 * blocks are generated FI_W at a time and used in halves of FI_WD lanes. */
FI_INLINE void groups_uniform64(const fi_ctx *x, uint64_t g, unsigned ng, void *dst)
{
    const fi_params *p = x->p;
    vd lo = vd_set1(p->d_lo), sc = vd_set1(p->d_scale), hi = vd_set1(p->d_hi);
    vu c[FI_BATCH * FI_NB][4];
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned h = 0; h < FI_W / FI_WD; h++) {
                const vu *w = c[gi * FI_NB + l / FI_W];
                double *o = (double *)dst + gi * FI_GROUP_N64 + l + h * FI_WD;
                for (unsigned j = 0; j < 2; j++) {
                    vd u = unit_f64(vu_half(w[2 * j], (int)h), vu_half(w[2 * j + 1], (int)h));
                    vd_store(o + 16 * j, vd_min(vd_fma(u, sc, lo), hi));
                }
            }
}

/* float64, normal: elements l, 16 + l <- Box-Muller (cos, sin), radius from
 * words 0, 1 and angle from words 2, 3 of lane l. */
FI_INLINE void groups_normal64(const fi_ctx *x, uint64_t g, unsigned ng, void *dst)
{
    const fi_params *p = x->p;
    vd mean = vd_set1(p->d_mean), sd = vd_set1(p->d_std);
    vu c[FI_BATCH * FI_NB][4];
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned h = 0; h < FI_W / FI_WD; h++) {
                const vu *w = c[gi * FI_NB + l / FI_W];
                double *o = (double *)dst + gi * FI_GROUP_N64 + l + h * FI_WD;
                vd zc, zs;
                boxmuller_f64(vu_half(w[0], (int)h), vu_half(w[1], (int)h),
                              vu_half(w[2], (int)h), vu_half(w[3], (int)h), &zc, &zs);
                vd_store(o, vd_fma(zc, sd, mean));
                vd_store(o + 16, vd_fma(zs, sd, mean));
            }
}

/* float64, truncated normal: element 16j + l <- words 2j, 2j + 1 of lane l.
 * As for float32: the central rational on every lane, the tail one only on
 * the lanes with t < -0.425, gathered into full vectors. */
#define FI_TN64_BATCH 8u
#define FI_TN64_NV (FI_TN64_BATCH * FI_GROUP_N64 / FI_WD)
#define FI_TN64_N (FI_TN64_BATCH * FI_GROUP_N64)

FI_INLINE void groups_truncnorm64(const fi_ctx *x, uint64_t g, unsigned ng, void *dst)
{
    const fi_params *p = x->p;
    const vd split = vd_set1(NDTRI_SPLIT_F64);
    vu c[FI_TN64_BATCH * FI_NB][4];
    vd pl[FI_TN64_NV], pu[FI_TN64_NV], t[FI_TN64_NV], num[FI_TN64_NV], den[FI_TN64_NV];
    double tail_s[FI_TN64_N + FI_WD], tail_num[FI_TN64_N + FI_WD], tail_den[FI_TN64_N + FI_WD];
    unsigned first[FI_TN64_NV], ntail = 0;
    philox_groups(x, g, ng, c);
    for (unsigned gi = 0; gi < ng; gi++)
        for (unsigned l = 0; l < FI_GROUP_BLOCKS; l += FI_W)
            for (unsigned h = 0; h < FI_W / FI_WD; h++)
                for (unsigned j = 0; j < 2; j++) {
                    const vu *w = c[gi * FI_NB + l / FI_W];
                    unsigned i = (gi * FI_GROUP_N64 + 16 * j + l + h * FI_WD) / FI_WD;
                    vd s;
                    truncnorm_prob_f64(p, truncnorm_unit_f64(vu_half(w[2 * j], (int)h),
                                                             vu_half(w[2 * j + 1], (int)h)),
                                       &pl[i], &pu[i], &s);
                    t[i] = vd_sub(s, vd_set1(0.5));
                    ndtri_central_f64(t[i], &num[i], &den[i]);
                    first[i] = ntail;
                    ntail += vd_compress_lt(tail_s + ntail, t[i], split, s);
                }
    unsigned k = 0;
    if (ntail) {
        vd_store(tail_s + ntail, vd_set1(0.25)); /* padding: any s in (0, 0.5] */
        for (; k < ntail; k += FI_WD) {
            vd tn, td;
            ndtri_tail_f64(vd_load(tail_s + k), &tn, &td);
            vd_store(tail_num + k, tn);
            vd_store(tail_den + k, td);
        }
    }
    /* the scatter reads up to FI_WD doubles past the last tail lane */
    vd_store(tail_num + k, vd_set1(0.0));
    vd_store(tail_den + k, vd_set1(1.0));
    for (unsigned i = 0; i < ng * FI_GROUP_N64 / FI_WD; i++) {
        vd n = vd_expand_lt(tail_num + first[i], t[i], split, num[i]);
        vd d = vd_expand_lt(tail_den + first[i], t[i], split, den[i]);
        vd_store((double *)dst + i * FI_WD, truncnorm_finish_f64(p, vd_div(n, d), pl[i], pu[i]));
    }
}

FI_INLINE void groups_uniform_f32(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_uniform32(x, g, ng, d, OUT_F32); }
FI_INLINE void groups_uniform_f16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_uniform32(x, g, ng, d, OUT_F16); }
FI_INLINE void groups_uniform_bf16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_uniform32(x, g, ng, d, OUT_BF16); }
FI_INLINE void groups_normal_f32(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_normal32(x, g, ng, d, OUT_F32); }
FI_INLINE void groups_normal_f16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_normal32(x, g, ng, d, OUT_F16); }
FI_INLINE void groups_normal_bf16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_normal32(x, g, ng, d, OUT_BF16); }
FI_INLINE void groups_truncnorm_f32(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm32(x, g, ng, d, OUT_F32); }
FI_INLINE void groups_truncnorm_f16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm32(x, g, ng, d, OUT_F16); }
FI_INLINE void groups_truncnorm_bf16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm32(x, g, ng, d, OUT_BF16); }
FI_INLINE void groups_tnfar_f32(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm_far32(x, g, ng, d, OUT_F32); }
FI_INLINE void groups_tnfar_f16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm_far32(x, g, ng, d, OUT_F16); }
FI_INLINE void groups_tnfar_bf16(const fi_ctx *x, uint64_t g, unsigned ng, void *d) { groups_truncnorm_far32(x, g, ng, d, OUT_BF16); }

/* ------------------------------------------------------------------ */
/* Drive batches over [offset, offset + n): runs of up to `batch` whole
 * groups are written in place; a partial group at either end is generated
 * alone into a scratch group and the needed part copied out.  The kernel
 * has a single call site, so it is inlined into the loop. */

typedef void (*groups_fn)(const fi_ctx *, uint64_t g, unsigned ng, void *dst);

FI_INLINE void drive(groups_fn fn, unsigned batch, const fi_params *p, uint64_t offset,
                     uint64_t n, void *out, unsigned gsize, size_t itemsize)
{
    _Alignas(64) unsigned char scratch[FI_GROUP_N32 * 8];
    unsigned char *o = (unsigned char *)out;
    uint64_t g = offset / gsize;
    unsigned skip = (unsigned)(offset % gsize);
    fi_ctx x;
    fi_fpenv env;
    if (n == 0) return;
    env = fi_fpenv_enter();
    ctx_init(&x, p);
    while (n) {
        uint64_t take = gsize - skip;
        unsigned ng = 1;
        int whole;
        if (take > n) take = n;
        whole = take == gsize;
        if (whole) {
            uint64_t avail = n / gsize;
            ng = avail < batch ? (unsigned)avail : batch;
            take = (uint64_t)ng * gsize;
        }
        fn(&x, g, ng, whole ? (void *)o : (void *)scratch);
        if (!whole) memcpy(o, scratch + skip * itemsize, (size_t)take * itemsize);
        o += take * itemsize;
        n -= take;
        g += ng;
        skip = 0;
    }
    fi_fpenv_leave(env);
}

#ifdef FI_HAVE_STREAM
#define FI_STAGE_MAX 8192 /* staging bytes: several batches, within L1 */
/* The same values as drive(), written with streaming stores: the groups
 * are generated into a staging buffer (in L1) and copied out in whole,
 * aligned 64-byte lines; the bytes before the first line boundary and
 * after the last are written by drive() or memcpy.  Less than a line is
 * carried over in the buffer between batches. */
FI_INLINE void drive_stream(groups_fn fn, unsigned batch, const fi_params *p, uint64_t offset,
                            uint64_t n, void *out, unsigned gsize, size_t itemsize)
{
    _Alignas(64) unsigned char buf[64 + FI_STAGE_MAX];
    unsigned char *o = (unsigned char *)out;
    size_t mis = (size_t)((uintptr_t)o % 64), gbytes = (size_t)gsize * itemsize;
    uint64_t head = mis ? (64 - mis) / itemsize : 0, g, left;
    size_t rd, wr = 0;
    fi_ctx x;
    fi_fpenv env;
    if (head) {
        drive(fn, batch, p, offset, head, o, gsize, itemsize);
        offset += head;
        n -= head;
        o += head * itemsize;
    }
    g = offset / gsize;
    rd = (size_t)(offset % gsize) * itemsize; /* skip into the first group */
    left = n * itemsize;
    env = fi_fpenv_enter();
    ctx_init(&x, p);
    while (left) {
        size_t avail, body;
        do { /* fill the staging buffer, batch by batch */
            /* bytes still to generate (rd > wr only before the first batch) */
            uint64_t need = wr >= rd ? left - (wr - rd) : left + (rd - wr);
            uint64_t want = (need + gbytes - 1) / gbytes;
            unsigned ng = want < batch ? (unsigned)want : batch;
            fn(&x, g, ng, buf + wr);
            g += ng;
            wr += ng * gbytes;
        } while (wr - rd < left && wr + (size_t)batch * gbytes <= sizeof buf);
        avail = wr - rd;
        if (avail >= left) {
            body = (size_t)(left & ~(uint64_t)63);
            fi_stream64(o, buf + rd, body);
            memcpy(o + body, buf + rd + body, (size_t)left - body);
            break;
        }
        body = avail & ~(size_t)63;
        fi_stream64(o, buf + rd, body);
        o += body;
        left -= body;
        rd += body;
        memmove(buf, buf + rd, wr - rd); /* under 64 bytes */
        wr -= rd;
        rd = 0;
    }
    fi_stream_fence();
    fi_fpenv_leave(env);
}

FI_INLINE void drive_auto(groups_fn fn, unsigned batch, const fi_params *p, uint64_t offset,
                          uint64_t n, void *out, unsigned gsize, size_t itemsize)
{
    if (p->stream && n >= 1024 && (uintptr_t)out % itemsize == 0)
        drive_stream(fn, batch, p, offset, n, out, gsize, itemsize);
    else
        drive(fn, batch, p, offset, n, out, gsize, itemsize);
}
#define drive drive_auto
#endif

static void fill_raw(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_raw, FI_BATCH, p, off, n, out, FI_GROUP_N32, 4); }
static void fill_uniform_f32(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_uniform_f32, FI_BATCH, p, off, n, out, FI_GROUP_N32, 4); }
static void fill_uniform_f16(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_uniform_f16, FI_BATCH, p, off, n, out, FI_GROUP_N32, 2); }
static void fill_uniform_bf16(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_uniform_bf16, FI_BATCH, p, off, n, out, FI_GROUP_N32, 2); }
static void fill_uniform_f64(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_uniform64, FI_BATCH, p, off, n, out, FI_GROUP_N64, 8); }
#if defined(__GNUC__) && !defined(__clang__)
/* Box-Muller is a few long latency chains (log with a division, sqrt,
 * polynomials) per batch; GCC's pre-allocation scheduler interleaves the
 * independent chains of a batch, which out-of-order execution alone cannot
 * fully do within its window.  (Only here: it slows down the Philox-bound
 * uniform kernels.)  Scheduling reorders independent operations only, so
 * every value is unchanged; fp-contract=off is restated so that the
 * optimize pragma cannot bring back the compiler's default contraction. */
#pragma GCC push_options
#pragma GCC optimize("schedule-insns", "fp-contract=off")
#endif
static void fill_normal_f32(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_normal_f32, FI_BATCH, p, off, n, out, FI_GROUP_N32, 4); }
static void fill_normal_f16(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_normal_f16, FI_BATCH, p, off, n, out, FI_GROUP_N32, 2); }
static void fill_normal_bf16(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_normal_bf16, FI_BATCH, p, off, n, out, FI_GROUP_N32, 2); }
static void fill_normal_f64(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_normal64, FI_BATCH, p, off, n, out, FI_GROUP_N64, 8); }
/* (the float64 truncated normal gains from the same scheduling: its
 * central rational and division are long chains too) */
static void fill_truncnorm_f64(const fi_params *p, uint64_t off, uint64_t n, void *out) { drive(groups_truncnorm64, FI_TN64_BATCH, p, off, n, out, FI_GROUP_N64, 8); }
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#endif
static void fill_truncnorm_f32(const fi_params *p, uint64_t off, uint64_t n, void *out)
{
    if (p->far32) drive(groups_tnfar_f32, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 4);
    else drive(groups_truncnorm_f32, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 4);
}
static void fill_truncnorm_f16(const fi_params *p, uint64_t off, uint64_t n, void *out)
{
    if (p->far32) drive(groups_tnfar_f16, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 2);
    else drive(groups_truncnorm_f16, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 2);
}
static void fill_truncnorm_bf16(const fi_params *p, uint64_t off, uint64_t n, void *out)
{
    if (p->far32) drive(groups_tnfar_bf16, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 2);
    else drive(groups_truncnorm_bf16, FI_TN_BATCH, p, off, n, out, FI_GROUP_N32, 2);
}

const fi_kernel_table FI_TABLE = {
    FI_TABLE_NAME,
    {
        /* FI_F32, FI_F64, FI_F16, FI_BF16 */
        {fill_raw, fill_raw, fill_raw, fill_raw},
        {fill_uniform_f32, fill_uniform_f64, fill_uniform_f16, fill_uniform_bf16},
        {fill_normal_f32, fill_normal_f64, fill_normal_f16, fill_normal_bf16},
        {fill_truncnorm_f32, fill_truncnorm_f64, fill_truncnorm_f16, fill_truncnorm_bf16},
    },
};

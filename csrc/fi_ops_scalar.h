/*
 * Vector operations for the portable scalar path: every "vector" has one
 * lane.  This file is also the specification of the operation set that
 * fi_kernels_body.h uses; fi_ops_avx2.h and fi_ops_avx512.h implement the
 * same operations on wider registers with exactly the same results per lane:
 *
 *   vu   FI_W  lanes of uint32      vf   FI_W  lanes of float
 *   vuh  FI_WD lanes of uint32      vd   FI_WD lanes of double
 *
 * Floating-point operations are single IEEE operations (add, sub, mul, div,
 * sqrt, fused multiply-add, min/max of non-NaN values); conversions from
 * integers round to nearest even; all integer operations are exact.  The
 * kernels never produce NaN, so min/max operand order does not matter.
 *
 * Besides the lane-wise operations there are a few whole-vector ones whose
 * results are still defined lane by lane:
 *   fi_philox_keys_init, vu_philox,   FI_W consecutive Philox4x32-10 blocks
 *   vu_philox2                        (or two runs of them; how the rounds
 *                                     are scheduled is the implementation's
 *                                     business);
 *   vu_half                           lanes [h*FI_WD, (h+1)*FI_WD) of a vu;
 *   vf_compress_lt / vf_expand_lt     move the lanes selected by a < b to or
 *                                     from consecutive floats in memory, in
 *                                     lane order (to compute a rare branch on
 *                                     the lanes that need it only);
 *   vf_store2_bf16                    two vectors as 2 FI_W bfloat16 values.
 * Memory operands may have any alignment.  All of it assumes the default
 * floating-point environment, which the kernels establish (fi_fpenv.h).
 */
#ifndef FASTINIT_OPS_SCALAR_H
#define FASTINIT_OPS_SCALAR_H

#include <math.h>
#include <stdint.h>
#include <string.h>
#include "fi_kernels.h"

#define FI_W 1
#define FI_WD 1

typedef uint32_t vu;
typedef float vf;
typedef uint32_t vuh;
typedef double vd;

static inline float fi_bits_to_f(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t fi_f_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline double fi_bits_to_d(uint64_t u) { double d; memcpy(&d, &u, 8); return d; }
static inline uint64_t fi_d_to_bits(double d) { uint64_t u; memcpy(&u, &d, 8); return u; }

/* ---- Philox4x32-10 ---- */
/* The round keys of one (key, stream), set up once per fill call. */
typedef struct fi_philox_keys {
    uint32_t k0[FI_PHILOX_ROUNDS], k1[FI_PHILOX_ROUNDS];
    uint32_t s0, s1;
} fi_philox_keys;

static inline void fi_philox_keys_init(fi_philox_keys *ks, uint32_t k0, uint32_t k1,
                                       uint32_t s0, uint32_t s1)
{
    for (int r = 0; r < FI_PHILOX_ROUNDS; r++) {
        ks->k0[r] = k0;
        ks->k1[r] = k1;
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ks->s0 = s0;
    ks->s1 = s1;
}

/* out[j] lane l = word j of the block with counter (b + l, stream); the
 * low word of b + l never carries (callers start at multiples of FI_W
 * inside a 16-block group). */
static inline void vu_philox(const fi_philox_keys *ks, uint64_t b, vu out[4])
{
    uint32_t c0 = (uint32_t)b, c1 = (uint32_t)(b >> 32), c2 = ks->s0, c3 = ks->s1;
    for (int r = 0; r < FI_PHILOX_ROUNDS; r++) {
        uint64_t p0 = (uint64_t)FI_PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)FI_PHILOX_M1 * c2;
        c0 = (uint32_t)(p1 >> 32) ^ c1 ^ ks->k0[r];
        c2 = (uint32_t)(p0 >> 32) ^ c3 ^ ks->k1[r];
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* vu_philox for two block indices at once (SIMD paths interleave them). */
static inline void vu_philox2(const fi_philox_keys *ks, uint64_t b0, uint64_t b1, vu out0[4],
                              vu out1[4])
{
    vu_philox(ks, b0, out0);
    vu_philox(ks, b1, out1);
}

/* ---- uint32 lanes (full width) ---- */
static inline vu vu_set1(uint32_t x) { return x; }
static inline vu vu_add(vu a, vu b) { return a + b; }
static inline vu vu_sub(vu a, vu b) { return a - b; }
static inline vu vu_and(vu a, vu b) { return a & b; }
static inline vu vu_srl(vu a, int n) { return a >> n; }
static inline vu vu_sll(vu a, int n) { return a << n; }
/* lanes [h * FI_WD, (h + 1) * FI_WD) of a, for h < FI_W / FI_WD */
static inline vuh vu_half(vu a, int h) { (void)h; return a; }
/* Store 4 vectors of words as block-major words: dst[4*l + j] = c_j[l]. */
static inline void vu_store_interleave4(uint32_t *dst, vu c0, vu c1, vu c2, vu c3)
{
    uint32_t w[4] = {c0, c1, c2, c3};
    memcpy(dst, w, sizeof w);
}

/* ---- float lanes ---- */
static inline vf vf_set1(float x) { return x; }
static inline vf vf_add(vf a, vf b) { return a + b; }
static inline vf vf_sub(vf a, vf b) { return a - b; }
static inline vf vf_mul(vf a, vf b) { return a * b; }
static inline vf vf_div(vf a, vf b) { return a / b; }
static inline vf vf_fma(vf a, vf b, vf c) { return fmaf(a, b, c); }
static inline vf vf_sqrt(vf a) { return sqrtf(a); }
static inline vf vf_min(vf a, vf b) { return a < b ? a : b; }
static inline vf vf_max(vf a, vf b) { return a > b ? a : b; }
/* signed int32 -> float, round to nearest even */
static inline vf vf_from_i32(vu a) { return (float)(int32_t)a; }
/* a < b ? x : y,  a <= b ? x : y,  cond != 0 ? x : y */
static inline vf vf_blend_lt(vf a, vf b, vf x, vf y) { return a < b ? x : y; }
static inline vf vf_blend_le(vf a, vf b, vf x, vf y) { return a <= b ? x : y; }
static inline vf vf_blend_u(vu cond, vf x, vf y) { return cond ? x : y; }
static inline vf vf_neg_if(vf x, vu cond) { return cond ? -x : x; }
/* x = m * 2**e with m in [sqrt(1/2), sqrt(2)); x positive and normal. */
static inline void vf_decomp(vf x, vf *m, vf *e)
{
    uint32_t ix = fi_f_to_bits(x) - 0x3f3504f3u; /* bits of sqrt(1/2) */
    *e = (float)((int32_t)ix >> 23);
    *m = fi_bits_to_f((ix & 0x007fffffu) + 0x3f3504f3u);
}

/* float32 -> binary16, round to nearest even (as vcvtps2ph with imm 0). */
static inline uint16_t fi_f32_to_f16(float f)
{
    uint32_t x = fi_f_to_bits(f);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t o;
    x &= 0x7fffffffu;
    if (x >= 0x47800000u) {              /* >= 65536, inf or NaN */
        /* NaN: quieted, with the top 10 bits of its payload (as vcvtps2ph) */
        o = x > 0x7f800000u ? 0x7e00u | ((x >> 13) & 0x3ffu) : 0x7c00u;
    } else if (x < 0x38800000u) {        /* result subnormal or zero */
        /* Adding 0.5 aligns the half's subnormal grid with the float's ulp;
         * the add rounds to nearest even. */
        float t = fi_bits_to_f(x) + 0.5f;
        o = fi_f_to_bits(t) - 0x3f000000u;
    } else {
        uint32_t odd = (x >> 13) & 1u;
        x += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
        o = x >> 13;                     /* may carry into infinity: correct */
    }
    return (uint16_t)(o | sign);
}
/* float32 -> bfloat16, round to nearest even. */
static inline uint16_t fi_f32_to_bf16(float f)
{
    uint32_t x = fi_f_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}
static inline vf vf_load(const float *src) { vf v; memcpy(&v, src, 4); return v; }
static inline void vf_store(float *dst, vf v) { memcpy(dst, &v, 4); }
/* Store the lanes of x where a < b to dst[0], dst[1], ... in lane order and
 * return how many; may write up to FI_W floats at dst. */
static inline unsigned vf_compress_lt(float *dst, vf a, vf b, vf x)
{
    memcpy(dst, &x, 4);
    return a < b;
}
/* The inverse: lanes where a < b take src[0], src[1], ... in lane order, the
 * others keep y; may read up to FI_W floats at src. */
static inline vf vf_expand_lt(const float *src, vf a, vf b, vf y)
{
    return a < b ? vf_load(src) : y;
}
static inline void vf_store_f16(uint16_t *dst, vf v) { uint16_t h = fi_f32_to_f16(v); memcpy(dst, &h, 2); }
static inline void vf_store_bf16(uint16_t *dst, vf v) { uint16_t h = fi_f32_to_bf16(v); memcpy(dst, &h, 2); }
/* dst[0 .. 2 FI_W) = a, b (lets SIMD paths narrow two vectors at once) */
static inline void vf_store2_bf16(uint16_t *dst, vf a, vf b)
{
    vf_store_bf16(dst, a);
    vf_store_bf16(dst + FI_W, b);
}

/* ---- uint32 lanes (double width) ---- */
static inline vuh vuh_set1(uint32_t x) { return x; }
static inline vuh vuh_add(vuh a, vuh b) { return a + b; }
static inline vuh vuh_sub(vuh a, vuh b) { return a - b; }
static inline vuh vuh_and(vuh a, vuh b) { return a & b; }
static inline vuh vuh_srl(vuh a, int n) { return a >> n; }
static inline vuh vuh_sll(vuh a, int n) { return a << n; }

/* ---- double lanes ---- */
static inline vd vd_set1(double x) { return x; }
static inline vd vd_add(vd a, vd b) { return a + b; }
static inline vd vd_sub(vd a, vd b) { return a - b; }
static inline vd vd_mul(vd a, vd b) { return a * b; }
static inline vd vd_div(vd a, vd b) { return a / b; }
static inline vd vd_fma(vd a, vd b, vd c) { return fma(a, b, c); }
static inline vd vd_sqrt(vd a) { return sqrt(a); }
static inline vd vd_min(vd a, vd b) { return a < b ? a : b; }
static inline vd vd_max(vd a, vd b) { return a > b ? a : b; }
static inline vd vd_from_u32(vuh a) { return (double)a; }          /* exact */
static inline vd vd_from_i32(vuh a) { return (double)(int32_t)a; } /* exact */
static inline vd vd_blend_lt(vd a, vd b, vd x, vd y) { return a < b ? x : y; }
static inline vd vd_blend_le(vd a, vd b, vd x, vd y) { return a <= b ? x : y; }
static inline vd vd_blend_u(vuh cond, vd x, vd y) { return cond ? x : y; }
static inline vd vd_neg_if(vd x, vuh cond) { return cond ? -x : x; }
/* x = m * 2**e with m in [sqrt(1/2), sqrt(2)); x positive and normal. */
static inline void vd_decomp(vd x, vd *m, vd *e)
{
    const uint64_t c = 0x3fe6a09e667f3bcdull; /* bits of sqrt(1/2) */
    uint64_t ix = fi_d_to_bits(x) - c;
    *e = (double)((int64_t)ix >> 52);
    *m = fi_bits_to_d((ix & 0x000fffffffffffffull) + c);
}
static inline void vd_store(double *dst, vd v) { memcpy(dst, &v, 8); }
static inline vd vd_load(const double *src) { vd v; memcpy(&v, src, 8); return v; }
/* vf_compress_lt / vf_expand_lt for double lanes (FI_WD of them). */
static inline unsigned vd_compress_lt(double *dst, vd a, vd b, vd x)
{
    memcpy(dst, &x, 8);
    return a < b;
}
static inline vd vd_expand_lt(const double *src, vd a, vd b, vd y)
{
    return a < b ? vd_load(src) : y;
}

#endif

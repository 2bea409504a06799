/*
 * The operation set of fi_ops_scalar.h (its header comment is the
 * specification) on AVX2 registers: 8 float/uint32 lanes in a ymm, and for
 * the double-precision kernels 4 uint32 lanes in an xmm next to 4 double
 * lanes in a ymm.  Needs AVX2, FMA and F16C; the including file raises the
 * target.
 *
 * Every operation gives each lane exactly what the scalar one gives (see
 * fi_ops_avx512.h).  AVX2 lacks unsigned->double and int64->double
 * conversions and the 64-bit arithmetic shift; the replacements below are
 * exact integer and exact floating-point steps, never approximations.
 */
#ifndef FASTINIT_OPS_AVX2_H
#define FASTINIT_OPS_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include "fi_kernels.h"

#if defined(__GNUC__) || defined(__clang__)
/* the Philox rounds must be inlined into the fill loops (keys in registers) */
#define FI_OPS_INLINE static inline __attribute__((always_inline))
#else
#define FI_OPS_INLINE static inline
#endif

#define FI_W 8
#define FI_WD 4

typedef __m256i vu;
typedef __m256 vf;
typedef __m128i vuh;
typedef __m256d vd;

#define FI_ODD_LANES32 0xAA /* odd 32-bit lanes (immediate of vpblendd) */
#define FI_F32_SIGN 0x80000000u
#define FI_BF16_HALF_DOWN 0x7fffu /* half an ulp of bfloat16, less one */
#define FI_F32_QUIET 0x00400000u /* quiet-NaN bit of float32 (0x40 of bfloat16) */
#define FI_F64_SIGN 0x8000000000000000ull
/* 2**52 as a double: OR-ing an integer v < 2**52 into its mantissa gives
 * exactly 2**52 + v, so subtracting 2**52 converts v to double exactly. */
#define FI_F64_2P52_BITS 0x4330000000000000ll

/* ---- Philox4x32-10 ---- */
/* Blocks in the low halves of 64-bit lanes, even and odd blocks in two sets
 * of state vectors, and the first two rounds partly computed once for all
 * lanes: see fi_ops_avx512.h for the derivation. */
typedef struct fi_philox_keys {
    __m256i k0[FI_PHILOX_ROUNDS], k1[FI_PHILOX_ROUNDS]; /* broadcast round keys */
    __m256i x0, x1;  /* s1 ^ k1[0] (round 0) and lo(s0 M1) ^ k0[1] (round 1) */
    uint32_t c0_r0;  /* hi(s0 M1) ^ k0[0]: c0 after round 0, before ^ b_hi */
    uint32_t k1_r1;  /* k1[1] */
} fi_philox_keys;

static inline void fi_philox_keys_init(fi_philox_keys *ks, uint32_t k0, uint32_t k1,
                                       uint32_t s0, uint32_t s1)
{
    uint64_t p1 = (uint64_t)s0 * FI_PHILOX_M1;
    uint32_t rk0[FI_PHILOX_ROUNDS], rk1[FI_PHILOX_ROUNDS];
    for (int r = 0; r < FI_PHILOX_ROUNDS; r++) {
        rk0[r] = k0;
        rk1[r] = k1;
        ks->k0[r] = _mm256_set1_epi32((int)k0);
        ks->k1[r] = _mm256_set1_epi32((int)k1);
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ks->x0 = _mm256_set1_epi32((int)(s1 ^ rk1[0]));
    ks->x1 = _mm256_set1_epi32((int)((uint32_t)p1 ^ rk0[1]));
    ks->c0_r0 = (uint32_t)(p1 >> 32) ^ rk0[0];
    ks->k1_r1 = rk1[1];
}

/* High word of each 64-bit product into the low half with vpshufd (the
 * shuffle port) instead of vpsrlq (the multiply ports); the high half then
 * holds the low word, which nothing reads (fi_ops_avx512.h). */
FI_OPS_INLINE __m256i fi_hi_to_lo(__m256i p) { return _mm256_shuffle_epi32(p, 0xB1); }

/* One full round on one set. */
FI_OPS_INLINE void fi_philox_round_q(__m256i c[4], __m256i k0, __m256i k1)
{
    const __m256i m0 = _mm256_set1_epi32((int)FI_PHILOX_M0);
    const __m256i m1 = _mm256_set1_epi32((int)FI_PHILOX_M1);
    __m256i p0 = _mm256_mul_epu32(c[0], m0);
    __m256i p1 = _mm256_mul_epu32(c[2], m1);
    c[0] = _mm256_xor_si256(_mm256_xor_si256(fi_hi_to_lo(p1), c[1]), k0);
    c[2] = _mm256_xor_si256(_mm256_xor_si256(fi_hi_to_lo(p0), c[3]), k1);
    c[1] = p1;
    c[3] = p0;
}

/* Rounds 0 and 1 of both sets of the FI_W blocks starting at b. */
FI_OPS_INLINE void fi_philox_start(const fi_philox_keys *ks, uint64_t b, __m256i e[4], __m256i o[4])
{
    const __m256i m1 = _mm256_set1_epi32((int)FI_PHILOX_M1);
    const long long M0 = FI_PHILOX_M0;
    uint32_t c0 = ks->c0_r0 ^ (uint32_t)(b >> 32);  /* after round 0, every lane */
    uint64_t p0_r1 = (uint64_t)c0 * FI_PHILOX_M0;   /* round 1's p0, every lane */
    __m256i x2 = _mm256_set1_epi32((int)((uint32_t)(p0_r1 >> 32) ^ ks->k1_r1));
    __m256i c3 = _mm256_set1_epi32((int)(uint32_t)p0_r1);
    uint64_t base_m0 = (uint64_t)(uint32_t)b * FI_PHILOX_M0; /* (b_lo + lane) M0 < 2**64 */
    __m256i p0e = _mm256_add_epi64(_mm256_set1_epi64x((long long)base_m0),
                                   _mm256_setr_epi64x(0, 2 * M0, 4 * M0, 6 * M0));
    __m256i p0o = _mm256_add_epi64(p0e, _mm256_set1_epi64x(M0));
    __m256i *set[2] = {e, o}, p0[2] = {p0e, p0o};
    for (int k = 0; k < 2; k++) {
        __m256i *c = set[k];
        __m256i c2 = _mm256_xor_si256(fi_hi_to_lo(p0[k]), ks->x0);
        __m256i p1 = _mm256_mul_epu32(c2, m1);
        c[0] = _mm256_xor_si256(fi_hi_to_lo(p1), ks->x1);
        c[1] = p1;
        c[2] = _mm256_xor_si256(p0[k], x2);
        c[3] = c3;
    }
}

FI_OPS_INLINE void vu_philox(const fi_philox_keys *ks, uint64_t b, __m256i out[4])
{
    __m256i e[4], o[4];
    fi_philox_start(ks, b, e, o);
    for (int r = 2; r < FI_PHILOX_ROUNDS; r++) {
        fi_philox_round_q(e, ks->k0[r], ks->k1[r]);
        fi_philox_round_q(o, ks->k0[r], ks->k1[r]);
    }
    /* vpshufd 0xB1 swaps the 32-bit halves of each 64-bit lane */
    for (int j = 0; j < 4; j++)
        out[j] = _mm256_blend_epi32(e[j], _mm256_shuffle_epi32(o[j], 0xB1), FI_ODD_LANES32);
}

/* Two block sets; with 16 ymm registers interleaving the rounds would
 * spill, so they run one after the other (out-of-order execution overlaps
 * them). */
FI_OPS_INLINE void vu_philox2(const fi_philox_keys *ks, uint64_t b0, uint64_t b1,
                              __m256i out0[4], __m256i out1[4])
{
    vu_philox(ks, b0, out0);
    vu_philox(ks, b1, out1);
}

/* ---- uint32 lanes (full width) ---- */
static inline vu vu_set1(uint32_t x) { return _mm256_set1_epi32((int)x); }
static inline vu vu_add(vu a, vu b) { return _mm256_add_epi32(a, b); }
static inline vu vu_sub(vu a, vu b) { return _mm256_sub_epi32(a, b); }
static inline vu vu_and(vu a, vu b) { return _mm256_and_si256(a, b); }
static inline vu vu_srl(vu a, int n) { return _mm256_srli_epi32(a, n); }
static inline vu vu_sll(vu a, int n) { return _mm256_slli_epi32(a, n); }
static inline vuh vu_half(vu a, int h)
{
    return h ? _mm256_extracti128_si256(a, 1) : _mm256_castsi256_si128(a);
}
/* 4 x 8 transpose: dst[4*l + j] = c_j[l].  After the interleaves, 128-bit
 * half k of u_i holds block 4k + i; vperm2i128 puts the halves in order. */
static inline void vu_store_interleave4(uint32_t *dst, vu c0, vu c1, vu c2, vu c3)
{
    __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
    __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    _mm256_storeu_si256((__m256i *)(dst + 0), _mm256_permute2x128_si256(u0, u1, 0x20));
    _mm256_storeu_si256((__m256i *)(dst + 8), _mm256_permute2x128_si256(u2, u3, 0x20));
    _mm256_storeu_si256((__m256i *)(dst + 16), _mm256_permute2x128_si256(u0, u1, 0x31));
    _mm256_storeu_si256((__m256i *)(dst + 24), _mm256_permute2x128_si256(u2, u3, 0x31));
}

/* ---- float lanes ---- */
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_from_i32(vu a) { return _mm256_cvtepi32_ps(a); }
static inline vf vf_blend_lt(vf a, vf b, vf x, vf y)
{
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
}
static inline vf vf_blend_le(vf a, vf b, vf x, vf y)
{
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LE_OQ));
}
static inline vf vf_blend_u(vu cond, vf x, vf y)
{
    __m256i zero = _mm256_cmpeq_epi32(cond, _mm256_setzero_si256());
    return _mm256_blendv_ps(x, y, _mm256_castsi256_ps(zero));
}
static inline vf vf_neg_if(vf x, vu cond)
{
    __m256i zero = _mm256_cmpeq_epi32(cond, _mm256_setzero_si256());
    __m256i sign = _mm256_andnot_si256(zero, _mm256_set1_epi32((int)FI_F32_SIGN));
    return _mm256_castsi256_ps(_mm256_xor_si256(_mm256_castps_si256(x), sign));
}
static inline void vf_decomp(vf x, vf *m, vf *e)
{
    const __m256i c = _mm256_set1_epi32(0x3f3504f3); /* bits of sqrt(1/2) */
    __m256i ix = _mm256_sub_epi32(_mm256_castps_si256(x), c);
    *e = _mm256_cvtepi32_ps(_mm256_srai_epi32(ix, 23));
    *m = _mm256_castsi256_ps(
        _mm256_add_epi32(_mm256_and_si256(ix, _mm256_set1_epi32(0x007fffff)), c));
}
static inline vf vf_load(const float *src) { return _mm256_loadu_ps(src); }
static inline void vf_store(float *dst, vf v) { _mm256_storeu_ps(dst, v); }

/* AVX2 has no compress/expand: each 128-bit half is permuted with a
 * 16-entry table indexed by its 4-bit lane mask.
 * fi_pack4[m] lists the set lanes of m first (left-packing);
 * fi_unpack4[m][i] is the number of set lanes of m below lane i (the
 * source index of lane i when expanding). */
static const int32_t fi_pack4[16][4] = {
    {0, 0, 0, 0}, {0, 0, 0, 0}, {1, 0, 0, 0}, {0, 1, 0, 0},
    {2, 0, 0, 0}, {0, 2, 0, 0}, {1, 2, 0, 0}, {0, 1, 2, 0},
    {3, 0, 0, 0}, {0, 3, 0, 0}, {1, 3, 0, 0}, {0, 1, 3, 0},
    {2, 3, 0, 0}, {0, 2, 3, 0}, {1, 2, 3, 0}, {0, 1, 2, 3},
};
static const int32_t fi_unpack4[16][4] = {
    {0, 0, 0, 0}, {0, 1, 1, 1}, {0, 0, 1, 1}, {0, 1, 2, 2},
    {0, 0, 0, 1}, {0, 1, 1, 2}, {0, 0, 1, 2}, {0, 1, 2, 3},
    {0, 0, 0, 0}, {0, 1, 1, 1}, {0, 0, 1, 1}, {0, 1, 2, 2},
    {0, 0, 0, 1}, {0, 1, 1, 2}, {0, 0, 1, 2}, {0, 1, 2, 3},
};
/* popcount of a 4-bit m: nibble m of this constant */
#define FI_POPCOUNT4_TABLE 0x4332322132212110ull
static inline unsigned fi_popcount4(unsigned m)
{
    return (unsigned)(FI_POPCOUNT4_TABLE >> (4 * m)) & 15u;
}

static inline unsigned vf_compress_lt(float *dst, vf a, vf b, vf x)
{
    unsigned m = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, b, _CMP_LT_OQ));
    unsigned lo = m & 15u, hi = m >> 4, nlo = fi_popcount4(lo);
    __m128 xlo = _mm256_castps256_ps128(x), xhi = _mm256_extractf128_ps(x, 1);
    _mm_storeu_ps(dst, _mm_permutevar_ps(xlo, _mm_loadu_si128((const __m128i *)fi_pack4[lo])));
    _mm_storeu_ps(dst + nlo,
                  _mm_permutevar_ps(xhi, _mm_loadu_si128((const __m128i *)fi_pack4[hi])));
    return nlo + fi_popcount4(hi);
}
static inline vf vf_expand_lt(const float *src, vf a, vf b, vf y)
{
    __m256 sel = _mm256_cmp_ps(a, b, _CMP_LT_OQ);
    unsigned m = (unsigned)_mm256_movemask_ps(sel);
    unsigned lo = m & 15u, hi = m >> 4;
    __m128i ilo = _mm_loadu_si128((const __m128i *)fi_unpack4[lo]);
    __m128i ihi = _mm_add_epi32(_mm_loadu_si128((const __m128i *)fi_unpack4[hi]),
                                _mm_set1_epi32((int)fi_popcount4(lo)));
    __m256 v = _mm256_permutevar8x32_ps(_mm256_loadu_ps(src), _mm256_set_m128i(ihi, ilo));
    return _mm256_blendv_ps(y, v, sel);
}
/* vcvtps2ph with an immediate rounding mode (not MXCSR): nearest even. */
static inline void vf_store_f16(uint16_t *dst, vf v)
{
    _mm_storeu_si128((__m128i *)dst, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
/* The scalar path's integer round to nearest even (see fi_ops_avx512.h):
 * 32-bit lanes holding the bfloat16 results in their low halves. */
static inline __m256i fi_bf16_round(vf v)
{
    __m256i x = _mm256_castps_si256(v);
    __m256i hi = _mm256_srli_epi32(x, 16);
    __m256i odd = _mm256_and_si256(hi, _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32((int)FI_BF16_HALF_DOWN)), odd), 16);
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    __m256i quiet = _mm256_or_si256(hi, _mm256_set1_epi32((int)(FI_F32_QUIET >> 16)));
    return _mm256_castps_si256(
        _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(quiet), nan));
}
/* every lane is < 2**16, so the saturating packs only narrow */
static inline void vf_store_bf16(uint16_t *dst, vf v)
{
    __m256i r = fi_bf16_round(v);
    _mm_storeu_si128((__m128i *)dst,
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}
/* dst[0 .. 2 FI_W) = a, b.  vpackusdw works within 128-bit halves; the
 * qword permute 0xD8 (0, 2, 1, 3) restores the order. */
static inline void vf_store2_bf16(uint16_t *dst, vf a, vf b)
{
    __m256i packed = _mm256_packus_epi32(fi_bf16_round(a), fi_bf16_round(b));
    _mm256_storeu_si256((__m256i *)dst, _mm256_permute4x64_epi64(packed, 0xD8));
}

/* ---- uint32 lanes (double width: 4 in an xmm) ---- */
static inline vuh vuh_set1(uint32_t x) { return _mm_set1_epi32((int)x); }
static inline vuh vuh_add(vuh a, vuh b) { return _mm_add_epi32(a, b); }
static inline vuh vuh_sub(vuh a, vuh b) { return _mm_sub_epi32(a, b); }
static inline vuh vuh_and(vuh a, vuh b) { return _mm_and_si128(a, b); }
static inline vuh vuh_srl(vuh a, int n) { return _mm_srli_epi32(a, n); }
static inline vuh vuh_sll(vuh a, int n) { return _mm_slli_epi32(a, n); }

/* ---- double lanes ---- */
static inline vd vd_set1(double x) { return _mm256_set1_pd(x); }
static inline vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static inline vd vd_mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
static inline vd vd_div(vd a, vd b) { return _mm256_div_pd(a, b); }
static inline vd vd_fma(vd a, vd b, vd c) { return _mm256_fmadd_pd(a, b, c); }
static inline vd vd_sqrt(vd a) { return _mm256_sqrt_pd(a); }
static inline vd vd_min(vd a, vd b) { return _mm256_min_pd(a, b); }
static inline vd vd_max(vd a, vd b) { return _mm256_max_pd(a, b); }
/* a - 2**31 as int32 converts exactly; adding 2**31 back is exact too. */
static inline vd vd_from_u32(vuh a)
{
    __m128i s = _mm_xor_si128(a, _mm_set1_epi32((int)FI_F32_SIGN));
    return _mm256_add_pd(_mm256_cvtepi32_pd(s), _mm256_set1_pd(2147483648.0));
}
static inline vd vd_from_i32(vuh a) { return _mm256_cvtepi32_pd(a); }
static inline vd vd_blend_lt(vd a, vd b, vd x, vd y)
{
    return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_LT_OQ));
}
static inline vd vd_blend_le(vd a, vd b, vd x, vd y)
{
    return _mm256_blendv_pd(y, x, _mm256_cmp_pd(a, b, _CMP_LE_OQ));
}
/* cond == 0 as a 64-bit lane mask (sign extension of the 32-bit mask) */
static inline __m256i fi_zero_mask64(vuh cond)
{
    return _mm256_cvtepi32_epi64(_mm_cmpeq_epi32(cond, _mm_setzero_si128()));
}
static inline vd vd_blend_u(vuh cond, vd x, vd y)
{
    return _mm256_blendv_pd(x, y, _mm256_castsi256_pd(fi_zero_mask64(cond)));
}
static inline vd vd_neg_if(vd x, vuh cond)
{
    __m256i sign = _mm256_andnot_si256(fi_zero_mask64(cond),
                                       _mm256_set1_epi64x((long long)FI_F64_SIGN));
    return _mm256_castsi256_pd(_mm256_xor_si256(_mm256_castpd_si256(x), sign));
}
/* The exponent ix >> 52 (arithmetic) is a 12-bit two's complement number s;
 * AVX2 has only the logical shift, giving u = s mod 2**12.  u ^ 2**11 is
 * s + 2**11 in [0, 2**12), converted exactly through the 2**52 mantissa
 * trick, and 2**52 + 2**11 is subtracted in one exact step. */
static inline void vd_decomp(vd x, vd *m, vd *e)
{
    const __m256i c = _mm256_set1_epi64x(0x3fe6a09e667f3bcdll); /* bits of sqrt(1/2) */
    const long long exp_bias = 1ll << 11;
    __m256i ix = _mm256_sub_epi64(_mm256_castpd_si256(x), c);
    __m256i biased = _mm256_xor_si256(_mm256_srli_epi64(ix, 52), _mm256_set1_epi64x(exp_bias));
    __m256d big =
        _mm256_castsi256_pd(_mm256_or_si256(biased, _mm256_set1_epi64x(FI_F64_2P52_BITS)));
    *e = _mm256_sub_pd(big, _mm256_set1_pd(4503599627370496.0 + 2048.0));
    *m = _mm256_castsi256_pd(
        _mm256_add_epi64(_mm256_and_si256(ix, _mm256_set1_epi64x(0x000fffffffffffffll)), c));
}
static inline void vd_store(double *dst, vd v) { _mm256_storeu_pd(dst, v); }
static inline vd vd_load(const double *src) { return _mm256_loadu_pd(src); }
/* Double lanes through the 4-lane tables: lane index k becomes the pair of
 * 32-bit indices (2k, 2k + 1) of one vpermd. */
static inline __m256i fi_pair_index(const int32_t idx[4])
{
    __m256i q = _mm256_cvtepu32_epi64(_mm_loadu_si128((const __m128i *)idx));
    __m256i lo = _mm256_slli_epi64(q, 1);
    return _mm256_or_si256(lo, _mm256_slli_epi64(_mm256_add_epi64(lo, _mm256_set1_epi64x(1)), 32));
}
static inline unsigned vd_compress_lt(double *dst, vd a, vd b, vd x)
{
    unsigned m = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(a, b, _CMP_LT_OQ));
    __m256 p = _mm256_permutevar8x32_ps(_mm256_castpd_ps(x), fi_pair_index(fi_pack4[m]));
    _mm256_storeu_pd(dst, _mm256_castps_pd(p));
    return fi_popcount4(m);
}
static inline vd vd_expand_lt(const double *src, vd a, vd b, vd y)
{
    __m256d sel = _mm256_cmp_pd(a, b, _CMP_LT_OQ);
    unsigned m = (unsigned)_mm256_movemask_pd(sel);
    __m256 v = _mm256_permutevar8x32_ps(_mm256_castpd_ps(_mm256_loadu_pd(src)),
                                        fi_pair_index(fi_unpack4[m]));
    return _mm256_blendv_pd(y, _mm256_castps_pd(v), sel);
}

/* ---- streaming stores ---- */
#define FI_HAVE_STREAM 1
/* n bytes (a multiple of 64) from src (any alignment, in cache) to dst
 * (64-byte aligned) with non-temporal stores. */
static inline void fi_stream64(unsigned char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i += 64)
    {
        _mm256_stream_si256((__m256i *)(dst + i), _mm256_loadu_si256((const __m256i *)(src + i)));
        _mm256_stream_si256((__m256i *)(dst + i + 32),
                            _mm256_loadu_si256((const __m256i *)(src + i + 32)));
    }
}
static inline void fi_stream_fence(void) { _mm_sfence(); }

#endif

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

#define FI_W 8
#define FI_WD 4

typedef __m256i vu;
typedef __m256 vf;
typedef __m128i vuh;
typedef __m256d vd;

#define FI_ODD_LANES32 0xAA /* odd 32-bit lanes (immediate of vpblendd) */
#define FI_ODD_LANES32_X 0xA
#define FI_F32_SIGN 0x80000000u
#define FI_F32_ABS 0x7fffffffu
#define FI_F32_INF 0x7f800000u
#define FI_F64_SIGN 0x8000000000000000ull
/* 2**52 as a double: OR-ing an integer v < 2**52 into its mantissa gives
 * exactly 2**52 + v, so subtracting 2**52 converts v to double exactly. */
#define FI_F64_2P52_BITS 0x4330000000000000ll

/* ---- uint32 lanes (full width) ---- */
static inline vu vu_set1(uint32_t x) { return _mm256_set1_epi32((int)x); }
static inline vu vu_iota(uint32_t base)
{
    return _mm256_add_epi32(_mm256_set1_epi32((int)base), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vu vu_add(vu a, vu b) { return _mm256_add_epi32(a, b); }
static inline vu vu_sub(vu a, vu b) { return _mm256_sub_epi32(a, b); }
static inline vu vu_xor(vu a, vu b) { return _mm256_xor_si256(a, b); }
static inline vu vu_and(vu a, vu b) { return _mm256_and_si256(a, b); }
static inline vu vu_srl(vu a, int n) { return _mm256_srli_epi32(a, n); }
static inline vu vu_sll(vu a, int n) { return _mm256_slli_epi32(a, n); }
/* vpmuludq on the even lanes, and on the odd lanes shifted down. */
static inline vu vu_mulhilo(vu a, uint32_t m, vu *hi)
{
    const __m256i vm = _mm256_set1_epi32((int)m);
    __m256i even = _mm256_mul_epu32(a, vm);
    __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), vm);
    *hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, FI_ODD_LANES32);
    return _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), FI_ODD_LANES32);
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
static inline void vf_store(float *dst, vf v) { _mm256_storeu_ps(dst, v); }
/* vcvtps2ph with an immediate rounding mode (not MXCSR): nearest even. */
static inline void vf_store_f16(uint16_t *dst, vf v)
{
    _mm_storeu_si128((__m128i *)dst, _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
/* The scalar path's integer round to nearest even (see fi_ops_avx512.h). */
static inline void vf_store_bf16(uint16_t *dst, vf v)
{
    __m256i x = _mm256_castps_si256(v);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_srli_epi32(
        _mm256_add_epi32(_mm256_add_epi32(x, _mm256_set1_epi32(0x7fff)), odd), 16);
    /* both operands are non-negative as int32, so the signed compare is the unsigned one */
    __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32((int)FI_F32_ABS)),
                                     _mm256_set1_epi32((int)FI_F32_INF));
    __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    r = _mm256_blendv_epi8(r, quiet, nan);
    /* every lane is < 2**16, so the saturating pack only narrows */
    _mm_storeu_si128((__m128i *)dst,
                     _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}

/* ---- uint32 lanes (double width: 4 in an xmm) ---- */
static inline vuh vuh_set1(uint32_t x) { return _mm_set1_epi32((int)x); }
static inline vuh vuh_iota(uint32_t base)
{
    return _mm_add_epi32(_mm_set1_epi32((int)base), _mm_setr_epi32(0, 1, 2, 3));
}
static inline vuh vuh_add(vuh a, vuh b) { return _mm_add_epi32(a, b); }
static inline vuh vuh_sub(vuh a, vuh b) { return _mm_sub_epi32(a, b); }
static inline vuh vuh_xor(vuh a, vuh b) { return _mm_xor_si128(a, b); }
static inline vuh vuh_and(vuh a, vuh b) { return _mm_and_si128(a, b); }
static inline vuh vuh_srl(vuh a, int n) { return _mm_srli_epi32(a, n); }
static inline vuh vuh_sll(vuh a, int n) { return _mm_slli_epi32(a, n); }
static inline vuh vuh_mulhilo(vuh a, uint32_t m, vuh *hi)
{
    const __m128i vm = _mm_set1_epi32((int)m);
    __m128i even = _mm_mul_epu32(a, vm);
    __m128i odd = _mm_mul_epu32(_mm_srli_epi64(a, 32), vm);
    *hi = _mm_blend_epi32(_mm_srli_epi64(even, 32), odd, FI_ODD_LANES32_X);
    return _mm_blend_epi32(even, _mm_slli_epi64(odd, 32), FI_ODD_LANES32_X);
}

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
    __m256d big = _mm256_castsi256_pd(_mm256_or_si256(biased, _mm256_set1_epi64x(FI_F64_2P52_BITS)));
    *e = _mm256_sub_pd(big, _mm256_set1_pd(4503599627370496.0 + 2048.0));
    *m = _mm256_castsi256_pd(
        _mm256_add_epi64(_mm256_and_si256(ix, _mm256_set1_epi64x(0x000fffffffffffffll)), c));
}
static inline void vd_store(double *dst, vd v) { _mm256_storeu_pd(dst, v); }

#endif

/*
 * The operation set of fi_ops_scalar.h (its header comment is the
 * specification) on AVX-512 registers: 16 float/uint32 lanes in a zmm, and
 * for the double-precision kernels 8 uint32 lanes in a ymm next to 8 double
 * lanes in a zmm.  Needs AVX512F, DQ (64-bit int <-> double), BW and VL
 * (the 256-bit mask tests) and POPCNT; the including file raises the target.
 *
 * Every operation gives each lane exactly what the scalar one gives: single
 * IEEE operations, explicit FMA, integer->float conversions under the
 * default MXCSR rounding (nearest even), and MIN/MAX whose "second operand
 * when not less/greater" rule is the scalar `a < b ? a : b`.  Loads and
 * stores are unaligned: outputs may start at any byte.
 */
#ifndef FASTINIT_OPS_AVX512_H
#define FASTINIT_OPS_AVX512_H

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

#define FI_W 16
#define FI_WD 8

typedef __m512i vu;
typedef __m512 vf;
typedef __m256i vuh;
typedef __m512d vd;

#define FI_ODD_LANES32 0xAAAAu   /* odd 32-bit lanes of a zmm */
#define FI_F32_SIGN 0x80000000u
#define FI_BF16_KEPT_LSB 0x10000u /* lowest float32 bit that bfloat16 keeps */
#define FI_BF16_HALF_DOWN 0x7fffu /* half an ulp of bfloat16, less one */
#define FI_F32_QUIET 0x00400000u /* quiet-NaN bit of float32 (0x40 of bfloat16) */
#define FI_F64_SIGN 0x8000000000000000ull

/* ---- Philox4x32-10 ---- */
/*
 * Blocks live in the low halves of 64-bit lanes: even blocks b, b+2, ...,
 * b+14 in one set of four state vectors, odd ones in another.  vpmuludq
 * reads only the low halves, so the high halves may hold anything: the
 * 64-bit products are kept whole (their low halves are the "lo" words) and
 * only the "hi" words need a shift.  This avoids the blends a 16-lane
 * 32-bit layout needs.  The final merge moves the odd set's words up into
 * the odd 32-bit lanes.
 *
 * The first two rounds are partly the same in every lane, because only
 * counter word 0 differs between the blocks of a call:
 *   round 0: p1 = s0 M1 is common, so c0' = hi(s0 M1) ^ b_hi ^ k0[0] is too;
 *            p0 = (b_lo + lane) M0 = b_lo M0 + lane M0 needs no multiply.
 *   round 1: p0 = c0' M0 is common.
 * These are computed once per call (keys) or per block run (in scalar
 * registers); the remaining per-lane operations are exactly those of the
 * rounds, so every word is unchanged.
 */
typedef struct fi_philox_keys {
    __m512i k0[FI_PHILOX_ROUNDS], k1[FI_PHILOX_ROUNDS]; /* broadcast round keys */
    __m512i x0, x1;  /* s1 ^ k1[0] (round 0) and lo(s0 M1) ^ k0[1] (round 1) */
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
        ks->k0[r] = _mm512_set1_epi32((int)k0);
        ks->k1[r] = _mm512_set1_epi32((int)k1);
        k0 += FI_PHILOX_W0;
        k1 += FI_PHILOX_W1;
    }
    ks->x0 = _mm512_set1_epi32((int)(s1 ^ rk1[0]));
    ks->x1 = _mm512_set1_epi32((int)((uint32_t)p1 ^ rk0[1]));
    ks->c0_r0 = (uint32_t)(p1 >> 32) ^ rk0[0];
    ks->k1_r1 = rk1[1];
}

#define FI_XOR3 0x96 /* vpternlog truth table of a ^ b ^ c */

/* The high word of each 64-bit product moved into the low half, where the
 * next vpmuludq reads it.  A shuffle (vpshufd, the shuffle port) rather
 * than a 64-bit shift (vpsrlq, the port the multiplies need): the high half
 * then holds the low word instead of zero, which nothing reads (vpmuludq
 * and the final merge use low halves only; the xors are per 32-bit lane). */
FI_OPS_INLINE __m512i fi_hi_to_lo(__m512i p) { return _mm512_shuffle_epi32(p, _MM_PERM_CDAB); }

/* One full round on one set. */
FI_OPS_INLINE void fi_philox_round_q(__m512i c[4], __m512i k0, __m512i k1)
{
    const __m512i m0 = _mm512_set1_epi32((int)FI_PHILOX_M0);
    const __m512i m1 = _mm512_set1_epi32((int)FI_PHILOX_M1);
    __m512i p0 = _mm512_mul_epu32(c[0], m0);
    __m512i p1 = _mm512_mul_epu32(c[2], m1);
    c[0] = _mm512_ternarylogic_epi32(fi_hi_to_lo(p1), c[1], k0, FI_XOR3);
    c[2] = _mm512_ternarylogic_epi32(fi_hi_to_lo(p0), c[3], k1, FI_XOR3);
    c[1] = p1;
    c[3] = p0;
}

/* Rounds 0 and 1 of both sets of the FI_W blocks starting at b. */
FI_OPS_INLINE void fi_philox_start(const fi_philox_keys *ks, uint64_t b, __m512i e[4], __m512i o[4])
{
    const __m512i m1 = _mm512_set1_epi32((int)FI_PHILOX_M1);
    const long long M0 = FI_PHILOX_M0;
    const __m512i lane_m0 =
        _mm512_setr_epi64(0, 2 * M0, 4 * M0, 6 * M0, 8 * M0, 10 * M0, 12 * M0, 14 * M0);
    uint32_t c0 = ks->c0_r0 ^ (uint32_t)(b >> 32);  /* after round 0, every lane */
    uint64_t p0_r1 = (uint64_t)c0 * FI_PHILOX_M0;   /* round 1's p0, every lane */
    __m512i x2 = _mm512_set1_epi32((int)((uint32_t)(p0_r1 >> 32) ^ ks->k1_r1));
    __m512i c3 = _mm512_set1_epi32((int)(uint32_t)p0_r1);
    uint64_t base_m0 = (uint64_t)(uint32_t)b * FI_PHILOX_M0; /* (b_lo + lane) M0 < 2**64 */
    __m512i p0e = _mm512_add_epi64(_mm512_set1_epi64((long long)base_m0), lane_m0);
    __m512i p0o = _mm512_add_epi64(p0e, _mm512_set1_epi64(M0));
    __m512i *set[2] = {e, o}, p0[2] = {p0e, p0o};
    for (int k = 0; k < 2; k++) {
        __m512i *c = set[k];
        /* round 0: c2 = hi(p0) ^ s1 ^ k1[0], c3 = lo(p0) */
        __m512i c2 = _mm512_xor_si512(fi_hi_to_lo(p0[k]), ks->x0);
        /* round 1: p1 = c2 M1; c0 = hi(p1) ^ lo(s0 M1) ^ k0[1];
         * c2 = hi(p0_r1) ^ lo(p0) ^ k1[1]; c1 = lo(p1); c3 = lo(p0_r1) */
        __m512i p1 = _mm512_mul_epu32(c2, m1);
        c[0] = _mm512_xor_si512(fi_hi_to_lo(p1), ks->x1);
        c[1] = p1;
        c[2] = _mm512_xor_si512(p0[k], x2);
        c[3] = c3;
    }
}

FI_OPS_INLINE void fi_philox_merge(const __m512i e[4], const __m512i o[4], __m512i out[4])
{
    for (int j = 0; j < 4; j++)
        out[j] = _mm512_mask_shuffle_epi32(e[j], FI_ODD_LANES32, o[j], _MM_PERM_CDAB);
}

FI_OPS_INLINE void vu_philox(const fi_philox_keys *ks, uint64_t b, __m512i out[4])
{
    __m512i e[4], o[4];
    fi_philox_start(ks, b, e, o);
    for (int r = 2; r < FI_PHILOX_ROUNDS; r++) {
        fi_philox_round_q(e, ks->k0[r], ks->k1[r]);
        fi_philox_round_q(o, ks->k0[r], ks->k1[r]);
    }
    fi_philox_merge(e, o, out);
}

/* Two independent runs of vu_philox with their rounds interleaved: four
 * dependency chains in flight instead of two. */
FI_OPS_INLINE void vu_philox2(const fi_philox_keys *ks, uint64_t b0, uint64_t b1,
                              __m512i out0[4], __m512i out1[4])
{
    __m512i e0[4], o0[4], e1[4], o1[4];
    fi_philox_start(ks, b0, e0, o0);
    fi_philox_start(ks, b1, e1, o1);
    for (int r = 2; r < FI_PHILOX_ROUNDS; r++) {
        fi_philox_round_q(e0, ks->k0[r], ks->k1[r]);
        fi_philox_round_q(o0, ks->k0[r], ks->k1[r]);
        fi_philox_round_q(e1, ks->k0[r], ks->k1[r]);
        fi_philox_round_q(o1, ks->k0[r], ks->k1[r]);
    }
    fi_philox_merge(e0, o0, out0);
    fi_philox_merge(e1, o1, out1);
}

/* ---- uint32 lanes (full width) ---- */
static inline vu vu_set1(uint32_t x) { return _mm512_set1_epi32((int)x); }
static inline vu vu_add(vu a, vu b) { return _mm512_add_epi32(a, b); }
static inline vu vu_sub(vu a, vu b) { return _mm512_sub_epi32(a, b); }
static inline vu vu_and(vu a, vu b) { return _mm512_and_si512(a, b); }
static inline vu vu_srl(vu a, int n) { return _mm512_srli_epi32(a, (unsigned)n); }
static inline vu vu_sll(vu a, int n) { return _mm512_slli_epi32(a, (unsigned)n); }
static inline vuh vu_half(vu a, int h)
{
    return h ? _mm512_extracti64x4_epi64(a, 1) : _mm512_castsi512_si256(a);
}
/* 4 x 16 transpose: dst[4*l + j] = c_j[l].  Interleaving gives, in 128-bit
 * lane k of u_i, the 4 words of block 4k + i; the two 128-bit shuffles then
 * put the blocks in order. */
static inline void vu_store_interleave4(uint32_t *dst, vu c0, vu c1, vu c2, vu c3)
{
    __m512i t0 = _mm512_unpacklo_epi32(c0, c1), t1 = _mm512_unpackhi_epi32(c0, c1);
    __m512i t2 = _mm512_unpacklo_epi32(c2, c3), t3 = _mm512_unpackhi_epi32(c2, c3);
    __m512i u0 = _mm512_unpacklo_epi64(t0, t2), u1 = _mm512_unpackhi_epi64(t0, t2);
    __m512i u2 = _mm512_unpacklo_epi64(t1, t3), u3 = _mm512_unpackhi_epi64(t1, t3);
    __m512i v0 = _mm512_shuffle_i32x4(u0, u1, 0x44), v1 = _mm512_shuffle_i32x4(u2, u3, 0x44);
    __m512i v2 = _mm512_shuffle_i32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_i32x4(u2, u3, 0xEE);
    _mm512_storeu_si512((void *)(dst + 0), _mm512_shuffle_i32x4(v0, v1, 0x88));
    _mm512_storeu_si512((void *)(dst + 16), _mm512_shuffle_i32x4(v0, v1, 0xDD));
    _mm512_storeu_si512((void *)(dst + 32), _mm512_shuffle_i32x4(v2, v3, 0x88));
    _mm512_storeu_si512((void *)(dst + 48), _mm512_shuffle_i32x4(v2, v3, 0xDD));
}

/* ---- float lanes ---- */
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_from_i32(vu a) { return _mm512_cvtepi32_ps(a); }
static inline vf vf_blend_lt(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
}
static inline vf vf_blend_le(vf a, vf b, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), y, x);
}
static inline vf vf_blend_u(vu cond, vf x, vf y)
{
    return _mm512_mask_blend_ps(_mm512_test_epi32_mask(cond, cond), y, x);
}
static inline vf vf_neg_if(vf x, vu cond)
{
    __m512i bits = _mm512_castps_si512(x);
    bits = _mm512_mask_xor_epi32(bits, _mm512_test_epi32_mask(cond, cond), bits,
                                 _mm512_set1_epi32((int)FI_F32_SIGN));
    return _mm512_castsi512_ps(bits);
}
static inline void vf_decomp(vf x, vf *m, vf *e)
{
    const __m512i c = _mm512_set1_epi32(0x3f3504f3); /* bits of sqrt(1/2) */
    __m512i ix = _mm512_sub_epi32(_mm512_castps_si512(x), c);
    *e = _mm512_cvtepi32_ps(_mm512_srai_epi32(ix, 23));
    *m = _mm512_castsi512_ps(
        _mm512_add_epi32(_mm512_and_si512(ix, _mm512_set1_epi32(0x007fffff)), c));
}
static inline vf vf_load(const float *src) { return _mm512_loadu_ps(src); }
static inline void vf_store(float *dst, vf v) { _mm512_storeu_ps(dst, v); }
/* Register forms of vcompressps/vexpandps plus a plain store/load: the
 * memory forms are microcoded and slow on some cores (Zen 4).  The empty
 * asm keeps the compiler from folding the load back into vexpandps. */
static inline unsigned vf_compress_lt(float *dst, vf a, vf b, vf x)
{
    __mmask16 k = _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ);
    _mm512_storeu_ps(dst, _mm512_maskz_compress_ps(k, x));
    return (unsigned)_mm_popcnt_u32(k);
}
static inline vf vf_expand_lt(const float *src, vf a, vf b, vf y)
{
    __mmask16 k = _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ);
    __m512 v = _mm512_loadu_ps(src);
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+v"(v));
#endif
    return _mm512_mask_expand_ps(y, k, v);
}
/* vcvtps2ph with an immediate rounding mode (not MXCSR): nearest even. */
static inline void vf_store_f16(uint16_t *dst, vf v)
{
    _mm256_storeu_si256((__m256i *)dst, _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}
/* The scalar path's integer rounding, not vcvtneps2bf16: that instruction
 * flushes float32 denormals to zero, which would differ from the scalar
 * result for tiny values.  Returns 32-bit lanes whose high halves are the
 * bfloat16 results: x + 0x7fff + (bit 16 of x), or for NaN x | 0x00400000
 * (the scalar (x >> 16) | 0x40). */
static inline __m512i fi_bf16_round(vf v)
{
    __m512i x = _mm512_castps_si512(v);
    __mmask16 odd = _mm512_test_epi32_mask(x, _mm512_set1_epi32((int)FI_BF16_KEPT_LSB));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512i t = _mm512_add_epi32(x, _mm512_set1_epi32((int)FI_BF16_HALF_DOWN));
    t = _mm512_mask_add_epi32(t, odd, t, _mm512_set1_epi32(1));
    return _mm512_mask_or_epi32(t, nan, x, _mm512_set1_epi32((int)FI_F32_QUIET));
}
static inline void vf_store_bf16(uint16_t *dst, vf v)
{
    __m512i r = _mm512_srli_epi32(fi_bf16_round(v), 16);
    _mm256_storeu_si256((__m256i *)dst, _mm512_cvtepi32_epi16(r));
}
/* dst[0 .. 2 FI_W) = a, b: one word permute picks the high halves of both
 * (16-bit index 2k + 1 for output word k of the 64 words of a:b). */
static inline void vf_store2_bf16(uint16_t *dst, vf a, vf b)
{
    const __m512i high_words = _mm512_setr_epi32(
        0x00030001, 0x00070005, 0x000b0009, 0x000f000d, 0x00130011, 0x00170015, 0x001b0019,
        0x001f001d, 0x00230021, 0x00270025, 0x002b0029, 0x002f002d, 0x00330031, 0x00370035,
        0x003b0039, 0x003f003d);
    __m512i r = _mm512_permutex2var_epi16(fi_bf16_round(a), high_words, fi_bf16_round(b));
    _mm512_storeu_si512((void *)dst, r);
}

/* ---- uint32 lanes (double width: 8 in a ymm) ---- */
static inline vuh vuh_set1(uint32_t x) { return _mm256_set1_epi32((int)x); }
static inline vuh vuh_add(vuh a, vuh b) { return _mm256_add_epi32(a, b); }
static inline vuh vuh_sub(vuh a, vuh b) { return _mm256_sub_epi32(a, b); }
static inline vuh vuh_and(vuh a, vuh b) { return _mm256_and_si256(a, b); }
static inline vuh vuh_srl(vuh a, int n) { return _mm256_srli_epi32(a, n); }
static inline vuh vuh_sll(vuh a, int n) { return _mm256_slli_epi32(a, n); }

/* ---- double lanes ---- */
static inline vd vd_set1(double x) { return _mm512_set1_pd(x); }
static inline vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static inline vd vd_mul(vd a, vd b) { return _mm512_mul_pd(a, b); }
static inline vd vd_div(vd a, vd b) { return _mm512_div_pd(a, b); }
static inline vd vd_fma(vd a, vd b, vd c) { return _mm512_fmadd_pd(a, b, c); }
static inline vd vd_sqrt(vd a) { return _mm512_sqrt_pd(a); }
static inline vd vd_min(vd a, vd b) { return _mm512_min_pd(a, b); }
static inline vd vd_max(vd a, vd b) { return _mm512_max_pd(a, b); }
static inline vd vd_from_u32(vuh a) { return _mm512_cvtepu32_pd(a); }
static inline vd vd_from_i32(vuh a) { return _mm512_cvtepi32_pd(a); }
static inline vd vd_blend_lt(vd a, vd b, vd x, vd y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LT_OQ), y, x);
}
static inline vd vd_blend_le(vd a, vd b, vd x, vd y)
{
    return _mm512_mask_blend_pd(_mm512_cmp_pd_mask(a, b, _CMP_LE_OQ), y, x);
}
static inline vd vd_blend_u(vuh cond, vd x, vd y)
{
    return _mm512_mask_blend_pd(_mm256_test_epi32_mask(cond, cond), y, x);
}
static inline vd vd_neg_if(vd x, vuh cond)
{
    __m512i bits = _mm512_castpd_si512(x);
    bits = _mm512_mask_xor_epi64(bits, _mm256_test_epi32_mask(cond, cond), bits,
                                 _mm512_set1_epi64((long long)FI_F64_SIGN));
    return _mm512_castsi512_pd(bits);
}
static inline void vd_decomp(vd x, vd *m, vd *e)
{
    const __m512i c = _mm512_set1_epi64(0x3fe6a09e667f3bcdll); /* bits of sqrt(1/2) */
    __m512i ix = _mm512_sub_epi64(_mm512_castpd_si512(x), c);
    /* |ix >> 52| <= 1024: the int64 -> double conversion is exact */
    *e = _mm512_cvtepi64_pd(_mm512_srai_epi64(ix, 52));
    *m = _mm512_castsi512_pd(
        _mm512_add_epi64(_mm512_and_si512(ix, _mm512_set1_epi64(0x000fffffffffffffll)), c));
}
static inline void vd_store(double *dst, vd v) { _mm512_storeu_pd(dst, v); }
static inline vd vd_load(const double *src) { return _mm512_loadu_pd(src); }
/* Register forms plus plain stores/loads, as for vf_compress_lt. */
static inline unsigned vd_compress_lt(double *dst, vd a, vd b, vd x)
{
    __mmask8 k = _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ);
    _mm512_storeu_pd(dst, _mm512_maskz_compress_pd(k, x));
    return (unsigned)_mm_popcnt_u32(k);
}
static inline vd vd_expand_lt(const double *src, vd a, vd b, vd y)
{
    __mmask8 k = _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ);
    __m512d v = _mm512_loadu_pd(src);
#if defined(__GNUC__) || defined(__clang__)
    __asm__("" : "+v"(v));
#endif
    return _mm512_mask_expand_pd(y, k, v);
}

/* ---- streaming stores ---- */
#define FI_HAVE_STREAM 1
/* n bytes (a multiple of 64) from src (any alignment, in cache) to dst
 * (64-byte aligned) with non-temporal stores. */
static inline void fi_stream64(unsigned char *dst, const unsigned char *src, size_t n)
{
    for (size_t i = 0; i < n; i += 64)
        _mm512_stream_si512((void *)(dst + i), _mm512_loadu_si512((const void *)(src + i)));
}
static inline void fi_stream_fence(void) { _mm_sfence(); }

#endif

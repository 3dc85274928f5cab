/* graphwright's model kernels for x86 CPUs, called through ctypes (models/_native.py). This file builds two ways,
 * and models/_native.py compiles the one the CPU runs: for AVX-512 (F, BW, VL and VNNI; AMX tiles where the CPU
 * has them) and for AVX2 with FMA (CPUs without AVX-512). Both builds take the same packed weights and quantize
 * activations the same way; where the AVX2 build computes something differently, the AVX2 kernel says how.
 * What follows describes the AVX-512 build.
 *
 * gw_int8_linear: y = x W^T + b for int8 weights (one float scale per output channel, packed by gw_pack; see
 * "packed int8 products" below) and bf16 activations. Activations are quantized per call to int8 in blocks of
 * 128 along K (one float scale per block, as llama.cpp quantizes them for its integer dot products); the dot
 * products run on vpdpbusd (64 multiply-adds per instruction), which wants one unsigned operand: the weights
 * are stored as w + 128 and the extra 128 * sum(x) is taken off once per activation row. Work is split over
 * strips of output channels with OpenMP, linked against torch's own libgomp: torch and these kernels share
 * one pool of workers (a second pool of spinning workers would fight torch's for the two cores). Where the CPU
 * has AMX (gw_amx), prompts' products run on its tile unit instead, bit for bit the same results.
 *
 * gw_int8_silu_mul, gw_rmsnorm, gw_rotary: the rest of a Llama/Qwen2 decoder layer, so a layer is a handful
 * of calls instead of ~60 small torch ops (models/_fastpath.py), for decode steps and prompts alike.
 * gw_attention: query positions (one or several per sequence) against their key/value cache.
 * gw_argmax: a greedy pick among the tokens a grammar allows. */
#include <cpuid.h>
#include <immintrin.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && defined(__AVX512VNNI__)
#define GW_AVX512 1
#elif defined(__AVX2__) && defined(__FMA__)
#define GW_AVX512 0
#else
#error "native.c builds with -mavx512f -mavx512bw -mavx512vl -mavx512vnni, or with -mavx2 -mfma"
#endif

/* One strip's 16 output channels (or any 16 floats): one AVX-512 register, or two AVX2 registers of 8. */
#if GW_AVX512
typedef __m512 v16;
#else
typedef struct {
    __m256 h[2];
} v16;
#endif

#define QBLOCK 128       /* activation elements per scale */
#define ROWS 65536       /* activation rows per call, at most */
#define ROW_BLOCK 128    /* activation rows computed together: as many as keep their int8 copies in cache, since
                          * a prompt's product streams the weights once per block */

/* Run fn over [0, n) on `threads` OpenMP threads (torch's own libgomp, so torch and these kernels share one
 * pool of workers), in chunks taken from a shared counter: a worker that wakes late (libgomp puts its workers
 * to sleep quickly when several threads own pools) leaves its chunks to the others instead of making them
 * wait at the end, as a fixed share per worker would. */
typedef void (*task_fn)(void *ctx, int begin, int end);

/* Units per chunk when n units are cut for `threads` workers: about 16 chunks a worker. */
static int chunk_size(int n, int threads) {
    const int chunks = n < threads * 16 ? n : threads * 16;
    return (n + chunks - 1) / chunks;
}

static void parallel(task_fn fn, void *ctx, int n, int threads) {
    if (threads <= 1 || n < 2) {
        fn(ctx, 0, n);
        return;
    }
    const int size = chunk_size(n, threads);
    int next = 0;
#pragma omp parallel num_threads(threads) shared(next)
    for (;;) {
        const int c = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
        if (c * size >= n) break;
        fn(ctx, c * size, (c + 1) * size < n ? (c + 1) * size : n);
    }
}

static inline uint16_t to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

#if GW_AVX512
static inline __m512 load_bf16x16(const uint16_t *p) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p)), 16));
}

/* xq[m, k] = round(x / s) with s = max|x| / 127 per block; xs[m, b] = s; corr[m] = 128 * sum_b s_b * sum(xq_b). */
static void quantize_rows(const uint16_t *x, int M, int K, int8_t *xq, float *xs, float *corr) {
    const int nb = K / QBLOCK;
    for (int m = 0; m < M; m++) {
        float c = 0.f;
        for (int b = 0; b < nb; b++) {
            const uint16_t *src = x + (size_t)m * K + (size_t)b * QBLOCK;
            __m512 v[QBLOCK / 16];
            __m512 amax = _mm512_setzero_ps();
            for (int i = 0; i < QBLOCK / 16; i++) {
                v[i] = load_bf16x16(src + 16 * i);
                amax = _mm512_max_ps(amax, _mm512_abs_ps(v[i]));
            }
            const float a = _mm512_reduce_max_ps(amax);
            const float s = a / 127.f;
            const __m512 inv = _mm512_set1_ps(a > 0.f ? 127.f / a : 0.f);
            __m512i sum = _mm512_setzero_si512();
            for (int i = 0; i < QBLOCK / 16; i++) {
                __m512i q = _mm512_cvtps_epi32(_mm512_mul_ps(v[i], inv));
                sum = _mm512_add_epi32(sum, q);
                _mm_storeu_si128((__m128i *)(xq + (size_t)m * K + (size_t)b * QBLOCK + 16 * i), _mm512_cvtsepi32_epi8(q));
            }
            xs[(size_t)m * nb + b] = s;
            c += s * (float)_mm512_reduce_add_epi32(sum);
        }
        corr[m] = 128.f * c;
    }
}

#else
static inline __m256 load_bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}

/* The largest of v's lanes, and their sum: a sum in the order _mm512_reduce_add_ps takes for a v16 whose halves
 * are added first (hsum8(hi + lo)), so that sums over 16 lanes come out as the AVX-512 build's. */
static inline float hmax8(__m256 v) {
    __m128 a = _mm_max_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    a = _mm_max_ps(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 1, 1, 1))));
}

static inline float hsum8(__m256 v) {
    __m128 a = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));
    a = _mm_add_ps(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(_mm_add_ss(a, _mm_shuffle_ps(a, a, _MM_SHUFFLE(1, 1, 1, 1))));
}

/* xq[m, k] = round(x / s) with s = max|x| / 127 per block (the AVX-512 build's values, bit for bit); xs[m, b] = s;
 * corr[m] = 0: the AVX2 products are signed (see tile), so nothing is taken off. */
static void quantize_rows(const uint16_t *x, int M, int K, int8_t *xq, float *xs, float *corr) {
    const int nb = K / QBLOCK;
    const __m256 magnitude = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7); /* undoes the packs' interleaving of lanes */
    for (int m = 0; m < M; m++) {
        for (int b = 0; b < nb; b++) {
            const uint16_t *src = x + (size_t)m * K + (size_t)b * QBLOCK;
            int8_t *dst = xq + (size_t)m * K + (size_t)b * QBLOCK;
            __m256 v[QBLOCK / 8];
            __m256 amax = _mm256_setzero_ps();
            for (int i = 0; i < QBLOCK / 8; i++) {
                v[i] = load_bf16x8(src + 8 * i);
                amax = _mm256_max_ps(amax, _mm256_and_ps(v[i], magnitude));
            }
            const float a = hmax8(amax);
            const __m256 inv = _mm256_set1_ps(a > 0.f ? 127.f / a : 0.f);
            for (int i = 0; i < QBLOCK / 8; i += 4) {
                __m256i q[4];
                for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(_mm256_mul_ps(v[i + j], inv));
                const __m256i bytes = _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
                _mm256_storeu_si256((__m256i *)(dst + 8 * i), _mm256_permutevar8x32_epi32(bytes, order));
            }
            xs[(size_t)m * nb + b] = a / 127.f;
        }
        corr[m] = 0.f;
    }
}
#endif

static inline float from_bf16(uint16_t h) {
    const uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The activations of one call, quantized: xq [M, K] int8, xs [M, K / QBLOCK] block scales, corr [M]. */
typedef struct {
    int8_t *xq;
    float *xs, *corr;
} quantized;

static int quantize_alloc(int M, int K, quantized *q) {
    /* rows rounded up to 16: an AMX pass loads whole tiles of 16 rows (what it reads past M it does not use) */
    q->xq = (int8_t *)aligned_alloc(64, ((size_t)(M + 15) / 16 * 16 * K + 63) / 64 * 64);
    q->xs = (float *)malloc(sizeof(float) * (size_t)M * (K / QBLOCK));
    q->corr = (float *)malloc(sizeof(float) * (size_t)M);
    if (!q->xq || !q->xs || !q->corr) {
        free(q->xq), free(q->xs), free(q->corr);
        return -1;
    }
    return 0;
}

/* Rows [m0, m1) of x [M, K] quantized into q. */
static void quantize_range(const uint16_t *x, int m0, int m1, int K, quantized *q) {
    quantize_rows(x + (size_t)m0 * K, m1 - m0, K, q->xq + (size_t)m0 * K, q->xs + (size_t)m0 * (K / QBLOCK), q->corr + m0);
}

static void release(quantized *q) { free(q->xq), free(q->xs), free(q->corr); }

/* The block size along K this kernel needs (K % gw_block() == 0). */
int gw_block(void) { return QBLOCK; }

/* The most activation rows one call of gw_int8_linear or gw_int8_silu_mul takes. */
int gw_max_rows(void) { return ROWS; }

/* Which build this is, as models/_native.py's BUILDS names it. */
const char *gw_build(void) { return GW_AVX512 ? "avx512" : "avx2"; }

#if GW_AVX512
/* exp(x) for 16 floats: Cephes' expf (range reduction by ln 2, a degree-5 polynomial, scaling by 2^n), within
 * ~2 ulp; libm's expf is scalar, one float at a time, and the MLP's epilogue and softmax call it per element. */
static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.3f)), _mm512_set1_ps(88.3f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    x = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), x);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, x, _mm512_set1_ps(5.0000001201e-1f));
    const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(x, x), x), _mm512_set1_ps(1.f));
    return _mm512_scalef_ps(y, n);
}

/* Round 16 floats to bf16 precision (nearest, ties to even), kept as floats. */
static inline __m512 round_bf16(__m512 v) {
    const __m512i u = _mm512_castps_si512(v);
    const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), odd));
    return _mm512_castsi512_ps(_mm512_and_si512(r, _mm512_set1_epi32((int)0xffff0000u)));
}

#else
/* exp16's steps on 8 floats; the scaling by 2^n builds 2^n from its exponent bits (n is within [-126, 127] after
 * the clamp: a normal float), which rounds as scalef does. */
static inline __m256 exp8(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.3f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    x = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), x);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, x, _mm256_set1_ps(5.0000001201e-1f));
    const __m256 y = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(x, x), x), _mm256_set1_ps(1.f));
    const __m256i two_n = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(two_n));
}

/* Round 8 floats to bf16 precision (nearest, ties to even), kept as floats. */
static inline __m256 round_bf16x8(__m256 v) {
    const __m256i u = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), odd));
    return _mm256_castsi256_ps(_mm256_and_si256(r, _mm256_set1_epi32((int)0xffff0000u)));
}

/* 8 floats to bf16 (nearest, ties to even), stored at p. */
static inline void store_bf16x8(uint16_t *p, __m256 v) {
    const __m256i r = _mm256_srli_epi32(_mm256_castps_si256(round_bf16x8(v)), 16);
    _mm_storeu_si128((__m128i *)p, _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
}
#endif

/* ---- packed int8 products ---------------------------------------------------------------------------------
 * Weights are packed once (gw_pack) into strips of 16 output channels: strip s holds, for each group of 4
 * inputs k = 4g..4g+3, one 64-byte vector of the 16 channels' 4 weights, each stored as w + 128 (unsigned, as
 * vpdpbusd wants its first operand). A step of the micro-kernel loads one such vector per strip and adds it,
 * times each activation row's 4 int8 values (broadcast), into that row's 16 integer lanes: every lane is one
 * output channel, so nothing is reduced across lanes, and one weight load serves every row of the pass.
 * After each block of 128 inputs the integer sums are scaled by the row's block scale into float sums; the
 * extra 128 * sum(x) that the unsigned weights add is taken off once per row at the end.
 *
 * Two shapes of pass. Decode steps (fewer than WIDE_MIN rows) take the narrow one: up to 2 strips x TILE rows,
 * so each weight, read from memory, serves all of a step's rows (two strips give each broadcast two
 * multiply-adds and the memory two streams). Prompts take the wide one: WIDE strips x WROWS rows, 12
 * independent sums, so that vpdpbusd has enough independent sums in flight to run at its full rate and every
 * broadcast serves four strips. The shapes were chosen by measurement, not derived: below WIDE_MIN rows no
 * wide shape tried beat the narrow pass (the shapes tried and their timings are in bench/README.md). */
#define STRIP 16      /* output channels per strip */
#define TILE 8        /* activation rows per narrow pass */
#define WIDE 4        /* strips per wide pass */
#if GW_AVX512
#define WROWS 3 /* activation rows per wide pass */
#else
#define WROWS 4 /* (AVX2: two micro-kernels of 2 rows, see tile) */
#endif
#define WIDE_MIN 16   /* rows in a block from which passes are wide */
#define PREFETCH 2048 /* bytes ahead in a strip: decode steps stream each strip once, so fetch it early */

/* w [N, K] int8 (N % 16 == 0, K % 4 == 0) into packed [N / 16][K / 4][16][4] bytes of w + 128. */
void gw_pack(const int8_t *w, int N, int K, uint8_t *packed) {
    for (int s = 0; s < N / STRIP; s++)
        for (int g = 0; g < K / 4; g++)
            for (int c = 0; c < STRIP; c++)
                for (int j = 0; j < 4; j++)
                    packed[(((size_t)s * (K / 4) + g) * STRIP + c) * 4 + j] =
                        (uint8_t)(w[(size_t)(s * STRIP + c) * K + 4 * g + j] + 128);
}

#if GW_AVX512
/* out[i * R + j] (lane c: channel c of strips[i]) = sum_k x[m0 + j, k] w[c, k] for S strips and G activation
 * rows, before the channels' scales; R is the pass's row count (TILE or WROWS), PF whether to prefetch the
 * strips (they come from memory in decode steps). */
static inline __attribute__((always_inline)) void tile_rows(
    const int S, const int G, const int R, const int PF, const uint8_t *const *strips, int K, const quantized *q,
    int m0, v16 *out) {
    const int nb = K / QBLOCK;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < G; j++) out[i * R + j] = _mm512_setzero_ps();
    for (int b = 0; b < nb; b++) {
        __m512i d[WIDE][TILE];
        for (int i = 0; i < S; i++)
            for (int j = 0; j < G; j++) d[i][j] = _mm512_setzero_si512();
        const size_t offset = (size_t)b * QBLOCK * STRIP;
        const int8_t *xb = q->xq + (size_t)m0 * K + (size_t)b * QBLOCK;
#pragma GCC unroll 4
        for (int g = 0; g < QBLOCK / 4; g++) {
            __m512i a[TILE];
            for (int j = 0; j < G; j++) a[j] = _mm512_set1_epi32(*(const int32_t *)(xb + (size_t)j * K + 4 * g));
            for (int i = 0; i < S; i++) {
                const __m512i wv = _mm512_loadu_si512((const void *)(strips[i] + offset + 64 * g));
                if (PF) _mm_prefetch((const char *)(strips[i] + offset + 64 * g + PREFETCH), _MM_HINT_T0);
                for (int j = 0; j < G; j++) d[i][j] = _mm512_dpbusd_epi32(d[i][j], wv, a[j]);
            }
        }
        for (int j = 0; j < G; j++) {
            const __m512 scale = _mm512_set1_ps(q->xs[(size_t)(m0 + j) * nb + b]);
            for (int i = 0; i < S; i++) out[i * R + j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(d[i][j]), scale, out[i * R + j]);
        }
    }
    for (int i = 0; i < S; i++)
        for (int j = 0; j < G; j++) out[i * R + j] = _mm512_sub_ps(out[i * R + j], _mm512_set1_ps(q->corr[m0 + j]));
}

/* tile_rows with its shape's constants: narrow (S <= 2, G <= TILE) or wide (S <= WIDE, G <= WROWS). */
static void tile(int wide, const uint8_t *const *strips, int S, int K, const quantized *q, int m0, int G, v16 *out) {
#define GW_NARROW(S_)                                                       \
    switch (G) {                                                            \
        case 8: tile_rows(S_, 8, TILE, 1, strips, K, q, m0, out); break;   \
        case 7: tile_rows(S_, 7, TILE, 1, strips, K, q, m0, out); break;   \
        case 6: tile_rows(S_, 6, TILE, 1, strips, K, q, m0, out); break;   \
        case 5: tile_rows(S_, 5, TILE, 1, strips, K, q, m0, out); break;   \
        case 4: tile_rows(S_, 4, TILE, 1, strips, K, q, m0, out); break;   \
        case 3: tile_rows(S_, 3, TILE, 1, strips, K, q, m0, out); break;   \
        case 2: tile_rows(S_, 2, TILE, 1, strips, K, q, m0, out); break;   \
        default: tile_rows(S_, 1, TILE, 1, strips, K, q, m0, out); break;  \
    }
#define GW_WIDE(S_)                                                         \
    switch (G) {                                                            \
        case 3: tile_rows(S_, 3, WROWS, 0, strips, K, q, m0, out); break;  \
        case 2: tile_rows(S_, 2, WROWS, 0, strips, K, q, m0, out); break;  \
        default: tile_rows(S_, 1, WROWS, 0, strips, K, q, m0, out); break; \
    }
    if (!wide) {
        if (S == 2) {
            GW_NARROW(2)
        } else {
            GW_NARROW(1)
        }
        return;
    }
    switch (S) {
        case 4: GW_WIDE(4) break;
        case 3: GW_WIDE(3) break;
        case 2: GW_WIDE(2) break;
        default: GW_WIDE(1) break;
    }
#undef GW_NARROW
#undef GW_WIDE
}

#else
/* AVX2 has no vpdpbusd, and 16 vector registers of 8 lanes. Each 64-byte vector of a packed strip is taken as two
 * halves of 8 channels x 4 inputs; xor 0x80 turns each w + 128 back into the signed w. vpmaddubsw multiplies
 * unsigned bytes by signed ones and adds pairs into 16 bits, so each activation byte's sign moves onto its
 * weight (vpsignb) and |x| is the unsigned operand: |w|, |x| <= 127, so a pair's sum (at most 2 * 127 * 127)
 * never saturates; vpmaddwd by ones then adds each channel's two pairs into its 32-bit sum. The sums are signed,
 * so there is no 128 * sum(x) to take off (corr is 0), and the float steps after each block of 128 inputs are
 * the AVX-512 build's. */

/* d[i][j][h] = the integer dot products of one block (`offset` into the strips) for strips[i]'s channels
 * 8h..8h+7 and activation row xb + j K, for S <= 2 strips and G <= 2 rows: 8 sums, the weights and the
 * activation fit in the 16 registers. PF: prefetch the strips ahead (decode steps read them from memory). */
static inline __attribute__((always_inline)) void block_dots(const int S, const int G, const int PF,
                                                             const uint8_t *const *strips, size_t offset,
                                                             const int8_t *xb, int K, __m256i d[2][2][2]) {
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    for (int i = 0; i < S; i++)
        for (int j = 0; j < G; j++) d[i][j][0] = d[i][j][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int g = 0; g < QBLOCK / 4; g++) {
        __m256i w[2][2];
        for (int i = 0; i < S; i++) {
            const uint8_t *at = strips[i] + offset + 64 * g;
            if (PF) _mm_prefetch((const char *)(at + PREFETCH), _MM_HINT_T0);
            w[i][0] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)at), flip);
            w[i][1] = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(at + 32)), flip);
        }
        for (int j = 0; j < G; j++) {
            const __m256i a = _mm256_set1_epi32(*(const int32_t *)(xb + (size_t)j * K + 4 * g));
            const __m256i magnitude = _mm256_abs_epi8(a);
            for (int i = 0; i < S; i++)
                for (int h = 0; h < 2; h++)
                    d[i][j][h] = _mm256_add_epi32(
                        d[i][j][h], _mm256_madd_epi16(_mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(w[i][h], a)), ones));
        }
    }
}

/* tile_rows's result on AVX2: out[i * R + j] for S strips and G rows (R = TILE or WROWS), block by block, each
 * block's weights read once from memory and then from L1 cache by the micro-kernels over its pairs of strips
 * and rows. */
static void tile(int wide, const uint8_t *const *strips, int S, int K, const quantized *q, int m0, int G, v16 *out) {
    const int nb = K / QBLOCK, R = wide ? WROWS : TILE;
    for (int i = 0; i < S; i++)
        for (int j = 0; j < G; j++) out[i * R + j].h[0] = out[i * R + j].h[1] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++) {
        const size_t offset = (size_t)b * QBLOCK * STRIP;
        for (int j0 = 0; j0 < G; j0 += 2)
            for (int i0 = 0; i0 < S; i0 += 2) {
                const int8_t *xb = q->xq + (size_t)(m0 + j0) * K + (size_t)b * QBLOCK;
                const int s = S - i0 < 2 ? 1 : 2, g = G - j0 < 2 ? 1 : 2, pf = !wide && j0 == 0;
                __m256i d[2][2][2];
                switch (4 * pf + 2 * (s - 1) + (g - 1)) {
                    case 0: block_dots(1, 1, 0, strips + i0, offset, xb, K, d); break;
                    case 1: block_dots(1, 2, 0, strips + i0, offset, xb, K, d); break;
                    case 2: block_dots(2, 1, 0, strips + i0, offset, xb, K, d); break;
                    case 3: block_dots(2, 2, 0, strips + i0, offset, xb, K, d); break;
                    case 4: block_dots(1, 1, 1, strips + i0, offset, xb, K, d); break;
                    case 5: block_dots(1, 2, 1, strips + i0, offset, xb, K, d); break;
                    case 6: block_dots(2, 1, 1, strips + i0, offset, xb, K, d); break;
                    default: block_dots(2, 2, 1, strips + i0, offset, xb, K, d); break;
                }
                for (int j = 0; j < g; j++) {
                    const __m256 scale = _mm256_set1_ps(q->xs[(size_t)(m0 + j0 + j) * nb + b]);
                    for (int i = 0; i < s; i++)
                        for (int h = 0; h < 2; h++) {
                            __m256 *o = &out[(i0 + i) * R + j0 + j].h[h];
                            *o = _mm256_fmadd_ps(_mm256_cvtepi32_ps(d[i][j][h]), scale, *o);
                        }
                }
            }
    }
}
#endif

/* ---- AMX passes ---------------------------------------------------------------------------------------------
 * Where the CPU has AMX-INT8 (and the OS grants its tile state), prompts' products run on its tile unit: one
 * tdpbsud multiplies a tile of 16 activation rows x 64 int8 inputs by a tile of 64 inputs x 16 channels of
 * unsigned weights, 16K multiply-adds where vpdpbusd does 64. A packed strip's 64-byte vectors are already
 * the layout its second operand wants (16 rows of 4 inputs x 16 channels), so the same packed weights serve
 * both passes. The integer sums of each block of 128 inputs are exact and are scaled into float sums in the
 * same order as tile_rows does: the results are bit for bit those of the vector passes. A pass is 2 tiles of
 * 16 rows by 2 strips (4 tiles of sums), the most the 8 tile registers hold with their operands. */
#define AMX_ROWS 32 /* activation rows per AMX pass */
#define AMX_MIN 16  /* rows in a block from which passes use AMX, where there is AMX */
#if !GW_AVX512
#define GW_AMX 0 /* the AVX2 build: its vector passes only */
#elif (defined(__clang__) && __clang_major__ < 12) || (!defined(__clang__) && defined(__GNUC__) && __GNUC__ < 11)
#define GW_AMX 0 /* a compiler that knows no AMX (gcc 10, clang 11 and older): the vector passes only */
#else
#define GW_AMX 1
#endif

static int amx_enabled = 0;

/* Use AMX from now on when `want` and the CPU and kernel allow it (the kernel must let this process use the
 * tile registers: arch_prctl(ARCH_REQ_XCOMP_PERM)). Returns whether AMX passes are on. */
int gw_amx(int want) {
    amx_enabled = 0;
    if (!want || !GW_AMX) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !(d & (1u << 24)) || !(d & (1u << 25))) return 0; /* AMX-TILE, -INT8 */
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XFEATURE_XTILEDATA */) != 0) return 0;
    amx_enabled = 1;
    return 1;
}

#if GW_AMX
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t columns[16]; /* bytes per row of each tile */
    uint8_t rows[16];
} tile_config;

/* Every tile 16 rows of 64 bytes: activations (16 rows x 64 inputs), weights (16 groups of 4 inputs x 16
 * channels) and sums (16 rows x 16 channels). Each thread configures its tiles before its part of a product
 * (product_part) and releases them after (so a context switch does not save 8 KB of tile data). */
__attribute__((target("amx-tile"))) static void amx_begin(void) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int i = 0; i < 8; i++) config.rows[i] = 16, config.columns[i] = 64;
    /* not _tile_loadconfig: gcc 12's takes a pointer-sized operand, so the stores above looked dead to it */
    __asm__ volatile("ldtilecfg %0" : : "m"(config));
}

__attribute__((target("amx-tile"))) static void amx_end(void) { _tile_release(); }

/* out[i * AMX_ROWS + j] (lane c: channel c of strip s_i) = sum_k x[m0 + j, k] w[c, k] for the strips s0 and
 * s1 (NULL: s0 alone) and G <= AMX_ROWS activation rows, before the channels' scales: tile_rows's result. */
__attribute__((target("amx-tile,amx-int8"))) static void amx_rows(const uint8_t *s0, const uint8_t *s1, int K,
                                                                  const quantized *q, int m0, int G, v16 *out) {
    const int nb = K / QBLOCK, S = s1 ? 2 : 1;
    int32_t sums[4][256] __attribute__((aligned(64))); /* tile 4 + 2 * half + strip: 16 rows x 16 channels */
    for (int i = 0; i < 2 * AMX_ROWS; i++) out[i] = _mm512_setzero_ps();
    const int8_t *x = q->xq + (size_t)m0 * K;
    for (int b = 0; b < nb; b++) {
        _tile_zero(4);
        _tile_zero(5);
        _tile_zero(6);
        _tile_zero(7);
        for (int h = 0; h < QBLOCK; h += 64) {
            const size_t k = (size_t)b * QBLOCK + h;
            _tile_loadd(0, x + k, K);
            _tile_loadd(2, s0 + k * STRIP, 64);
            _tile_dpbsud(4, 0, 2);
            if (s1) {
                _tile_loadd(3, s1 + k * STRIP, 64);
                _tile_dpbsud(5, 0, 3);
            }
            if (G > 16) {
                _tile_loadd(1, x + (size_t)16 * K + k, K);
                _tile_dpbsud(6, 1, 2);
                if (s1) _tile_dpbsud(7, 1, 3);
            }
        }
        _tile_stored(4, sums[0], 64);
        _tile_stored(5, sums[1], 64);
        if (G > 16) {
            _tile_stored(6, sums[2], 64);
            _tile_stored(7, sums[3], 64);
        }
        for (int j = 0; j < G; j++) {
            const __m512 scale = _mm512_set1_ps(q->xs[(size_t)(m0 + j) * nb + b]);
            const int t = 2 * (j / 16), r = 16 * (j % 16);
            for (int i = 0; i < S; i++)
                out[i * AMX_ROWS + j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(sums[t + i] + r)), scale,
                                                        out[i * AMX_ROWS + j]);
        }
    }
    for (int i = 0; i < S; i++)
        for (int j = 0; j < G; j++)
            out[i * AMX_ROWS + j] = _mm512_sub_ps(out[i * AMX_ROWS + j], _mm512_set1_ps(q->corr[m0 + j]));
}
#else /* never called: gw_amx leaves AMX off */
static void amx_begin(void) {}
static void amx_end(void) {}
static void amx_rows(const uint8_t *s0, const uint8_t *s1, int K, const quantized *q, int m0, int G, v16 *out) {
    (void)s0, (void)s1, (void)K, (void)q, (void)m0, (void)G, (void)out;
}
#endif

#if GW_AVX512
/* 16 floats to bf16 (nearest, ties to even), stored at p. */
static inline void store_bf16x16(uint16_t *p, __m512 v) {
    _mm256_storeu_si256((__m256i *)p, _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(round_bf16(v)), 16)));
}
#endif

/* One int8 product over all N output channels: the weights (w, and w2 for the gated MLP), their scales, and
 * where the bf16 result goes. */
enum { NARROW, WIDE_PASS, AMX_PASS };

typedef struct {
    const uint8_t *w, *w2; /* packed by gw_pack */
    const float *sw, *sw2;
    const uint16_t *bias, *residual;
    quantized q;
    int M, K, N;
    int rows, rows_end; /* the block of activation rows being computed */
    int shape, step;    /* its passes' shape (NARROW, WIDE_PASS or AMX_PASS), and strips of w per pass (also the
                         * unit of parallel work) */
    uint16_t *y;
} linear_task;

#if GW_AVX512
/* y = x w^T * sw + bias (+ residual, added after rounding to bf16) for strips [s, s + S), rows [m0, m0 + G). */
static inline void linear_out(const linear_task *t, int s, int S, int m0, int G, int R, const v16 *out) {
    for (int i = 0; i < S; i++) {
        const int n = (s + i) * STRIP;
        const __m512 scale = _mm512_loadu_ps(t->sw + n);
        const __m512 bias = t->bias ? load_bf16x16(t->bias + n) : _mm512_setzero_ps();
        for (int j = 0; j < G; j++) {
            __m512 v = _mm512_fmadd_ps(out[i * R + j], scale, bias);
            if (t->residual) v = _mm512_add_ps(round_bf16(v), load_bf16x16(t->residual + (size_t)(m0 + j) * t->N + n));
            store_bf16x16(t->y + (size_t)(m0 + j) * t->N + n, v);
        }
    }
}

/* y = silu(x w^T * sw) * (x w2^T * sw2), each product rounded to bf16 first as the bf16 model does, for strips
 * [s, s + S) (the pass's sums: S strips of w, then the same S of w2), rows [m0, m0 + G). */
static inline void silu_mul_out(const linear_task *t, int s, int S, int m0, int G, int R, const v16 *out) {
    for (int i = 0; i < S; i++) {
        const int n = (s + i) * STRIP;
        const __m512 sg = _mm512_loadu_ps(t->sw + n), su = _mm512_loadu_ps(t->sw2 + n);
        const __m512 *gate = out + i * R, *up = out + (S + i) * R;
        for (int j = 0; j < G; j++) {
            const __m512 g = round_bf16(_mm512_mul_ps(gate[j], sg)), u = round_bf16(_mm512_mul_ps(up[j], su));
            const __m512 silu = round_bf16(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g)))));
            store_bf16x16(t->y + (size_t)(m0 + j) * t->N + n, _mm512_mul_ps(silu, u));
        }
    }
}

#else
/* linear_out and silu_mul_out on AVX2: the same steps on each half of a strip's 16 channels. */
static inline void linear_out(const linear_task *t, int s, int S, int m0, int G, int R, const v16 *out) {
    for (int i = 0; i < S; i++)
        for (int h = 0; h < 2; h++) {
            const int n = (s + i) * STRIP + 8 * h;
            const __m256 scale = _mm256_loadu_ps(t->sw + n);
            const __m256 bias = t->bias ? load_bf16x8(t->bias + n) : _mm256_setzero_ps();
            for (int j = 0; j < G; j++) {
                __m256 v = _mm256_fmadd_ps(out[i * R + j].h[h], scale, bias);
                if (t->residual) v = _mm256_add_ps(round_bf16x8(v), load_bf16x8(t->residual + (size_t)(m0 + j) * t->N + n));
                store_bf16x8(t->y + (size_t)(m0 + j) * t->N + n, v);
            }
        }
}

static inline void silu_mul_out(const linear_task *t, int s, int S, int m0, int G, int R, const v16 *out) {
    for (int i = 0; i < S; i++)
        for (int h = 0; h < 2; h++) {
            const int n = (s + i) * STRIP + 8 * h;
            const __m256 sg = _mm256_loadu_ps(t->sw + n), su = _mm256_loadu_ps(t->sw2 + n);
            const v16 *gate = out + i * R, *up = out + (S + i) * R;
            for (int j = 0; j < G; j++) {
                const __m256 g = round_bf16x8(_mm256_mul_ps(gate[j].h[h], sg)), u = round_bf16x8(_mm256_mul_ps(up[j].h[h], su));
                const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
                const __m256 silu = round_bf16x8(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.f), e)));
                store_bf16x8(t->y + (size_t)(m0 + j) * t->N + n, _mm256_mul_ps(silu, u));
            }
        }
}
#endif

/* Units [begin, end) of t->step strips against the block's rows, one pass at a time. */
static void product_part(void *ctx, int begin, int end) {
    const linear_task *t = (const linear_task *)ctx;
    const int strips = t->N / STRIP, R = t->shape == AMX_PASS ? AMX_ROWS : t->shape == WIDE_PASS ? WROWS : TILE;
    if (t->shape == AMX_PASS) amx_begin();
    begin *= t->step, end = end * t->step < strips ? end * t->step : strips;
    for (int s = begin; s < end; s += t->step) {
        const int S = end - s < t->step ? end - s : t->step;
        const uint8_t *pass[WIDE]; /* S strips of w, then the same S of w2 */
        for (int i = 0; i < S; i++) {
            pass[i] = t->w + (size_t)(s + i) * STRIP * t->K;
            if (t->w2) pass[S + i] = t->w2 + (size_t)(s + i) * STRIP * t->K;
        }
        for (int m0 = t->rows; m0 < t->rows_end; m0 += R) {
            const int G = t->rows_end - m0 < R ? t->rows_end - m0 : R;
            v16 out[2 * AMX_ROWS]; /* the most of WIDE * WROWS, 2 * TILE and 2 * AMX_ROWS */
            const int n = t->w2 ? 2 * S : S;
            if (t->shape == AMX_PASS)
                amx_rows(pass[0], n == 2 ? pass[1] : NULL, t->K, &t->q, m0, G, out);
            else
                tile(t->shape == WIDE_PASS, pass, n, t->K, &t->q, m0, G, out);
            if (t->w2)
                silu_mul_out(t, s, S, m0, G, R, out);
            else
                linear_out(t, s, S, m0, G, R, out);
        }
    }
    if (t->shape == AMX_PASS) amx_end();
}

/* Block b of t's activation rows (ROW_BLOCK of them, fewer in the last) into t->rows / rows_end with its pass
 * shape; returns its units of t->step strips. */
static int block_units(linear_task *t, int b) {
    const int per_pass = t->w2 ? 2 : 1; /* weights a strip of output needs */
    t->rows = b * ROW_BLOCK;
    t->rows_end = t->rows + ROW_BLOCK < t->M ? t->rows + ROW_BLOCK : t->M;
    const int rows = t->rows_end - t->rows;
    t->shape = amx_enabled && rows >= AMX_MIN ? AMX_PASS : rows >= WIDE_MIN ? WIDE_PASS : NARROW;
    t->step = (t->shape == WIDE_PASS ? WIDE : 2) / per_pass;
    return (t->N / STRIP + t->step - 1) / t->step;
}

/* A prompt's product in one parallel region: each worker quantizes a share of the rows, then all take chunks of
 * every block from one counter, so no worker waits at the end of a block for the other, nor while the caller
 * quantizes alone, as a parallel region per block would leave them. */
static void prompt_products(linear_task *t, const uint16_t *x, int blocks, int threads) {
    linear_task probe = *t;
    const int units = block_units(&probe, 0), size = chunk_size(units, threads);
    const int full = (units + size - 1) / size; /* chunks of each block but the last (ROW_BLOCK rows) */
    const int last_units = block_units(&probe, blocks - 1), last_size = chunk_size(last_units, threads);
    const int total = (blocks - 1) * full + (last_units + last_size - 1) / last_size;
    int next = 0;
#pragma omp parallel num_threads(threads) shared(next)
    {
        const int n = omp_get_num_threads(), id = omp_get_thread_num();
        quantize_range(x, (int)((long)t->M * id / n), (int)((long)t->M * (id + 1) / n), t->K, &t->q);
#pragma omp barrier
        linear_task mine = *t; /* this worker's block */
        for (;;) {
            const int c = __atomic_fetch_add(&next, 1, __ATOMIC_RELAXED);
            if (c >= total) break;
            const int b = c / full < blocks - 1 ? c / full : blocks - 1, k = c - b * full;
            const int n_units = block_units(&mine, b), n_size = b < blocks - 1 ? size : last_size;
            product_part(&mine, k * n_size, (k + 1) * n_size < n_units ? (k + 1) * n_size : n_units);
        }
    }
}

/* Quantize x into t, run the product over the N / 16 strips for each block of ROW_BLOCK activation rows (whose
 * quantized activations then stay in cache while the weights stream past them), free the quantized
 * activations. Returns 0, or -1 when K is not a multiple of the block, N not a multiple of the strip, M is out
 * of range or memory ran out (nothing written). */
static int run_linear(linear_task *t, const uint16_t *x, int threads) {
    if (t->K % QBLOCK != 0 || t->M <= 0 || t->N <= 0 || t->N % STRIP != 0 || t->M > ROWS) return -1;
    if (quantize_alloc(t->M, t->K, &t->q) != 0) return -1;
    const int blocks = (t->M + ROW_BLOCK - 1) / ROW_BLOCK;
    if (threads > 1 && t->M >= WIDE_MIN) {
        prompt_products(t, x, blocks, threads);
    } else { /* decode steps (one block): the caller quantizes its few rows */
        quantize_range(x, 0, t->M, t->K, &t->q);
        for (int b = 0; b < blocks; b++) parallel(product_part, t, block_units(t, b), threads);
    }
    release(&t->q);
    return 0;
}

/* y[M, N] (bf16) = x[M, K] (bf16) @ (w[N, K] (int8) * sw[N])^T + bias[N] (bf16, or NULL) + residual[M, N] (bf16,
 * or NULL). Returns 0 or -1 as run_linear. */
int gw_int8_linear(const uint16_t *x, int M, int K, const uint8_t *w, const float *sw, const uint16_t *bias, int N,
                   const uint16_t *residual, uint16_t *y, int threads) {
    linear_task t = {.w = w, .sw = sw, .bias = bias, .residual = residual, .M = M, .K = K, .N = N, .y = y};
    return run_linear(&t, x, threads);
}

/* The MLP's first half: y[M, N] = silu(x wg^T * sg) * (x wu^T * su), both products from one quantization of x
 * (each rounded to bf16 first, as the bf16 model computes it). Returns 0 or -1 as run_linear. */
int gw_int8_silu_mul(const uint16_t *x, int M, int K, const uint8_t *wg, const float *sg, const uint8_t *wu,
                     const float *su, int N, uint16_t *y, int threads) {
    linear_task t = {.w = wg, .w2 = wu, .sw = sg, .sw2 = su, .M = M, .K = K, .N = N, .y = y};
    return run_linear(&t, x, threads);
}

#if GW_AVX512
/* RMS norm as Transformers' Llama/Qwen2 compute it: y = w * bf16(x / sqrt(mean(x^2) + eps)), x and w bf16,
 * K a multiple of 16 (16 lanes at a time: it runs twice a layer over every position). */
void gw_rmsnorm(const uint16_t *x, int M, int K, const uint16_t *w, float eps, uint16_t *y) {
    for (int m = 0; m < M; m++) {
        const uint16_t *row = x + (size_t)m * K;
        __m512 acc = _mm512_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            const __m512 v = load_bf16x16(row + k);
            acc = _mm512_fmadd_ps(v, v, acc);
        }
        const __m512 r = _mm512_set1_ps(1.f / sqrtf(_mm512_reduce_add_ps(acc) / K + eps));
        for (int k = 0; k < K; k += 16)
            store_bf16x16(y + (size_t)m * K + k,
                          _mm512_mul_ps(load_bf16x16(w + k), round_bf16(_mm512_mul_ps(load_bf16x16(row + k), r))));
    }
}

#else
/* gw_rmsnorm on AVX2: each half of 16 lanes keeps its lanes' sums, added up as _mm512_reduce_add_ps adds them, so
 * the result is the AVX-512 build's. */
void gw_rmsnorm(const uint16_t *x, int M, int K, const uint16_t *w, float eps, uint16_t *y) {
    for (int m = 0; m < M; m++) {
        const uint16_t *row = x + (size_t)m * K;
        __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
        for (int k = 0; k < K; k += 16) {
            const __m256 a = load_bf16x8(row + k), b = load_bf16x8(row + k + 8);
            lo = _mm256_fmadd_ps(a, a, lo);
            hi = _mm256_fmadd_ps(b, b, hi);
        }
        const __m256 r = _mm256_set1_ps(1.f / sqrtf(hsum8(_mm256_add_ps(hi, lo)) / K + eps));
        for (int k = 0; k < K; k += 8)
            store_bf16x8(y + (size_t)m * K + k,
                         _mm256_mul_ps(load_bf16x8(w + k), round_bf16x8(_mm256_mul_ps(load_bf16x8(row + k), r))));
    }
}
#endif

/* Rotary embedding in place on `heads` heads of size D per row: x = x cos + rotate_half(x) sin, with cos/sin
 * [M, D] bf16 and rows `stride` elements apart. */
void gw_rotary(uint16_t *x, int M, int heads, int D, long stride, const uint16_t *cos, const uint16_t *sin) {
    const int half = D / 2;
    for (int m = 0; m < M; m++)
        for (int h = 0; h < heads; h++) {
            uint16_t *v = x + (size_t)m * stride + (size_t)h * D;
            const uint16_t *c = cos + (size_t)m * D, *s = sin + (size_t)m * D;
            for (int i = 0; i < half; i++) {
                const float a = from_bf16(v[i]), b = from_bf16(v[i + half]);
                const float lo = from_bf16(to_bf16(a * from_bf16(c[i]))) + from_bf16(to_bf16(-b * from_bf16(s[i])));
                const float hi = from_bf16(to_bf16(b * from_bf16(c[i + half]))) + from_bf16(to_bf16(a * from_bf16(s[i + half])));
                v[i] = to_bf16(lo), v[i + half] = to_bf16(hi);
            }
        }
}

#if GW_AVX512
/* row[0..n) = softmax(row), 16 lanes at a time (exp16, not libm's scalar expf); -inf entries (masked positions)
 * become exactly 0, a row of nothing but -inf all 0. */
static void softmax(float *row, int n) {
    const __m512 neg_inf = _mm512_set1_ps(-INFINITY);
    __m512 top = neg_inf;
    int l = 0;
    for (; l + 16 <= n; l += 16) top = _mm512_max_ps(top, _mm512_loadu_ps(row + l));
    const __mmask16 tail = (__mmask16)((1u << (n - l)) - 1u);
    top = _mm512_max_ps(top, _mm512_mask_loadu_ps(neg_inf, tail, row + l));
    const float most = _mm512_reduce_max_ps(top);
    if (most == -INFINITY) {
        memset(row, 0, sizeof(float) * (size_t)n);
        return;
    }
    const __m512 shift = _mm512_set1_ps(most);
    __m512 sum = _mm512_setzero_ps();
    for (l = 0; l < n; l += 16) {
        const __mmask16 lanes = n - l >= 16 ? (__mmask16)0xffff : tail;
        const __m512 v = _mm512_mask_loadu_ps(neg_inf, lanes, row + l);
        const __mmask16 live = _mm512_mask_cmp_ps_mask(lanes, v, neg_inf, _CMP_NEQ_OQ);
        const __m512 e = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(v, shift)));
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(row + l, lanes, e);
    }
    const __m512 inv = _mm512_set1_ps(1.f / _mm512_reduce_add_ps(sum));
    for (l = 0; l < n; l += 16) {
        const __mmask16 lanes = n - l >= 16 ? (__mmask16)0xffff : tail;
        _mm512_mask_storeu_ps(row + l, lanes, _mm512_mul_ps(_mm512_maskz_loadu_ps(lanes, row + l), inv));
    }
}

#else
/* row[0..n) = softmax(row), 8 lanes at a time, the last n % 8 through a scratch row padded with -inf; -inf
 * entries (masked positions) become exactly 0, a row of nothing but -inf all 0. */
static void softmax(float *row, int n) {
    const __m256 neg_inf = _mm256_set1_ps(-INFINITY);
    const int whole = n - n % 8;
    float tail[8];
    for (int i = 0; i < 8; i++) tail[i] = whole + i < n ? row[whole + i] : -INFINITY;
    __m256 top = _mm256_loadu_ps(tail);
    for (int l = 0; l < whole; l += 8) top = _mm256_max_ps(top, _mm256_loadu_ps(row + l));
    const float most = hmax8(top);
    if (most == -INFINITY) {
        memset(row, 0, sizeof(float) * (size_t)n);
        return;
    }
    const __m256 shift = _mm256_set1_ps(most);
    __m256 sum = _mm256_setzero_ps();
    for (int l = 0; l <= whole; l += 8) {
        float *at = l < whole ? row + l : tail;
        const __m256 v = _mm256_loadu_ps(at);
        const __m256 live = _mm256_cmp_ps(v, neg_inf, _CMP_NEQ_OQ);
        const __m256 e = _mm256_and_ps(live, exp8(_mm256_sub_ps(v, shift)));
        sum = _mm256_add_ps(sum, e);
        _mm256_storeu_ps(at, e);
    }
    const __m256 inv = _mm256_set1_ps(1.f / hsum8(sum));
    for (int l = 0; l < whole; l += 8) _mm256_storeu_ps(row + l, _mm256_mul_ps(_mm256_loadu_ps(row + l), inv));
    _mm256_storeu_ps(tail, _mm256_mul_ps(_mm256_loadu_ps(tail), inv));
    for (int i = 0; whole + i < n; i++) row[whole + i] = tail[i];
}
#endif

/* One attention call (see gw_attention). */
typedef struct {
    const uint16_t *q, *k, *v;
    long sb, sh, sl;
    const uint8_t *mask;
    int H, KV, L, D, S;
    float scale;
    uint16_t *out;
    int failed;
} attention_task;

#if GW_AVX512
/* Lane i of the result = the sum of v[i]'s 16 lanes (a transposed reduction: 45 shuffles and adds for 16 sums,
 * where one sum at a time takes ~8). */
static inline __m512 sum16(const __m512 *v) {
    __m512 a[8], b[4], c[2];
    for (int i = 0; i < 8; i++) /* per 128-bit chunk: [v2i even, v2i+1 even, v2i odd, v2i+1 odd] */
        a[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
    for (int i = 0; i < 4; i++) /* per chunk: the chunk's sums of v4i .. v4i+3 */
        b[i] = _mm512_add_ps(_mm512_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                             _mm512_shuffle_ps(a[2 * i], a[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 2; i++) /* chunks 0+1 and 2+3 of b2i, then of b2i+1 */
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(c[0], c[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

/* One task: query row r's G heads sharing key/value head kvh, with head size 16 * V (a constant where the
 * caller can make it one, so the head's vectors stay in registers). p: G * L floats of scratch. */
static inline __attribute__((always_inline)) void attend(const int V, const attention_task *t, int r, int kvh, float *p) {
    const int H = t->H, KV = t->KV, L = t->L, D = 16 * V, G = H / KV, b = r / t->S;
    const uint16_t *kb = t->k + b * t->sb + kvh * t->sh, *vb = t->v + b * t->sb + kvh * t->sh;
    const uint8_t *mb = t->mask ? t->mask + (size_t)r * L : NULL;
    const long sl = t->sl;
    const __m512 scale = _mm512_set1_ps(t->scale), neg_inf = _mm512_set1_ps(-INFINITY);
    __m512 qv[16], kf[16][16], dots[16]; /* V <= 16 */
    for (int l0 = 0; l0 < L; l0 += 16) { /* scores, 16 positions at a time */
        const int n = L - l0 < 16 ? L - l0 : 16;
        __mmask16 live = (__mmask16)(n == 16 ? 0xffffu : (1u << n) - 1u);
        if (mb) {
            const __m128i m = _mm_maskz_loadu_epi8(live, mb + l0);
            live = _mm_test_epi8_mask(m, m);
        }
        if (!live) {
            for (int g = 0; g < G; g++) _mm512_mask_storeu_ps(p + (size_t)g * L + l0, (__mmask16)((1u << n) - 1u), neg_inf);
            continue;
        }
        for (int j = 0; j < 16; j++)
            for (int i = 0; i < V; i++) kf[j][i] = j < n ? load_bf16x16(kb + (l0 + j) * sl + 16 * i) : _mm512_setzero_ps();
        for (int g = 0; g < G; g++) {
            const uint16_t *qg = t->q + ((size_t)r * H + kvh * G + g) * D;
            for (int i = 0; i < V; i++) qv[i] = load_bf16x16(qg + 16 * i);
            for (int j = 0; j < 16; j++) {
                __m512 d = _mm512_mul_ps(qv[0], kf[j][0]);
                for (int i = 1; i < V; i++) d = _mm512_fmadd_ps(qv[i], kf[j][i], d);
                dots[j] = d;
            }
            const __m512 scores = _mm512_mask_mov_ps(neg_inf, live, _mm512_mul_ps(sum16(dots), scale));
            _mm512_mask_storeu_ps(p + (size_t)g * L + l0, (__mmask16)((1u << n) - 1u), scores);
        }
    }
    for (int g = 0; g < G; g++) softmax(p + (size_t)g * L, L);
    const int HEADS = 16 / V; /* heads whose sums fit in 16 registers */
    for (int g0 = 0; g0 < G; g0 += HEADS) { /* out = p V, a few heads at a time with their sums in registers */
        const int hn = G - g0 < HEADS ? G - g0 : HEADS;
        __m512 acc[16], vv[16]; /* acc[h * V + i] */
        for (int h = 0; h < HEADS; h++)
            for (int i = 0; i < V; i++) acc[h * V + i] = _mm512_setzero_ps();
        for (int l = 0; l < L; l++) {
            if (mb && !mb[l]) continue;
            for (int i = 0; i < V; i++) vv[i] = load_bf16x16(vb + l * sl + 16 * i);
            for (int h = 0; h < HEADS; h++) { /* a constant bound, so the sums stay in registers */
                if (h >= hn) break;
                const __m512 w = _mm512_set1_ps(p[(size_t)(g0 + h) * L + l]);
                for (int i = 0; i < V; i++) acc[h * V + i] = _mm512_fmadd_ps(w, vv[i], acc[h * V + i]);
            }
        }
        for (int h = 0; h < hn; h++)
            for (int i = 0; i < V; i++) store_bf16x16(t->out + ((size_t)r * H + kvh * G + g0 + h) * D + 16 * i, acc[h * V + i]);
    }
}

#else
/* Lane i of the result = the sum of v[i]'s 8 lanes. */
static inline __m256 sum8(const __m256 *v) {
    const __m256 a0 = _mm256_hadd_ps(v[0], v[1]), a1 = _mm256_hadd_ps(v[2], v[3]);
    const __m256 a2 = _mm256_hadd_ps(v[4], v[5]), a3 = _mm256_hadd_ps(v[6], v[7]);
    /* per 128-bit half: the half's sums of v0..v3 (b0) and of v4..v7 (b1) */
    const __m256 b0 = _mm256_hadd_ps(a0, a1), b1 = _mm256_hadd_ps(a2, a3);
    return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

/* attend on AVX2: 8 positions at a time, a head as W = 2 V vectors of 8 (head size 16 V). */
static inline __attribute__((always_inline)) void attend(const int V, const attention_task *t, int r, int kvh, float *p) {
    const int W = 2 * V, H = t->H, KV = t->KV, L = t->L, D = 8 * W, G = H / KV, b = r / t->S;
    const uint16_t *kb = t->k + b * t->sb + kvh * t->sh, *vb = t->v + b * t->sb + kvh * t->sh;
    const uint8_t *mb = t->mask ? t->mask + (size_t)r * L : NULL;
    const long sl = t->sl;
    const __m256 scale = _mm256_set1_ps(t->scale), neg_inf = _mm256_set1_ps(-INFINITY);
    __m256 qv[32], kf[8][32], dots[8]; /* W <= 32 */
    for (int l0 = 0; l0 < L; l0 += 8) { /* scores, 8 positions at a time */
        const int n = L - l0 < 8 ? L - l0 : 8;
        int32_t live[8];
        int any = 0;
        for (int j = 0; j < 8; j++) any |= live[j] = j < n && (!mb || mb[l0 + j]) ? -1 : 0;
        if (!any) {
            for (int g = 0; g < G; g++)
                for (int j = 0; j < n; j++) p[(size_t)g * L + l0 + j] = -INFINITY;
            continue;
        }
        const __m256 keep = _mm256_castsi256_ps(_mm256_loadu_si256((const __m256i *)live));
        for (int j = 0; j < 8; j++)
            for (int i = 0; i < W; i++) kf[j][i] = j < n ? load_bf16x8(kb + (l0 + j) * sl + 8 * i) : _mm256_setzero_ps();
        for (int g = 0; g < G; g++) {
            const uint16_t *qg = t->q + ((size_t)r * H + kvh * G + g) * D;
            for (int i = 0; i < W; i++) qv[i] = load_bf16x8(qg + 8 * i);
            for (int j = 0; j < 8; j++) {
                __m256 d = _mm256_mul_ps(qv[0], kf[j][0]);
                for (int i = 1; i < W; i++) d = _mm256_fmadd_ps(qv[i], kf[j][i], d);
                dots[j] = d;
            }
            const __m256 scores = _mm256_blendv_ps(neg_inf, _mm256_mul_ps(sum8(dots), scale), keep);
            if (n == 8) {
                _mm256_storeu_ps(p + (size_t)g * L + l0, scores);
            } else {
                float part[8];
                _mm256_storeu_ps(part, scores);
                memcpy(p + (size_t)g * L + l0, part, sizeof(float) * (size_t)n);
            }
        }
    }
    for (int g = 0; g < G; g++) softmax(p + (size_t)g * L, L);
    const int HEADS = W <= 12 ? 12 / W : 1; /* heads whose sums fit in 12 of the 16 registers */
    for (int g0 = 0; g0 < G; g0 += HEADS) { /* out = p V, a few heads at a time with their sums in registers */
        const int hn = G - g0 < HEADS ? G - g0 : HEADS;
        __m256 acc[32]; /* acc[h * W + i] */
        for (int h = 0; h < HEADS; h++)
            for (int i = 0; i < W; i++) acc[h * W + i] = _mm256_setzero_ps();
        for (int l = 0; l < L; l++) {
            if (mb && !mb[l]) continue;
            for (int i = 0; i < W; i++) {
                const __m256 vv = load_bf16x8(vb + l * sl + 8 * i);
                for (int h = 0; h < HEADS; h++) { /* a constant bound, so the sums stay in registers */
                    if (h >= hn) break;
                    acc[h * W + i] = _mm256_fmadd_ps(_mm256_set1_ps(p[(size_t)(g0 + h) * L + l]), vv, acc[h * W + i]);
                }
            }
        }
        for (int h = 0; h < hn; h++)
            for (int i = 0; i < W; i++) store_bf16x8(t->out + ((size_t)r * H + kvh * G + g0 + h) * D + 8 * i, acc[h * W + i]);
    }
}
#endif

static void attention_part(void *ctx, int begin, int end) {
    attention_task *t = (attention_task *)ctx;
    float *p = (float *)malloc(sizeof(float) * ((size_t)(t->H / t->KV) * t->L + 16));
    if (!p) {
        __atomic_store_n(&t->failed, 1, __ATOMIC_RELAXED);
        return;
    }
    for (int task = begin; task < end; task++) {
        const int r = task / t->KV, kvh = task % t->KV; /* query row r, of sequence r / S */
        switch (t->D / 16) {
            case 1: attend(1, t, r, kvh, p); break;
            case 2: attend(2, t, r, kvh, p); break;
            case 4: attend(4, t, r, kvh, p); break; /* head size 64 */
            case 8: attend(8, t, r, kvh, p); break; /* 128 */
            default: attend(t->D / 16, t, r, kvh, p); break;
        }
    }
    free(p);
}

/* Attention of R query rows, S per sequence (row r belongs to sequence r / S: one for a decode step, the new
 * positions for a prompt), against their sequences' caches, grouped query heads sharing their key/value head.
 * q: [R, H, D] bf16 contiguous; k, v: bf16 with element (b, h, l, d) at b * sb + h * sh + l * sl + d;
 * mask: [R, L] bytes (nonzero = attend; causality is the mask's business) or NULL; out: [R, H, D] bf16.
 * Returns 0, or -1 when D is not a multiple of 16 up to 256, H not a multiple of KV, R not of S, or memory ran
 * out. */
int gw_attention(const uint16_t *q, const uint16_t *k, const uint16_t *v, long sb, long sh, long sl,
                 const uint8_t *mask, int R, int S, int H, int KV, int L, int D, float scale, uint16_t *out,
                 int threads) {
    if (D % 16 != 0 || D > 256 || KV <= 0 || H % KV != 0 || L <= 0 || S <= 0 || R % S != 0) return -1;
    attention_task t = {q, k, v, sb, sh, sl, mask, H, KV, L, D, S, scale, out, 0};
    parallel(attention_part, &t, R * KV, threads);
    return __atomic_load_n(&t.failed, __ATOMIC_RELAXED) ? -1 : 0;
}

#if GW_AVX512
/* The index of the largest of x[0..n) (bf16) among the tokens `allowed` lets through (a bitmask, token t in
 * bit t % 32 of word t / 32, as llguidance computes it; NULL: all), the first such index on ties as
 * torch.argmax; -1 when none is allowed or all allowed are -inf or NaN. (In torch this is a masked_fill that
 * writes a copy of the whole vocabulary's logits, then an argmax: two passes and an allocation per token.) */
long gw_argmax(const uint16_t *x, long n, const uint32_t *allowed) {
    const uint16_t *words = (const uint16_t *)allowed;
    __m512 best = _mm512_set1_ps(-INFINITY);
    __m512i where = _mm512_set1_epi32(-1), index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    long i = 0;
    for (; i + 16 <= n; i += 16) {
        const __mmask16 live = words ? (__mmask16)words[i / 16] : (__mmask16)0xffff;
        const __m512 v = load_bf16x16(x + i);
        const __mmask16 better = _mm512_mask_cmp_ps_mask(live, v, best, _CMP_GT_OQ);
        best = _mm512_mask_mov_ps(best, better, v);
        where = _mm512_mask_mov_epi32(where, better, index);
        index = _mm512_add_epi32(index, _mm512_set1_epi32(16));
    }
    float top = _mm512_reduce_max_ps(best);
    long found = -1;
    if (top > -INFINITY) {
        const __mmask16 lanes = _mm512_cmp_ps_mask(best, _mm512_set1_ps(top), _CMP_EQ_OQ);
        found = (long)_mm512_mask_reduce_min_epi32(lanes, where);
    }
    for (; i < n; i++) { /* the last n % 16 */
        if (words && !((allowed[i / 32] >> (i % 32)) & 1u)) continue;
        const float v = from_bf16(x[i]);
        if (v > top) top = v, found = i;
    }
    return found;
}

#else
/* gw_argmax on AVX2, 8 tokens at a time (a byte of the bitmask each: x86 is little-endian, so token t is bit t % 8
 * of byte t / 8). */
long gw_argmax(const uint16_t *x, long n, const uint32_t *allowed) {
    const uint8_t *bytes = (const uint8_t *)allowed;
    const __m256i bit = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    __m256 best = _mm256_set1_ps(-INFINITY);
    __m256i where = _mm256_set1_epi32(-1), index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    long i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = load_bf16x8(x + i);
        __m256 better = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        if (bytes) {
            const __m256i live = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bytes[i / 8]), bit), bit);
            better = _mm256_and_ps(better, _mm256_castsi256_ps(live));
        }
        best = _mm256_blendv_ps(best, v, better);
        where = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(where), _mm256_castsi256_ps(index), better));
        index = _mm256_add_epi32(index, _mm256_set1_epi32(8));
    }
    float top = hmax8(best);
    long found = -1;
    if (top > -INFINITY) {
        float lanes[8];
        int32_t at[8];
        _mm256_storeu_ps(lanes, best);
        _mm256_storeu_si256((__m256i *)at, where);
        for (int l = 0; l < 8; l++)
            if (lanes[l] == top && (found < 0 || at[l] < found)) found = at[l];
    }
    for (; i < n; i++) { /* the last n % 8 */
        if (bytes && !((allowed[i / 32] >> (i % 32)) & 1u)) continue;
        const float v = from_bf16(x[i]);
        if (v > top) top = v, found = i;
    }
    return found;
}
#endif

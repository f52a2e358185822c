/* The cores' measured FMA peak, the denominator of benches/conv.py's "share of peak".
 *
 *   gcc -O2 -march=native -fopenmp benches/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak 1 0.5
 *
 * Each thread runs 16 independent chains of fused multiply-adds on the widest vectors the
 * compiler targets (AVX-512: 16 floats, AVX2: 8), enough chains in flight to cover the
 * FMA latency on both FMA ports, for about SECONDS; it prints GFLOP/s (2 flops per lane per
 * FMA) summed over THREADS threads. The result is fed back through a volatile store so
 * the compiler cannot drop the loop. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define ADD _mm512_add_ps
#define FIRST(v) _mm512_cvtss_f32(v)
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define ADD _mm256_add_ps
#define FIRST(v) _mm256_cvtss_f32(v)
#else
#error "needs AVX2+FMA or AVX-512"
#endif

#define CHAINS 16
static volatile float sink;

static double run(long iters) {
    double t0 = omp_get_wtime();
#pragma omp parallel
    {
        /* 16 named accumulators, so they live in registers (an array would be kept in memory) */
        vec c0 = SET1(1.00f), c1 = SET1(1.01f), c2 = SET1(1.02f), c3 = SET1(1.03f), c4 = SET1(1.04f),
            c5 = SET1(1.05f), c6 = SET1(1.06f), c7 = SET1(1.07f), c8 = SET1(1.08f), c9 = SET1(1.09f),
            c10 = SET1(1.10f), c11 = SET1(1.11f), c12 = SET1(1.12f), c13 = SET1(1.13f), c14 = SET1(1.14f),
            c15 = SET1(1.15f);
        const vec a = SET1(0.999999f), b = SET1(1e-7f);
        for (long it = 0; it < iters; it++) {
            c0 = FMA(c0, a, b); c1 = FMA(c1, a, b); c2 = FMA(c2, a, b); c3 = FMA(c3, a, b);
            c4 = FMA(c4, a, b); c5 = FMA(c5, a, b); c6 = FMA(c6, a, b); c7 = FMA(c7, a, b);
            c8 = FMA(c8, a, b); c9 = FMA(c9, a, b); c10 = FMA(c10, a, b); c11 = FMA(c11, a, b);
            c12 = FMA(c12, a, b); c13 = FMA(c13, a, b); c14 = FMA(c14, a, b); c15 = FMA(c15, a, b);
        }
        vec s = ADD(ADD(ADD(ADD(c0, c1), ADD(c2, c3)), ADD(ADD(c4, c5), ADD(c6, c7))),
                    ADD(ADD(ADD(c8, c9), ADD(c10, c11)), ADD(ADD(c12, c13), ADD(c14, c15))));
        sink = FIRST(s);
    }
    return omp_get_wtime() - t0;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 0.5;
    omp_set_num_threads(threads);
    long iters = 1 << 20;
    while (run(iters) < seconds / 4) iters *= 2;  /* warm-up and sizing */
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double dt = run(iters);
        double gflops = 2.0 * LANES * CHAINS * (double)iters * threads / dt / 1e9;
        if (gflops > best) best = gflops;
    }
    printf("%.1f\n", best);  /* GFLOP/s, best of 5 (a peak: the best run is the least disturbed) */
    return 0;
}

//! Criterion benchmarks for Ember's CPU kernels.
//!
//! Run: `cargo bench --no-default-features --bench kernels` (add `-- matmul` for one group).
//! Thread count: `EMBER_BENCH_THREADS` (default: all cores). Throughput is reported in
//! elements = floating-point operations, so criterion's "elem/s" reads as FLOP/s.

use _core::kernels::matmul::{matmul, MatmulSpec};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

fn bench_threads() -> usize {
    std::env::var("EMBER_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A pool of `bench_threads()` threads; `None` (global pool) if one cannot be built.
fn pool() -> Option<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(bench_threads())
        .build()
        .ok()
}

fn in_pool<R: Send>(pool: &Option<rayon::ThreadPool>, f: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(p) => p.install(f),
        None => f(),
    }
}

fn data(len: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 + 3) % 17) as f32 * 0.0625 - 0.5)
        .collect()
}

fn bench_matmul(c: &mut Criterion) {
    let pool = pool();
    let mut group = c.benchmark_group("matmul");
    group.warm_up_time(Duration::from_millis(500));
    for &n in &[256usize, 512, 1024, 2048] {
        let spec = MatmulSpec {
            batch: 1,
            m: n,
            k: n,
            n,
            trans_a: false,
            trans_b: false,
            a_batch_stride: n * n,
            b_batch_stride: n * n,
        };
        let a = data(n * n);
        let b = data(n * n);
        let mut out = vec![0f32; n * n];
        group.throughput(Throughput::Elements(2 * (n as u64).pow(3)));
        // ~0.01 s per call at 2048 on two cores: keep the big sizes short.
        group.sample_size(if n >= 2048 { 10 } else { 20 });
        group.measurement_time(Duration::from_secs(if n >= 1024 { 3 } else { 2 }));
        group.bench_with_input(BenchmarkId::new("square", n), &n, |bench, _| {
            in_pool(&pool, || {
                bench.iter(|| matmul(black_box(&a), black_box(&b), black_box(&mut out), &spec))
            });
        });
    }
    group.finish();
}

// Elementwise and softmax throughput (elements per second) at sizes that take the
// parallel paths; the kernels return Result only for allocation failure.
fn bench_elementwise(c: &mut Criterion) {
    use _core::kernels::binary::{self, BinaryOp};
    use _core::kernels::unary::{self, UnaryOp};
    let pool = pool();
    let mut g = c.benchmark_group("elementwise");
    g.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for &n in &[1usize << 16, 1 << 20, 1 << 22] {
        let x = data(n);
        let y = data(n);
        g.throughput(Throughput::Elements(n as u64));
        for (name, op) in [("relu", UnaryOp::Relu), ("exp", UnaryOp::Exp), ("sigmoid", UnaryOp::Sigmoid)] {
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| in_pool(&pool, || black_box(unary::forward(op, black_box(&x)))))
            });
        }
        g.bench_with_input(BenchmarkId::new("add", n), &n, |b, _| {
            b.iter(|| in_pool(&pool, || black_box(binary::forward(BinaryOp::Add, &x, &[n], &y, &[n]))))
        });
        let rows = n / 512;
        g.bench_with_input(BenchmarkId::new("add_row_broadcast", n), &n, |b, _| {
            b.iter(|| in_pool(&pool, || black_box(binary::forward(BinaryOp::Add, &x, &[rows, 512], &y[..512], &[512]))))
        });
    }
    g.finish();
}

fn bench_softmax(c: &mut Criterion) {
    use _core::kernels::nn;
    let pool = pool();
    let mut g = c.benchmark_group("softmax");
    g.sample_size(20).measurement_time(Duration::from_secs(2)).warm_up_time(Duration::from_millis(500));
    for &(rows, cols) in &[(128usize, 10usize), (1024, 1000), (4096, 1000)] {
        let x = data(rows * cols);
        g.throughput(Throughput::Elements((rows * cols) as u64));
        g.bench_with_input(BenchmarkId::new("softmax", format!("{rows}x{cols}")), &rows, |b, _| {
            b.iter(|| in_pool(&pool, || black_box(nn::softmax(&x, &[rows, cols], -1, false))))
        });
    }
    g.finish();
}

criterion_group!(benches, bench_matmul, bench_elementwise, bench_softmax);
criterion_main!(benches);

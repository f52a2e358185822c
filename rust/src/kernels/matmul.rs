//! Batched single-precision matrix multiply.
//!
//! `C[b] = op(A[b]) @ op(B[b])` for `b in 0..batch`, where `op` is the identity or a transpose.
//!
//! Two back ends:
//! * on x86-64 CPUs with AVX-512F (checked at run time): our own packed kernel, an
//!   `MR x 32` register block (`MR` rows of A broadcast against two zmm vectors of B) fed from
//!   panels packed per `KC x NC` cache block, parallelised with rayon over tiles of the output;
//! * everywhere else, and for thin or tiny shapes: the `gemm` crate (its AVX-512 kernels come
//!   with the `x86-v4` feature; on Zen 4 they match ours on square products but are ~1.7x
//!   slower when B is transposed, and ours needs a few full register blocks to pay off).
//!
//! Each rayon worker keeps one packing buffer (< 1 MiB) in a thread local.
//!
//! All work runs on the *current* rayon pool (the caller wraps the call in `pool.install`).

use rayon::prelude::*;

/// Shape and layout of a (batched) matrix product.
#[derive(Clone, Copy, Debug)]
pub struct MatmulSpec {
    /// Number of independent products.
    pub batch: usize,
    /// Rows of `op(A)` and of `C`.
    pub m: usize,
    /// Inner dimension.
    pub k: usize,
    /// Columns of `op(B)` and of `C`.
    pub n: usize,
    /// `A` is stored `(k, m)` row-major per batch instead of `(m, k)`.
    pub trans_a: bool,
    /// `B` is stored `(n, k)` row-major per batch instead of `(k, n)`.
    pub trans_b: bool,
    /// Elements between consecutive `A` matrices; 0 = the same `A` for every batch (broadcast).
    pub a_batch_stride: usize,
    /// Elements between consecutive `B` matrices; 0 = the same `B` for every batch (broadcast).
    pub b_batch_stride: usize,
}

/// Products with fewer floating-point operations than this (over the whole batch) run on the
/// calling thread: forking costs more than it saves.
const PAR_MIN_FLOPS: usize = 1 << 21;

/// `C[b] = op(A[b]) @ op(B[b])`; `c` is `(batch, m, n)` contiguous row-major and is fully
/// overwritten (its previous contents are never read). Runs on the current rayon pool.
pub fn matmul(a: &[f32], b: &[f32], c: &mut [f32], spec: &MatmulSpec) {
    let s = *spec;
    debug_assert!(c.len() >= s.batch * s.m * s.n, "c too short for {s:?}");
    if s.batch == 0 || s.m == 0 || s.n == 0 {
        return;
    }
    let out = &mut c[..s.batch * s.m * s.n];
    if s.k == 0 {
        out.fill(0.0);
        return;
    }
    debug_assert!(
        a.len() >= (s.batch - 1) * s.a_batch_stride + s.m * s.k,
        "a too short for {s:?}"
    );
    debug_assert!(
        b.len() >= (s.batch - 1) * s.b_batch_stride + s.k * s.n,
        "b too short for {s:?}"
    );

    // A forced narrower family (`cpu_features::force_gemm_kernel`, a test hook) skips our
    // AVX-512 kernel as a CPU without AVX-512 would.
    let forced = super::cpu_features::forced_gemm_kernel();
    #[cfg(target_arch = "x86_64")]
    {
        if matches!(forced, None | Some(super::cpu_features::GemmKernel::Avx512))
            && use_avx512_kernel(&s)
            && std::arch::is_x86_feature_detected!("avx512f")
        {
            avx512::matmul(a, b, out, &s);
            return;
        }
    }
    matmul_gemm_kernel(a, b, out, &s, super::cpu_features::kernel_fn(forced));
}

/// Whether our AVX-512 kernel beats the `gemm` crate on this shape. Measured on Zen 4
/// (the CI machines), best of 9:
/// * with `trans_b` ours wins by 1.5-3.5x (the crate transposes B slowly);
/// * a plain product (MLP and recurrence shapes, m 16-128) is the crate's, by 1.1-1.4x on
///   1 and 2 threads;
/// * a `trans_a` product (a weight gradient) is the crate's on 1 thread (1.2x at 64x6400x1024,
///   a tie at the MLP's shapes) and ours on a pool (1.1-1.35x at 64x6400x1024 and
///   256x3200x1024), except with few rows: at 32x3200x512 (an LSTM's input projection at
///   batch 64) the crate wins by 1.4-1.6x on both, since ours packs all of B for 32 rows of C.
#[cfg(target_arch = "x86_64")]
fn use_avx512_kernel(s: &MatmulSpec) -> bool {
    let pooled_weight_gradient = s.trans_a && s.m >= 64 && super::parallel::threads_here() > 1;
    (s.trans_b || pooled_weight_gradient) && avx512_fits(s)
}

/// Shapes our AVX-512 kernel handles well: a few full register blocks at least (thin
/// products, m or n below a few blocks, and tiny ones are the crate's, which has no
/// packing step). A prepacked right-hand side (`pack_rhs`) takes these with or without
/// `trans_b`: without the per-product packing ours is the faster one.
#[cfg(target_arch = "x86_64")]
fn avx512_fits(s: &MatmulSpec) -> bool {
    let volume = s.m * s.n * s.k;
    s.m >= 32 && s.n >= 64 && s.k >= 32 && (volume >= 96 * 96 * 96 || (s.trans_b && volume >= 48 * 48 * 48))
}

/// A right-hand side `op(B)` (k x n) for many products `A @ op(B)` of `m` rows each: the
/// AVX-512 kernel's packed panels are made once instead of at every product (a
/// recurrence multiplies its kernel at every step).
pub struct PackedRhs<'a> {
    b: &'a [f32],
    spec: MatmulSpec,
    #[cfg(target_arch = "x86_64")]
    packed: Option<avx512::PackedB>,
}

/// Packs `b` for `matmul_packed` with `m`-row left operands (`b` is (k, n) row-major, or
/// (n, k) with `trans_b`); shapes the AVX-512 kernel would not take keep `b` as it is.
pub fn pack_rhs(b: &[f32], m: usize, k: usize, n: usize, trans_b: bool) -> PackedRhs<'_> {
    let spec = MatmulSpec { batch: 1, m, k, n, trans_a: false, trans_b, a_batch_stride: 0, b_batch_stride: 0 };
    #[cfg(target_arch = "x86_64")]
    {
        let forced = super::cpu_features::forced_gemm_kernel();
        let packed = (matches!(forced, None | Some(super::cpu_features::GemmKernel::Avx512))
            && m > 0
            && k > 0
            && n > 0
            && b.len() >= k * n
            && avx512_fits(&spec)
            && std::arch::is_x86_feature_detected!("avx512f"))
        .then(|| avx512::pack(b, &spec));
        PackedRhs { b, spec, packed }
    }
    #[cfg(not(target_arch = "x86_64"))]
    PackedRhs { b, spec }
}

/// `c = a @ op(B)` for `a` (m, k) row-major: our AVX-512 kernel's values where it packed
/// (those of `matmul` with `trans_b`), else `matmul`'s.
pub fn matmul_packed(a: &[f32], rhs: &PackedRhs<'_>, c: &mut [f32]) {
    matmul_packed_rows(a, rhs.spec.k, rhs, c)
}

/// `matmul_packed` where row i of the left operand starts at `a[i * lda]` (rows `k` long,
/// `lda >= k`): a recurrence's per-step rows inside a (batch, time, k) tensor, multiplied
/// where they lie, with the values of the rows copied together.
pub fn matmul_packed_rows(a: &[f32], lda: usize, rhs: &PackedRhs<'_>, c: &mut [f32]) {
    let (m, k, n) = (rhs.spec.m, rhs.spec.k, rhs.spec.n);
    debug_assert!(lda >= k && (m == 0 || a.len() >= (m - 1) * lda + k) && c.len() >= m * n);
    #[cfg(target_arch = "x86_64")]
    if let Some(pb) = &rhs.packed {
        debug_assert!(pb.k == k && pb.n == n);
        avx512::matmul_packed(a, lda, pb, &mut c[..m * n], &rhs.spec);
        return;
    }
    if lda == k || m <= 1 {
        return matmul(a, rhs.b, c, &rhs.spec);
    }
    // The crate's path (shapes our kernel does not take, CPUs without AVX-512) on a copy.
    let mut rows = Vec::with_capacity(m * k);
    for i in 0..m {
        rows.extend_from_slice(&a[i * lda..i * lda + k]);
    }
    matmul(&rows, rhs.b, c, &rhs.spec);
}

/// The portable back end (the `gemm` crate), exposed for benchmarks and tests only.
#[doc(hidden)]
pub fn matmul_gemm_crate(a: &[f32], b: &[f32], c: &mut [f32], spec: &MatmulSpec) {
    matmul_gemm_kernel(a, b, c, spec, gemm::gemm::<f32>);
}

/// The `gemm` crate through `gemm_fn`: its own dispatch, or one family's microkernels
/// (`cpu_features::kernel_fn`).
fn matmul_gemm_kernel(a: &[f32], b: &[f32], c: &mut [f32], spec: &MatmulSpec, gemm_fn: super::cpu_features::GemmFn) {
    let s = *spec;
    if s.batch == 0 || s.m == 0 || s.n == 0 {
        return;
    }
    let (m, n, k) = (s.m, s.n, s.k);
    let out = &mut c[..s.batch * m * n];
    if k == 0 {
        out.fill(0.0);
        return;
    }
    debug_assert!(a.len() >= (s.batch - 1) * s.a_batch_stride + m * k);
    debug_assert!(b.len() >= (s.batch - 1) * s.b_batch_stride + k * n);
    // gemm takes (column stride, row stride) per operand.
    let (lhs_cs, lhs_rs) = if s.trans_a {
        (m as isize, 1)
    } else {
        (1, k as isize)
    };
    let (rhs_cs, rhs_rs) = if s.trans_b {
        (k as isize, 1)
    } else {
        (1, n as isize)
    };
    let threads = super::parallel::threads_here();
    let flops = 2 * m * n * k;
    let one = |bi: usize, dst: &mut [f32], par: gemm::Parallelism| {
        let a_off = bi * s.a_batch_stride;
        let b_off = bi * s.b_batch_stride;
        let lhs = &a[a_off..a_off + m * k];
        let rhs = &b[b_off..b_off + k * n];
        // SAFETY: `dst` holds m*n elements and `lhs`/`rhs` m*k and k*n (checked by the slicing
        // above); the strides describe exactly those row-major layouts. read_dst = false, so
        // the garbage in `dst` is never read.
        unsafe {
            gemm_fn(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.as_ptr(),
                lhs_cs,
                lhs_rs,
                rhs.as_ptr(),
                rhs_cs,
                rhs_rs,
                0.0f32,
                1.0f32,
                false,
                false,
                false,
                par,
            );
        }
    };
    if threads > 1 && s.batch >= threads && flops * s.batch >= PAR_MIN_FLOPS {
        out.par_chunks_mut(m * n)
            .enumerate()
            .for_each(|(bi, dst)| one(bi, dst, gemm::Parallelism::None));
    } else {
        let par = if threads > 1 && flops >= PAR_MIN_FLOPS {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        for (bi, dst) in out.chunks_mut(m * n).enumerate() {
            one(bi, dst, par);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{MatmulSpec, PAR_MIN_FLOPS};
    use rayon::prelude::*;
    use std::arch::x86_64::*;
    use std::cell::RefCell;

    /// Rows of the register block.
    pub(super) const MR: usize = 8;
    /// Columns of the register block: two zmm vectors.
    pub(super) const NR: usize = 32;
    /// Depth of a cache block (an A sliver `MR x KC` = 12 KiB stays in L1).
    const KC: usize = 384;
    /// Columns of a cache block (packed B block `KC x NC` lives in L2).
    const NC: usize = 512;

    /// Raw operand pointers shared by the tasks of one call.
    #[derive(Clone, Copy)]
    struct Ptrs {
        a: *const f32,
        b: *const f32,
        c: *mut f32,
    }
    // SAFETY: tasks only read `a` and `b`, and each task writes a disjoint tile of `c`.
    unsafe impl Send for Ptrs {}
    // SAFETY: as above.
    unsafe impl Sync for Ptrs {}

    /// One tile of one product: rows `m0..m1`, columns `n0..n1` of `C[bi]`.
    #[derive(Clone, Copy, Debug)]
    struct Task {
        bi: usize,
        m0: usize,
        m1: usize,
        n0: usize,
        n1: usize,
    }

    thread_local! {
        static PACK: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// Splits `len` into `parts` chunks whose boundaries are multiples of `quantum`.
    fn split(len: usize, parts: usize, quantum: usize) -> Vec<(usize, usize)> {
        let blocks = len.div_ceil(quantum);
        let parts = parts.clamp(1, blocks.max(1));
        (0..parts)
            .map(|p| {
                let lo = (blocks * p / parts * quantum).min(len);
                let hi = (blocks * (p + 1) / parts * quantum).min(len);
                (lo, hi)
            })
            .filter(|(lo, hi)| hi > lo)
            .collect()
    }

    pub(super) fn matmul(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulSpec) {
        let (m, n, k) = (s.m, s.n, s.k);
        let threads = super::super::parallel::threads_here();
        let total_flops = 2 * m * n * k * s.batch;
        let parallel = threads > 1 && total_flops >= PAR_MIN_FLOPS;

        // Tiles per product: enough for every thread to have work. A grid pm x pn duplicates
        // the packing of A pn times and of B pm times; pick the cheapest factorisation.
        let parts = if parallel {
            threads.div_ceil(s.batch)
        } else {
            1
        };
        let (mut pm, mut pn) = (1, 1);
        if parts > 1 {
            let mut best = usize::MAX;
            for d in 1..=parts {
                if parts % d != 0 {
                    continue;
                }
                let (qm, qn) = (d, parts / d);
                if qm > m.div_ceil(MR) || qn > n.div_ceil(NR) {
                    continue;
                }
                let cost = qn * m * k + qm * k * n;
                if cost < best {
                    best = cost;
                    (pm, pn) = (qm, qn);
                }
            }
        }
        let rows = split(m, pm, MR);
        let cols = split(n, pn, NR);
        let mut tasks = Vec::with_capacity(s.batch * rows.len() * cols.len());
        for bi in 0..s.batch {
            for &(m0, m1) in &rows {
                for &(n0, n1) in &cols {
                    tasks.push(Task { bi, m0, m1, n0, n1 });
                }
            }
        }

        let ptrs = Ptrs {
            a: a.as_ptr(),
            b: b.as_ptr(),
            c: c.as_mut_ptr(),
        };
        let lda = if s.trans_a { s.m } else { s.k };
        let run = |t: &Task| {
            PACK.with(|cell| match cell.try_borrow_mut() {
                Ok(mut buf) => run_task(ptrs, s, lda, t, &mut buf, None),
                Err(_) => run_task(ptrs, s, lda, t, &mut Vec::new(), None),
            })
        };
        if parallel && tasks.len() > 1 {
            tasks.par_iter().with_max_len(1).for_each(run);
        } else {
            tasks.iter().for_each(run);
        }
    }

    /// Index of the first 64-byte aligned element of `buf`, after growing it to hold
    /// `len` aligned elements.
    fn aligned(buf: &mut Vec<f32>, len: usize) -> usize {
        if buf.len() < len + 16 {
            buf.resize(len + 16, 0.0);
        }
        buf.as_ptr().align_offset(64).min(16)
    }

    /// Depth of the cache blocks for inner dimension k. Even blocks: k = 512 runs as
    /// 2 x 256 rather than 384 + 128.
    fn kc_of(k: usize) -> usize {
        k.div_ceil(k.div_ceil(KC)).next_multiple_of(16).min(k)
    }

    /// Width of the cache blocks for a tile `width` columns wide.
    fn nc_of(width: usize) -> usize {
        width.div_ceil(width.div_ceil(NC)).next_multiple_of(NR)
    }

    /// `op(B)` packed once, block by block as `run_task` packs it for a full-width tile,
    /// for products that reuse it (a recurrence's kernel at every step).
    pub(super) struct PackedB {
        pub(super) k: usize,
        pub(super) n: usize,
        data: Vec<f32>,
        off: usize,
        /// Start of block (jc / nc_max, pc / kc_max) in `data[off..]`, row-major by jc.
        starts: Vec<usize>,
    }

    pub(super) fn pack(b: &[f32], s: &MatmulSpec) -> PackedB {
        // The (jc, nc, pc, kc) cache blocks in the order `run_task` visits them.
        let (kc_max, nc_max) = (kc_of(s.k), nc_of(s.n));
        let mut blocks = Vec::new();
        for jc in (0..s.n).step_by(nc_max) {
            for pc in (0..s.k).step_by(kc_max) {
                blocks.push((jc, nc_max.min(s.n - jc), pc, kc_max.min(s.k - pc)));
            }
        }
        let mut starts = Vec::with_capacity(blocks.len());
        let mut total = 0;
        for &(_, nc, _, kc) in &blocks {
            starts.push(total);
            total += nc.div_ceil(NR) * kc * NR;
        }
        let mut data = Vec::new();
        let off = aligned(&mut data, total + 16);
        for (&(jc, nc, pc, kc), &start) in blocks.iter().zip(&starts) {
            let at = off + start;
            // SAFETY: b holds op(B) (k x n) as the spec says (checked by the caller).
            unsafe { pack_b(b.as_ptr(), s, pc, kc, jc, nc, &mut data[at..at + nc.div_ceil(NR) * kc * NR]) };
        }
        PackedB { k: s.k, n: s.n, data, off, starts }
    }

    /// `C = op(A) @ B` with B packed by `pack`: the tasks split the rows only, so each one
    /// walks B's blocks as `run_task` would pack them, and the values are those of this
    /// kernel's `matmul` on the same operands. A's rows are `lda` elements apart.
    pub(super) fn matmul_packed(a: &[f32], lda: usize, pb: &PackedB, c: &mut [f32], s: &MatmulSpec) {
        let threads = super::super::parallel::threads_here();
        let parallel = threads > 1 && 2 * s.m * s.n * s.k >= PAR_MIN_FLOPS;
        let rows = split(s.m, if parallel { threads } else { 1 }, MR);
        let ptrs = Ptrs { a: a.as_ptr(), b: std::ptr::null(), c: c.as_mut_ptr() };
        let run = |&(m0, m1): &(usize, usize)| {
            let t = Task { bi: 0, m0, m1, n0: 0, n1: s.n };
            PACK.with(|cell| match cell.try_borrow_mut() {
                Ok(mut buf) => run_task(ptrs, s, lda, &t, &mut buf, Some(pb)),
                Err(_) => run_task(ptrs, s, lda, &t, &mut Vec::new(), Some(pb)),
            })
        };
        if rows.len() > 1 {
            rows.par_iter().with_max_len(1).for_each(run);
        } else {
            rows.iter().for_each(run);
        }
    }

    /// One tile; A's rows (its k rows with `trans_a`) are `lda` elements apart.
    fn run_task(p: Ptrs, s: &MatmulSpec, lda: usize, t: &Task, buf: &mut Vec<f32>, pre: Option<&PackedB>) {
        let kc_max = kc_of(s.k);
        let width = t.n1 - t.n0;
        let nc_max = nc_of(width);
        let b_len = if pre.is_some() { 0 } else { kc_max * nc_max };
        let a_len = kc_max * MR;
        let off = aligned(buf, b_len + a_len + 16);
        let (bpack, rest) = buf[off..].split_at_mut(b_len);
        let apack = &mut rest[..a_len];
        // SAFETY: the caller guarantees the operand slices match the spec; every pointer
        // formed below stays inside batch `t.bi` of its operand, and `t` only covers its own
        // tile of C, so tasks never write overlapping memory.
        unsafe {
            let a = p.a.add(t.bi * s.a_batch_stride);
            let b = p.b.add(t.bi * s.b_batch_stride);
            let c = p.c.add(t.bi * s.m * s.n);
            let mut jc = t.n0;
            let mut block_i = 0;
            while jc < t.n1 {
                let nc = nc_max.min(t.n1 - jc);
                let panels = nc.div_ceil(NR);
                let mut pc = 0;
                while pc < s.k {
                    let kc = kc_max.min(s.k - pc);
                    let bpack: &[f32] = match pre {
                        Some(pb) => {
                            let at = pb.off + pb.starts[block_i];
                            &pb.data[at..at + panels * kc * NR]
                        }
                        None => {
                            pack_b(b, s, pc, kc, jc, nc, bpack);
                            &*bpack
                        }
                    };
                    block_i += 1;
                    let mut ir = t.m0;
                    while ir < t.m1 {
                        let mr = MR.min(t.m1 - ir);
                        // Full slivers are read straight from A (its MR rows stay in L1
                        // across the panels); a partial one is packed with zero padding.
                        let (ap, a_rs, a_cs) = if mr == MR {
                            if s.trans_a {
                                (a.add(pc * lda + ir), 1, lda)
                            } else {
                                (a.add(ir * lda + pc), lda, 1)
                            }
                        } else {
                            pack_a(a, s, lda, ir, mr, pc, kc, apack);
                            (apack.as_ptr(), 1, MR)
                        };
                        let ak = ASliver {
                            ptr: ap,
                            rs: a_rs,
                            cs: a_cs,
                        };
                        for jp in 0..panels {
                            let nr = NR.min(nc - jp * NR);
                            let cp = c.add(ir * s.n + jc + jp * NR);
                            let bp = bpack.as_ptr().add(jp * kc * NR);
                            block(kc, ak, bp, cp, s.n, mr, nr, pc > 0);
                        }
                        ir += MR;
                    }
                    pc += kc;
                }
                jc += nc;
            }
        }
    }

    /// Packs `op(B)[pc..pc+kc, jc..jc+nc]` as `ceil(nc/NR)` panels of `kc x NR`, zero padded.
    unsafe fn pack_b(
        b: *const f32,
        s: &MatmulSpec,
        pc: usize,
        kc: usize,
        jc: usize,
        nc: usize,
        dst: &mut [f32],
    ) {
        let panels = nc.div_ceil(NR);
        for jp in 0..panels {
            let j0 = jc + jp * NR;
            let nr = NR.min(jc + nc - j0);
            let d = &mut dst[jp * kc * NR..(jp + 1) * kc * NR];
            if !s.trans_b {
                // B is (k, n): row p of the panel is contiguous.
                for p in 0..kc {
                    // SAFETY: row pc+p < k, columns j0..j0+nr < n.
                    let src = unsafe { std::slice::from_raw_parts(b.add((pc + p) * s.n + j0), nr) };
                    let row = &mut d[p * NR..(p + 1) * NR];
                    row[..nr].copy_from_slice(src);
                    row[nr..].fill(0.0);
                }
            } else {
                // B is (n, k): column j of the panel is contiguous.
                let mut p_done = 0;
                if nr == NR {
                    // SAFETY: rows j0..j0+NR < n, columns pc..pc+kc <= k; avx512f was detected
                    // before entering this module.
                    p_done = unsafe { pack_bt_panel(b.add(j0 * s.k + pc), s.k, kc, d) };
                    if p_done == kc {
                        continue;
                    }
                } else {
                    d.fill(0.0);
                }
                for jj in 0..nr {
                    // SAFETY: row j0+jj < n of the stored (n, k) matrix, columns pc..pc+kc <= k.
                    let src =
                        unsafe { std::slice::from_raw_parts(b.add((j0 + jj) * s.k + pc), kc) };
                    for (p, &v) in src.iter().enumerate().skip(p_done) {
                        d[p * NR + jj] = v;
                    }
                }
            }
        }
    }

    /// Transposes the full `NR`-row block `src[j * ld + p]` (j < NR, p < kc) into the panel
    /// `d[p * NR + j]`, 16 x 16 at a time; returns how many leading steps p it filled (a
    /// multiple of 16: the rest is left to the caller).
    #[target_feature(enable = "avx512f")]
    unsafe fn pack_bt_panel(src: *const f32, ld: usize, kc: usize, d: &mut [f32]) -> usize {
        let full = kc / 16 * 16;
        debug_assert!(d.len() >= kc * NR);
        let dp = d.as_mut_ptr();
        let mut p0 = 0;
        while p0 < full {
            for h in 0..NR / 16 {
                // SAFETY: rows h*16..h*16+16 < NR and columns p0..p0+16 <= kc of the source
                // block; destination rows p0..p0+16 < kc of the panel.
                unsafe {
                    let r: [__m512; 16] =
                        std::array::from_fn(|j| _mm512_loadu_ps(src.add((h * 16 + j) * ld + p0)));
                    let t = transpose16(r);
                    for (pp, v) in t.iter().enumerate() {
                        _mm512_storeu_ps(dp.add((p0 + pp) * NR + h * 16), *v);
                    }
                }
            }
            p0 += 16;
        }
        full
    }

    /// 16 x 16 transpose of row vectors.
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            let b = 4 * q;
            u[b] = _mm512_shuffle_ps::<0x44>(t[b], t[b + 2]);
            u[b + 1] = _mm512_shuffle_ps::<0xEE>(t[b], t[b + 2]);
            u[b + 2] = _mm512_shuffle_ps::<0x44>(t[b + 1], t[b + 3]);
            u[b + 3] = _mm512_shuffle_ps::<0xEE>(t[b + 1], t[b + 3]);
        }
        for i in 0..4 {
            t[i] = _mm512_shuffle_f32x4::<0x88>(u[i], u[i + 4]);
            t[i + 4] = _mm512_shuffle_f32x4::<0xDD>(u[i], u[i + 4]);
            t[i + 8] = _mm512_shuffle_f32x4::<0x88>(u[i + 8], u[i + 12]);
            t[i + 12] = _mm512_shuffle_f32x4::<0xDD>(u[i + 8], u[i + 12]);
        }
        for i in 0..8 {
            u[i] = _mm512_shuffle_f32x4::<0x88>(t[i], t[i + 8]);
            u[i + 8] = _mm512_shuffle_f32x4::<0xDD>(t[i], t[i + 8]);
        }
        u
    }

    /// Packs `op(A)[ir..ir+mr, pc..pc+kc]` as a `kc x MR` sliver, zero padded.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pack_a(
        a: *const f32,
        s: &MatmulSpec,
        lda: usize,
        ir: usize,
        mr: usize,
        pc: usize,
        kc: usize,
        dst: &mut [f32],
    ) {
        let d = &mut dst[..kc * MR];
        if s.trans_a {
            // A is (k, m): the MR values of step p are contiguous.
            for p in 0..kc {
                // SAFETY: row pc+p < k, columns ir..ir+mr <= m.
                let src = unsafe { std::slice::from_raw_parts(a.add((pc + p) * lda + ir), mr) };
                let row = &mut d[p * MR..(p + 1) * MR];
                row[..mr].copy_from_slice(src);
                row[mr..].fill(0.0);
            }
        } else {
            if mr < MR {
                d.fill(0.0);
            }
            for i in 0..mr {
                // SAFETY: row ir+i < m, columns pc..pc+kc <= k.
                let src = unsafe { std::slice::from_raw_parts(a.add((ir + i) * lda + pc), kc) };
                for (p, &v) in src.iter().enumerate() {
                    d[p * MR + i] = v;
                }
            }
        }
    }

    /// `MR` rows of `op(A)` over one depth block: element (i, p) at `ptr[i * rs + p * cs]`.
    #[derive(Clone, Copy)]
    struct ASliver {
        ptr: *const f32,
        rs: usize,
        cs: usize,
    }

    /// One register block; partial blocks go through a scratch tile.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    unsafe fn block(
        kc: usize,
        ap: ASliver,
        bp: *const f32,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        acc: bool,
    ) {
        if mr == MR && nr == NR {
            // SAFETY: full tile inside C; packed panels hold kc*MR and kc*NR values.
            unsafe { kernel(kc, ap, bp, c, ldc, acc) };
        } else {
            let mut tmp = [0f32; MR * NR];
            // SAFETY: tmp is a full MR x NR tile.
            unsafe { kernel(kc, ap, bp, tmp.as_mut_ptr(), NR, false) };
            for i in 0..mr {
                // SAFETY: rows < mr and columns < nr of this tile are inside C.
                let dst = unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), nr) };
                let src = &tmp[i * NR..i * NR + nr];
                if acc {
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                } else {
                    dst.copy_from_slice(src);
                }
            }
        }
    }

    /// `C[0..MR, 0..NR] (+)= A(MR x kc) * Bpanel(kc x NR)`.
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel(kc: usize, a: ASliver, bp: *const f32, c: *mut f32, ldc: usize, acc: bool) {
        let mut r = [[_mm512_setzero_ps(); 2]; MR];
        // SAFETY: the sliver holds kc steps of MR values and the packed panel kc steps of NR;
        // the tile c[i*ldc + 0..NR] for i < MR is inside C.
        unsafe {
            let mut ap = a.ptr;
            let mut bp = bp;
            let rows: [usize; MR] = std::array::from_fn(|i| i * a.rs);
            // The C tile is touched only after the k loop: start fetching it now.
            for i in 0..MR {
                let cp = c.add(i * ldc) as *const i8;
                _mm_prefetch::<_MM_HINT_T0>(cp);
                _mm_prefetch::<_MM_HINT_T0>(cp.add(64));
            }
            for _ in 0..kc {
                let b0 = _mm512_loadu_ps(bp);
                let b1 = _mm512_loadu_ps(bp.add(16));
                for (ri, &off) in r.iter_mut().zip(&rows) {
                    let av = _mm512_set1_ps(*ap.add(off));
                    ri[0] = _mm512_fmadd_ps(av, b0, ri[0]);
                    ri[1] = _mm512_fmadd_ps(av, b1, ri[1]);
                }
                ap = ap.add(a.cs);
                bp = bp.add(NR);
            }
            for (i, ri) in r.iter().enumerate() {
                let cp = c.add(i * ldc);
                if acc {
                    _mm512_storeu_ps(cp, _mm512_add_ps(_mm512_loadu_ps(cp), ri[0]));
                    _mm512_storeu_ps(
                        cp.add(16),
                        _mm512_add_ps(_mm512_loadu_ps(cp.add(16)), ri[1]),
                    );
                } else {
                    _mm512_storeu_ps(cp, ri[0]);
                    _mm512_storeu_ps(cp.add(16), ri[1]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A prepacked right-hand side gives the values of the AVX-512 kernel's product, bit
    /// for bit, on one thread and on a pool (whose tasks split the columns where ours split
    /// rows), with the left rows contiguous or apart; shapes the kernel does not take give
    /// `matmul`'s.
    #[test]
    fn packed_rhs_matches_matmul_bitwise() {
        let pool2 = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap_or_else(|_| std::process::abort());
        for &(m, k, n, tb) in &[(64, 128, 512, false), (64, 512, 128, true), (33, 70, 97, false), (32, 600, 64, true), (5, 8, 9, false), (96, 1000, 600, false)] {
            let a: Vec<f32> = (0..m * k).map(|i| ((i * 37 % 101) as f32 - 50.0) / 17.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 13.0).collect();
            let spec = MatmulSpec { batch: 1, m, k, n, trans_a: false, trans_b: tb, a_batch_stride: 0, b_batch_stride: 0 };
            let run = || {
                let mut want = vec![0f32; m * n];
                #[cfg(target_arch = "x86_64")]
                if avx512_fits(&spec) && std::arch::is_x86_feature_detected!("avx512f") {
                    avx512::matmul(&a, &b, &mut want, &spec);
                } else {
                    matmul(&a, &b, &mut want, &spec);
                }
                #[cfg(not(target_arch = "x86_64"))]
                matmul(&a, &b, &mut want, &spec);
                let rhs = pack_rhs(&b, m, k, n, tb);
                let mut got = vec![1f32; m * n];
                matmul_packed(&a, &rhs, &mut got);
                // The same rows spread 3k apart (every third row of a larger tensor).
                let lda = 3 * k + 1;
                let mut spread = vec![f32::NAN; (m - 1) * lda + k];
                for i in 0..m {
                    spread[i * lda..i * lda + k].copy_from_slice(&a[i * k..(i + 1) * k]);
                }
                let mut strided = vec![1f32; m * n];
                matmul_packed_rows(&spread, lda, &rhs, &mut strided);
                (want, got, strided)
            };
            for (want, got, strided) in [run(), pool2.install(run)] {
                assert!(want.iter().zip(&got).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}x{k}x{n} trans_b={tb}");
                assert!(want.iter().zip(&strided).all(|(x, y)| x.to_bits() == y.to_bits()), "rows apart: {m}x{k}x{n} trans_b={tb}");
            }
        }
    }

    fn naive(a: &[f32], b: &[f32], s: &MatmulSpec) -> Vec<f64> {
        let mut out = vec![0f64; s.batch * s.m * s.n];
        for bi in 0..s.batch {
            let ao = bi * s.a_batch_stride;
            let bo = bi * s.b_batch_stride;
            for i in 0..s.m {
                for j in 0..s.n {
                    let mut acc = 0f64;
                    for p in 0..s.k {
                        let av = if s.trans_a {
                            a[ao + p * s.m + i]
                        } else {
                            a[ao + i * s.k + p]
                        };
                        let bv = if s.trans_b {
                            b[bo + j * s.k + p]
                        } else {
                            b[bo + p * s.n + j]
                        };
                        acc += av as f64 * bv as f64;
                    }
                    out[bi * s.m * s.n + i * s.n + j] = acc;
                }
            }
        }
        out
    }

    fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    type Impl = fn(&[f32], &[f32], &mut [f32], &MatmulSpec);

    fn check_with(f: Impl, s: MatmulSpec) {
        let a_len = if s.batch == 0 {
            0
        } else {
            (s.batch - 1) * s.a_batch_stride + s.m * s.k
        };
        let b_len = if s.batch == 0 {
            0
        } else {
            (s.batch - 1) * s.b_batch_stride + s.k * s.n
        };
        let a = data(a_len, 1 + s.m as u64);
        let b = data(b_len, 2 + s.n as u64);
        // garbage in C must be overwritten, never read
        let mut c = vec![f32::NAN; s.batch * s.m * s.n];
        f(&a, &b, &mut c, &s);
        let want = naive(&a, &b, &s);
        for (idx, (&got, &w)) in c.iter().zip(&want).enumerate() {
            let tol = 1e-5 * (s.k as f64).sqrt().max(1.0) * 4.0 + 1e-6;
            assert!(
                (got as f64 - w).abs() <= tol,
                "{s:?} at {idx}: got {got}, want {w}"
            );
        }
    }

    fn spec(batch: usize, m: usize, k: usize, n: usize, ta: bool, tb: bool) -> MatmulSpec {
        MatmulSpec {
            batch,
            m,
            k,
            n,
            trans_a: ta,
            trans_b: tb,
            a_batch_stride: m * k,
            b_batch_stride: k * n,
        }
    }

    const TRANS: [(bool, bool); 4] = [(false, false), (true, false), (false, true), (true, true)];

    /// Our AVX-512 kernel whatever the shape (the dispatcher sends small shapes elsewhere).
    fn avx512_direct(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulSpec) {
        #[cfg(target_arch = "x86_64")]
        {
            if s.batch > 0
                && s.m > 0
                && s.n > 0
                && s.k > 0
                && std::arch::is_x86_feature_detected!("avx512f")
            {
                avx512::matmul(a, b, c, s);
                return;
            }
        }
        matmul(a, b, c, s);
    }

    /// The `gemm` crate's AVX2+FMA and scalar microkernels, as CPUs without AVX-512 (or
    /// without AVX2) run them.
    fn avx2_kernels(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulSpec) {
        use super::super::cpu_features::{kernel_fn, GemmKernel};
        let k = if GemmKernel::Avx2.supported() { GemmKernel::Avx2 } else { GemmKernel::Scalar };
        matmul_gemm_kernel(a, b, c, s, kernel_fn(Some(k)));
    }

    fn scalar_kernels(a: &[f32], b: &[f32], c: &mut [f32], s: &MatmulSpec) {
        use super::super::cpu_features::{kernel_fn, GemmKernel};
        matmul_gemm_kernel(a, b, c, s, kernel_fn(Some(GemmKernel::Scalar)));
    }

    fn all_impls(s: MatmulSpec) {
        check_with(matmul, s);
        check_with(matmul_gemm_crate, s);
        check_with(avx512_direct, s);
        check_with(avx2_kernels, s);
        check_with(scalar_kernels, s);
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn odd_sizes_all_transposes() {
        let sizes = [1usize, 3, 17, 33, 65, 129];
        for threads in [1, 2, 3] {
            in_pool(threads, || {
                for &(ta, tb) in &TRANS {
                    for &m in &sizes {
                        for &k in &[1usize, 17, 129] {
                            for &n in &sizes {
                                all_impls(spec(1, m, k, n, ta, tb));
                            }
                        }
                    }
                }
            });
        }
    }

    #[test]
    fn larger_than_cache_blocks() {
        // crosses KC (256), NC (512) and the parallel threshold
        for threads in [1, 2] {
            in_pool(threads, || {
                for &(ta, tb) in &TRANS {
                    all_impls(spec(1, 131, 300, 530, ta, tb));
                    all_impls(spec(1, 8, 513, 32, ta, tb));
                    all_impls(spec(1, 257, 64, 7, ta, tb));
                }
            });
        }
    }

    #[test]
    fn batched_and_broadcast() {
        for threads in [1, 2, 4] {
            in_pool(threads, || {
                for &(ta, tb) in &TRANS {
                    for &(m, k, n) in &[(3usize, 5usize, 7usize), (33, 17, 65), (64, 128, 96)] {
                        all_impls(spec(3, m, k, n, ta, tb));
                        let mut s = spec(4, m, k, n, ta, tb);
                        s.a_batch_stride = 0;
                        all_impls(s);
                        let mut s = spec(2, m, k, n, ta, tb);
                        s.b_batch_stride = 0;
                        all_impls(s);
                        let mut s = spec(5, m, k, n, ta, tb);
                        s.a_batch_stride = 0;
                        s.b_batch_stride = 0;
                        all_impls(s);
                    }
                }
            });
        }
    }

    #[test]
    fn zero_sizes() {
        for &(ta, tb) in &TRANS {
            for &(batch, m, k, n) in &[
                (0usize, 3usize, 4usize, 5usize),
                (2, 0, 4, 5),
                (2, 3, 0, 5),
                (2, 3, 4, 0),
                (1, 0, 0, 0),
            ] {
                all_impls(spec(batch, m, k, n, ta, tb));
            }
        }
        // k == 0 fills with zeros even over garbage
        let s = spec(2, 3, 0, 5, false, false);
        let mut c = vec![f32::NAN; 30];
        matmul(&[], &[], &mut c, &s);
        assert!(c.iter().all(|&v| v == 0.0));
    }

    #[test]
    fn mlp_shapes() {
        in_pool(2, || {
            all_impls(spec(1, 128, 784, 512, false, false));
            all_impls(spec(1, 784, 128, 512, true, false));
            all_impls(spec(1, 128, 512, 784, false, true));
        });
    }
}

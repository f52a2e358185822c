//! 2-D convolution, NHWC, with Keras's kernel layout (KH, KW, C / groups, O).
//!
//! Output position (n, i, j, o), o in group g, is
//! `sum_{p, q, c} xpad[n, i s0 + p d0, j s1 + q d1, g C/groups + c] w[p, q, c, o]` where
//! `xpad` is `x` zero-padded by ((top, bottom), (left, right)).
//!
//! Two algorithms, chosen by shape:
//! * **tiled implicit GEMM** (the general case): each rayon task owns one im2col tile of
//!   `TM` output rows x `KH KW C/groups` (a few hundred KiB, sized to stay in L2), fills it
//!   straight from the input (zeros for padding), and multiplies it with the `gemm` crate
//!   into its rows of the output, where bias and activation are applied while the rows are
//!   hot. Memory is one tile per task, never `rows x K` as in a plain im2col (which at the
//!   first layer of a VGG block at batch 32 would be 370 MiB). The backward pass walks the
//!   same tiles: `gz = gy act'(y)`, `gw += cols^T gz`, `gb += sum gz`, and for `gx` the tile
//!   `gz w^T` is scattered back (col2im) into the task's own images, so tasks never write
//!   the same element.
//! * a **direct** kernel for depthwise convolution (groups == channels), where each output
//!   channel reads one input channel: it runs over output pixels with blocks of 16 output
//!   channels accumulated in registers (contiguous in NHWC, so it vectorises).
//!
//!
//! The elementwise loops run inside `vectorized`, compiled for AVX-512 or AVX2 at run time.
//! Measured with benches/conv.py (2-core AVX-512 VM, shared and noisy, medians): see
//! `choose` for the one input channel case.

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::alloc_f32;

use super::cpu_features::{forced_gemm_kernel, kernel_fn, vectorized, GemmFn};
use super::nn::DenseActivation;
use super::parallel::MIN_PARALLEL;
use super::unary::sigmoid;

/// Output height and width of a window op over an NHWC input, after the checks every
/// window op shares (rank 4, positive window/strides/dilation, window inside the padded
/// input). `pads` are ((top, bottom), (left, right)).
pub fn window_geometry(
    op: &str,
    x_shape: &[usize],
    window: [i64; 2],
    strides: [i64; 2],
    pads: [[i64; 2]; 2],
    dilation: [i64; 2],
) -> Result<(usize, usize)> {
    if x_shape.len() != 4 {
        return Err(Error::shape(op, format!("expected an NHWC input of rank 4, got shape {}", fmt_shape(x_shape))));
    }
    if window.iter().chain(&strides).chain(&dilation).any(|&v| v < 1) {
        return Err(Error::value(
            op,
            format!("window {window:?}, strides {strides:?} and dilation {dilation:?} must be positive"),
        ));
    }
    if pads.iter().flatten().any(|&p| p < 0) {
        return Err(Error::value(op, format!("paddings must be non-negative, got {pads:?}")));
    }
    let (h, w) = (x_shape[1] as i64, x_shape[2] as i64);
    let (hp, wp) = (h + pads[0][0] + pads[0][1], w + pads[1][0] + pads[1][1]);
    let (ekh, ekw) = ((window[0] - 1) * dilation[0] + 1, (window[1] - 1) * dilation[1] + 1);
    if ekh > hp || ekw > wp {
        return Err(Error::shape(
            op,
            format!(
                "the window {window:?} (dilated to ({ekh}, {ekw})) is larger than the padded input ({hp}, {wp}) of the input of shape {}",
                fmt_shape(x_shape)
            ),
        ));
    }
    Ok((((hp - ekh) / strides[0] + 1) as usize, ((wp - ekw) / strides[1] + 1) as usize))
}

/// Everything a convolution kernel needs to know about its operands' shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    /// Input channels per group (the kernel's third axis).
    pub cg: usize,
    pub o: usize,
    pub groups: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    /// Top and left padding (bottom and right only shape `oh`, `ow`).
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeometry {
    /// Validates a convolution's shapes and arguments (ShapeError / InvalidArgumentError
    /// naming `op` and the shapes).
    pub fn new(
        op: &str,
        x_shape: &[usize],
        w_shape: &[usize],
        strides: [i64; 2],
        pads: [[i64; 2]; 2],
        dilation: [i64; 2],
        groups: i64,
    ) -> Result<Self> {
        if w_shape.len() != 4 {
            return Err(Error::shape(
                op,
                format!("expected a kernel of rank 4 (kh, kw, in_channels, filters), got shape {}", fmt_shape(w_shape)),
            ));
        }
        let window = [w_shape[0] as i64, w_shape[1] as i64];
        let (oh, ow) = window_geometry(op, x_shape, window, strides, pads, dilation)?;
        let (c, cg, o) = (x_shape[3], w_shape[2], w_shape[3]);
        if groups < 1 || cg * groups as usize != c || o % groups as usize != 0 {
            return Err(Error::shape(
                op,
                format!(
                    "input of shape {} does not fit kernel of shape {} with groups={groups} (kernel input channels x groups must equal the input's channels and output channels divide by groups)",
                    fmt_shape(x_shape),
                    fmt_shape(w_shape)
                ),
            ));
        }
        Ok(ConvGeometry {
            n: x_shape[0],
            h: x_shape[1],
            w: x_shape[2],
            c,
            kh: w_shape[0],
            kw: w_shape[1],
            cg,
            o,
            groups: groups as usize,
            sh: strides[0] as usize,
            sw: strides[1] as usize,
            dh: dilation[0] as usize,
            dw: dilation[1] as usize,
            pt: pads[0][0] as usize,
            pl: pads[1][0] as usize,
            oh,
            ow,
        })
    }

    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.o]
    }
    /// Output pixels: the rows of the implicit GEMM.
    pub fn rows(&self) -> usize {
        self.n * self.oh * self.ow
    }
    /// The GEMM's depth per group: KH KW C/groups.
    pub fn kg(&self) -> usize {
        self.kh * self.kw * self.cg
    }
    pub fn og(&self) -> usize {
        self.o / self.groups
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    /// Multiply-adds of the forward pass.
    pub fn macs(&self) -> usize {
        self.rows() * self.kg() * self.og() * self.groups
    }
    /// Input row of kernel row `p` for output row `i` (None: padding).
    #[inline]
    fn in_row(&self, i: usize, p: usize) -> Option<usize> {
        (i * self.sh + p * self.dh).checked_sub(self.pt).filter(|&v| v < self.h)
    }
    #[inline]
    fn in_col(&self, j: usize, q: usize) -> Option<usize> {
        (j * self.sw + q * self.dw).checked_sub(self.pl).filter(|&v| v < self.w)
    }
    /// Each output channel reads exactly one input channel (depthwise, or one input
    /// channel): the direct kernel's case.
    fn is_direct(&self) -> bool {
        self.cg == 1 && self.groups == self.c
    }
}

fn check_lens(op: &str, g: &ConvGeometry, x: usize, w: usize, b: Option<usize>) -> Result<()> {
    if x != g.x_len() {
        return Err(Error::shape(op, format!("input holds {x} values but its shape {} needs {}", fmt_shape(&[g.n, g.h, g.w, g.c]), g.x_len())));
    }
    let wl = g.kg() * g.o;
    if w != wl {
        return Err(Error::shape(op, format!("kernel holds {w} values but its shape {} needs {wl}", fmt_shape(&[g.kh, g.kw, g.cg, g.o]))));
    }
    if let Some(bl) = b {
        if bl != g.o {
            return Err(Error::shape(op, format!("bias of {bl} values does not match the kernel's {} filters", g.o)));
        }
    }
    Ok(())
}

/// The activation of a fused convolution (those whose derivative is a function of the output).
pub fn parse_activation(op: &str, name: &str) -> Result<DenseActivation> {
    DenseActivation::parse(name)
        .map_err(|_| Error::value(op, format!("activation '{name}' is not fused; fused ones: linear, relu, sigmoid, tanh")))
}

/// Rows of one im2col tile: about 64K floats (256 KiB, in L2 alongside the packed kernel),
/// at least 64 rows so that the GEMM amortises packing the kernel matrix per tile.
fn tile_rows(kg: usize) -> usize {
    (65536 / kg.max(1)).clamp(64, 1024)
}

/// Bias and activation over whole output rows (`o` values each) while they are in cache.
fn epilogue(y: &mut [f32], o: usize, b: Option<&[f32]>, act: DenseActivation) {
    if let Some(b) = b {
        for row in y.chunks_mut(o) {
            row.iter_mut().zip(b).for_each(|(v, &bi)| *v += bi);
        }
    }
    match act {
        DenseActivation::Linear => {}
        // A select, not a conditional store, so the loop vectorises (NaN passes through).
        DenseActivation::Relu => y.iter_mut().for_each(|v| *v = if *v > 0.0 || v.is_nan() { *v } else { 0.0 }),
        DenseActivation::Sigmoid => y.iter_mut().for_each(|v| *v = sigmoid(*v)),
        DenseActivation::Tanh => y.iter_mut().for_each(|v| *v = v.tanh()),
    }
}

/// `gz = gy act'(y)` (the derivative from the output, as `dense_backward` does).
fn act_grad(act: DenseActivation, y: &[f32], gy: &[f32], gz: &mut [f32]) {
    let it = gz.iter_mut().zip(y.iter().zip(gy));
    match act {
        DenseActivation::Linear => it.for_each(|(z, (_, &g))| *z = g),
        DenseActivation::Relu => it.for_each(|(z, (&y, &g))| *z = if y > 0.0 { g } else { 0.0 }),
        DenseActivation::Sigmoid => it.for_each(|(z, (&y, &g))| *z = g * y * (1.0 - y)),
        DenseActivation::Tanh => it.for_each(|(z, (&y, &g))| *z = g * (1.0 - y * y)),
    }
}

/// Fills `cols` (`m` rows of `kg`) with the im2col rows `r0..r0 + m` of group `grp`:
/// row r = (n, i, j) holds the window `xpad[n, i s0 + p d0, j s1 + q d1, grp cg + c]`
/// in (p, q, c) order, zeros where the window lies in the padding.
fn im2col_tile(x: &[f32], g: &ConvGeometry, grp: usize, r0: usize, m: usize, cols: &mut [f32]) {
    let kg = g.kg();
    let per_img = g.oh * g.ow;
    let (wc, cg, c0) = (g.w * g.c, g.cg, grp * g.cg);
    // With one group and no horizontal dilation a kernel row is one contiguous run of KW C
    // input values.
    let contiguous = g.groups == 1 && g.dw == 1;
    for (t, dst) in cols[..m * kg].chunks_exact_mut(kg).enumerate() {
        let r = r0 + t;
        let (img, rem) = (r / per_img, r % per_img);
        let (i, j) = (rem / g.ow, rem % g.ow);
        let whole_row = j * g.sw >= g.pl && j * g.sw - g.pl + g.kw <= g.w;
        for (p, drow) in dst.chunks_exact_mut(g.kw * cg).enumerate() {
            let Some(ih) = g.in_row(i, p) else {
                drow.fill(0.0);
                continue;
            };
            let xrow = &x[(img * g.h + ih) * wc..(img * g.h + ih + 1) * wc];
            if contiguous && whole_row {
                let iw0 = j * g.sw - g.pl;
                drow.copy_from_slice(&xrow[iw0 * g.c..(iw0 + g.kw) * g.c]);
                continue;
            }
            for (q, d) in drow.chunks_exact_mut(cg).enumerate() {
                match g.in_col(j, q) {
                    Some(iw) => d.copy_from_slice(&xrow[iw * g.c + c0..iw * g.c + c0 + cg]),
                    None => d.fill(0.0),
                }
            }
        }
    }
}

/// The adjoint of `im2col_tile`: adds the tile's window gradients into `gx`, which holds
/// the images from `img0` on.
fn col2im_tile(gcols: &[f32], g: &ConvGeometry, grp: usize, r0: usize, m: usize, gx: &mut [f32], img0: usize) {
    let kg = g.kg();
    let per_img = g.oh * g.ow;
    let (wc, cg, c0) = (g.w * g.c, g.cg, grp * g.cg);
    for (t, src) in gcols[..m * kg].chunks_exact(kg).enumerate() {
        let r = r0 + t;
        let (img, rem) = (r / per_img - img0, r % per_img);
        let (i, j) = (rem / g.ow, rem % g.ow);
        for (p, srow) in src.chunks_exact(g.kw * cg).enumerate() {
            let Some(ih) = g.in_row(i, p) else { continue };
            let xrow = &mut gx[(img * g.h + ih) * wc..(img * g.h + ih + 1) * wc];
            for (q, s) in srow.chunks_exact(cg).enumerate() {
                if let Some(iw) = g.in_col(j, q) {
                    let d = &mut xrow[iw * g.c + c0..iw * g.c + c0 + cg];
                    d.iter_mut().zip(s).for_each(|(a, &b)| *a += b);
                }
            }
        }
    }
}

/// One `gemm`-crate product: `dst (m x n) (+)= lhs (m x k) rhs (k x n)`, each operand
/// given by its pointer and (row stride, column stride).
///
/// # Safety
/// Every element the strides address must lie inside the operands' allocations, and
/// `dst` must not alias `lhs` or `rhs`.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_into(
    gemm: GemmFn,
    (m, n, k): (usize, usize, usize),
    dst: (*mut f32, usize),
    accumulate: bool,
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    // SAFETY: the caller's contract; gemm takes (column stride, row stride) per operand.
    // With read_dst false the previous contents of dst are never read.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.0,
            1,
            dst.1 as isize,
            accumulate,
            lhs.0,
            lhs.2 as isize,
            lhs.1 as isize,
            rhs.0,
            rhs.2 as isize,
            rhs.1 as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        )
    }
}

/// Splits `rows` into contiguous task ranges, a few per thread for balance; `quantum`
/// rows per boundary (whole images when tasks scatter into their own images).
fn task_ranges(rows: usize, quantum: usize, parallel: bool) -> Vec<(usize, usize)> {
    if rows == 0 {
        return Vec::new();
    }
    let tasks = if parallel { rayon::current_num_threads() * 3 } else { 1 };
    let units = rows.div_ceil(quantum.max(1));
    let per = units.div_ceil(tasks.min(units).max(1)) * quantum.max(1);
    (0..rows.div_ceil(per)).map(|t| (t * per, ((t + 1) * per).min(rows))).collect()
}

/// Whether a kernel with `work` multiply-adds is worth spreading over the pool.
fn go_parallel(work: usize) -> bool {
    rayon::current_num_threads() > 1 && work >= MIN_PARALLEL * 8
}

/// `act(conv2d(x, w) + b)`; returns the (N, OH, OW, O) output.
pub fn conv2d(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &ConvGeometry, act: DenseActivation) -> Result<Vec<f32>> {
    check_lens("conv2d", g, x.len(), w.len(), b.map(|b| b.len()))?;
    let (rows, o) = (g.rows(), g.o);
    let mut y = alloc_f32(rows * o)?;
    if y.is_empty() {
        return Ok(y);
    }
    if g.kg() == 0 || g.x_len() == 0 {
        y.fill(0.0);
        epilogue(&mut y, o, b, act);
        return Ok(y);
    }
    let parallel = go_parallel(g.macs());
    let ranges = task_ranges(rows, 1, parallel);
    let direct = choose(g) == Algo::Direct;
    let gemm = kernel_fn(forced_gemm_kernel());
    let task = |r0: usize, yt: &mut [f32]| {
        vectorized(|| {
            if direct {
                direct_forward(x, w, g, r0, yt);
            } else {
                gemm_forward(x, w, g, r0, yt, gemm);
            }
            epilogue(yt, o, b, act);
        })
    };
    let per = ranges.first().map_or(rows, |r| r.1 - r.0);
    if parallel {
        y.par_chunks_mut(per * o).enumerate().for_each(|(t, yt)| task(t * per, yt));
    } else {
        task(0, &mut y);
    }
    Ok(y)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algo {
    Direct,
    Gemm,
}

/// The direct kernel for depthwise convolutions (groups == channels > 1: a GEMM per
/// group would have depth KH KW and one column per multiplier), the tiled GEMM elsewhere.
/// A single input channel (groups == C == 1) goes to the GEMM too: at mnist_convnet's
/// first layer (K = 9, 32 filters) benches/conv.py measured the direct kernel at 4.8 / 2.8
/// GFLOP/s (forward / backward) against 6.3 / 4.1 for im2col + GEMM.
fn choose(g: &ConvGeometry) -> Algo {
    if g.is_direct() && g.groups > 1 {
        Algo::Direct
    } else {
        Algo::Gemm
    }
}

/// Rows `r0..r0 + yt.len() / o` of the output through im2col tiles and the GEMM.
fn gemm_forward(x: &[f32], w: &[f32], g: &ConvGeometry, r0: usize, yt: &mut [f32], gemm: GemmFn) {
    let (kg, og, o) = (g.kg(), g.og(), g.o);
    let m_all = yt.len() / o;
    let tm = tile_rows(kg).min(m_all);
    let mut cols = vec![0f32; tm * kg];
    let mut t0 = 0;
    while t0 < m_all {
        let m = tm.min(m_all - t0);
        let yrows = &mut yt[t0 * o..(t0 + m) * o];
        for grp in 0..g.groups {
            im2col_tile(x, g, grp, r0 + t0, m, &mut cols);
            // SAFETY: cols holds m x kg; w is (kg, o) and group grp's columns
            // grp og .. grp og + og < o; yrows holds m rows of o.
            unsafe {
                gemm_into(
                    gemm,
                    (m, og, kg),
                    (yrows.as_mut_ptr().add(grp * og), o),
                    false,
                    (cols.as_ptr(), kg, 1),
                    (w.as_ptr().add(grp * og), o, 1),
                    gemm::Parallelism::None,
                )
            };
        }
        t0 += m;
    }
}

/// Lanes of the direct kernels' register blocks: one zmm (AVX-512), two ymm (AVX2).
const LANES: usize = 16;

/// (input offset, kernel offset) of every tap of output pixel `r` that reads the input
/// (taps in the padding are skipped: they add zero).
fn pixel_taps(g: &ConvGeometry, r: usize, taps: &mut Vec<(usize, usize)>) {
    let per_img = g.oh * g.ow;
    let (img, rem) = (r / per_img, r % per_img);
    let (i, j) = (rem / g.ow, rem % g.ow);
    taps.clear();
    for p in 0..g.kh {
        let Some(ih) = g.in_row(i, p) else { continue };
        for q in 0..g.kw {
            let Some(iw) = g.in_col(j, q) else { continue };
            taps.push((((img * g.h + ih) * g.w + iw) * g.c, (p * g.kw + q) * g.o));
        }
    }
}

/// Direct kernel for `cg == 1, groups == C` (O = C x multiplier): output channel o reads
/// input channel o / multiplier. Per output pixel, blocks of `LANES` output channels are
/// accumulated in registers over the taps and stored once.
fn direct_forward(x: &[f32], w: &[f32], g: &ConvGeometry, r0: usize, yt: &mut [f32]) {
    let (o, mult) = (g.o, g.o / g.c);
    let mut taps = Vec::with_capacity(g.kh * g.kw);
    for (t, yr) in yt.chunks_exact_mut(o).enumerate() {
        pixel_taps(g, r0 + t, &mut taps);
        let mut o0 = 0;
        while o0 + LANES <= o {
            // The input channel of the block's first output (hoisted: a division per tap
            // costs more than the tap's multiply-adds).
            let c0 = o0 / mult;
            let mut acc = [0f32; LANES];
            for &(xo, wo) in &taps {
                let ws = &w[wo + o0..wo + o0 + LANES];
                if mult == 1 {
                    let xs = &x[xo + o0..xo + o0 + LANES];
                    for l in 0..LANES {
                        acc[l] += xs[l] * ws[l];
                    }
                } else if mult % LANES == 0 {
                    let xv = x[xo + c0];
                    for l in 0..LANES {
                        acc[l] += xv * ws[l];
                    }
                } else {
                    for l in 0..LANES {
                        acc[l] += x[xo + (o0 + l) / mult] * ws[l];
                    }
                }
            }
            yr[o0..o0 + LANES].copy_from_slice(&acc);
            o0 += LANES;
        }
        for (oi, v) in yr.iter_mut().enumerate().skip(o0) {
            *v = taps.iter().map(|&(xo, wo)| x[xo + oi / mult] * w[wo + oi]).sum();
        }
    }
}

/// Gradients of `conv2d` given its output `y` and the output gradient `gy`:
/// `(gx if need_gx, gw (KH, KW, C/groups, O), gb (O,))`.
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
    act: DenseActivation,
    need_gx: bool,
) -> Result<(Option<Vec<f32>>, Vec<f32>, Vec<f32>)> {
    let op = "conv2d_backward";
    check_lens(op, g, x.len(), w.len(), None)?;
    let (rows, o, kg) = (g.rows(), g.o, g.kg());
    if y.len() != rows * o || gy.len() != rows * o {
        return Err(Error::shape(
            op,
            format!("output ({} values) or its gradient ({} values) does not match the output shape {}", y.len(), gy.len(), fmt_shape(&g.out_shape())),
        ));
    }
    let mut gx = if need_gx { Some(alloc_f32(g.x_len())?) } else { None };
    let mut gw = alloc_f32(kg * o)?;
    let mut gb = alloc_f32(o)?;
    gw.fill(0.0);
    gb.fill(0.0);
    if let Some(gx) = gx.as_mut() {
        gx.fill(0.0);
    }
    if rows == 0 || o == 0 || kg == 0 || g.x_len() == 0 {
        let mut gz = vec![0f32; rows * o];
        act_grad(act, y, gy, &mut gz);
        for row in gz.chunks_exact(o.max(1)) {
            gb.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
        return Ok((gx, gw, gb));
    }
    let parallel = go_parallel(g.macs() * if need_gx { 2 } else { 1 });
    // Tasks scatter gx into their own images only: boundaries on whole images.
    let per_img = g.oh * g.ow;
    let ranges = task_ranges(rows, if need_gx { per_img } else { 1 }, parallel);
    let direct = choose(g) == Algo::Direct;
    let gemm = kernel_fn(forced_gemm_kernel());
    // Too few images to keep every thread busy: let the GEMMs themselves split.
    let inner_par = if parallel && ranges.len() < rayon::current_num_threads() && !direct {
        gemm::Parallelism::Rayon(rayon::current_num_threads())
    } else {
        gemm::Parallelism::None
    };
    let task = |(r0, r1): (usize, usize), gxc: Option<&mut [f32]>| -> (Vec<f32>, Vec<f64>) {
        let mut gw_t = vec![0f32; kg * o];
        let mut gb_t = vec![0f64; o];
        let img0 = r0 / per_img;
        vectorized(|| {
            if direct {
                direct_backward(x, w, y, gy, g, act, (r0, r1), gxc, img0, &mut gw_t, &mut gb_t);
            } else {
                gemm_backward(x, w, y, gy, g, act, (r0, r1), gxc, img0, &mut gw_t, &mut gb_t, gemm, inner_par);
            }
        });
        (gw_t, gb_t)
    };
    let parts: Vec<(Vec<f32>, Vec<f64>)> = match gx.as_mut() {
        Some(gx) => {
            let chunk = (ranges[0].1 - ranges[0].0) / per_img * g.h * g.w * g.c;
            if parallel {
                gx.par_chunks_mut(chunk).zip(ranges.par_iter()).map(|(c, &r)| task(r, Some(c))).collect()
            } else {
                gx.chunks_mut(chunk).zip(ranges.iter()).map(|(c, &r)| task(r, Some(c))).collect()
            }
        }
        None if parallel => ranges.par_iter().map(|&r| task(r, None)).collect(),
        None => ranges.iter().map(|&r| task(r, None)).collect(),
    };
    let mut gb64 = vec![0f64; o];
    for (gw_t, gb_t) in &parts {
        gw.iter_mut().zip(gw_t).for_each(|(a, &v)| *a += v);
        gb64.iter_mut().zip(gb_t).for_each(|(a, &v)| *a += v);
    }
    gb.iter_mut().zip(&gb64).for_each(|(a, &v)| *a = v as f32);
    Ok((gx, gw, gb))
}

#[allow(clippy::too_many_arguments)]
fn gemm_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
    act: DenseActivation,
    (r0, r1): (usize, usize),
    mut gxc: Option<&mut [f32]>,
    img0: usize,
    gw: &mut [f32],
    gb: &mut [f64],
    gemm: GemmFn,
    par: gemm::Parallelism,
) {
    let (kg, og, o) = (g.kg(), g.og(), g.o);
    let tm = tile_rows(kg).min(r1 - r0);
    let mut cols = vec![0f32; tm * kg];
    let mut gcols = if gxc.is_some() { vec![0f32; tm * kg] } else { Vec::new() };
    let mut gzbuf = vec![0f32; if act == DenseActivation::Linear { 0 } else { tm * o }];
    let mut t0 = r0;
    while t0 < r1 {
        let m = tm.min(r1 - t0);
        let gz: &[f32] = if act == DenseActivation::Linear {
            &gy[t0 * o..(t0 + m) * o]
        } else {
            act_grad(act, &y[t0 * o..(t0 + m) * o], &gy[t0 * o..(t0 + m) * o], &mut gzbuf[..m * o]);
            &gzbuf[..m * o]
        };
        let mut gbt = vec![0f32; o];
        for row in gz.chunks_exact(o) {
            gbt.iter_mut().zip(row).for_each(|(a, &v)| *a += v);
        }
        gb.iter_mut().zip(&gbt).for_each(|(a, &v)| *a += v as f64);
        for grp in 0..g.groups {
            im2col_tile(x, g, grp, t0, m, &mut cols);
            // SAFETY: cols^T is kg x m (element (k, r) at cols[r kg + k]); gz's group columns
            // lie inside its m rows of o; gw is (kg, o).
            unsafe {
                gemm_into(
                    gemm,
                    (kg, og, m),
                    (gw.as_mut_ptr().add(grp * og), o),
                    true,
                    (cols.as_ptr(), 1, kg),
                    (gz.as_ptr().add(grp * og), o, 1),
                    par,
                )
            };
            if let Some(gxc) = gxc.as_deref_mut() {
                // SAFETY: gz's group block is m x og (row stride o); w^T's is og x kg
                // (element (o, k) at w[k o + o]); gcols holds m x kg.
                unsafe {
                    gemm_into(
                        gemm,
                        (m, kg, og),
                        (gcols.as_mut_ptr(), kg),
                        false,
                        (gz.as_ptr().add(grp * og), o, 1),
                        (w.as_ptr().add(grp * og), 1, o),
                        par,
                    )
                };
                col2im_tile(&gcols, g, grp, t0, m, gxc, img0);
            }
        }
        t0 += m;
    }
}

#[allow(clippy::too_many_arguments)]
fn direct_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    gy: &[f32],
    g: &ConvGeometry,
    act: DenseActivation,
    (r0, r1): (usize, usize),
    mut gxc: Option<&mut [f32]>,
    img0: usize,
    gw: &mut [f32],
    gb: &mut [f64],
) {
    let (o, mult) = (g.o, g.o / g.c);
    let base = img0 * g.h * g.w * g.c;
    let mut gz = vec![0f32; o];
    let mut gbt = vec![0f32; o];
    let mut taps = Vec::with_capacity(g.kh * g.kw);
    for r in r0..r1 {
        act_grad(act, &y[r * o..(r + 1) * o], &gy[r * o..(r + 1) * o], &mut gz);
        gbt.iter_mut().zip(&gz).for_each(|(a, &v)| *a += v);
        pixel_taps(g, r, &mut taps);
        let mut o0 = 0;
        while o0 + LANES <= o {
            let c0 = o0 / mult;
            let gzv = &gz[o0..o0 + LANES];
            for &(xo, wo) in &taps {
                let gws = &mut gw[wo + o0..wo + o0 + LANES];
                let ws = &w[wo + o0..wo + o0 + LANES];
                if mult == 1 {
                    let xs = &x[xo + o0..xo + o0 + LANES];
                    for l in 0..LANES {
                        gws[l] += xs[l] * gzv[l];
                    }
                    if let Some(gxc) = gxc.as_deref_mut() {
                        let gxs = &mut gxc[xo - base + o0..xo - base + o0 + LANES];
                        for l in 0..LANES {
                            gxs[l] += ws[l] * gzv[l];
                        }
                    }
                } else if mult % LANES == 0 {
                    // One input channel feeds the whole block (a single input channel, or a
                    // depth multiplier of 16, 32, ...).
                    let xv = x[xo + c0];
                    for l in 0..LANES {
                        gws[l] += xv * gzv[l];
                    }
                    if let Some(gxc) = gxc.as_deref_mut() {
                        let mut s = 0f32;
                        for l in 0..LANES {
                            s += ws[l] * gzv[l];
                        }
                        gxc[xo - base + c0] += s;
                    }
                } else {
                    for l in 0..LANES {
                        gws[l] += x[xo + (o0 + l) / mult] * gzv[l];
                    }
                    if let Some(gxc) = gxc.as_deref_mut() {
                        for l in 0..LANES {
                            gxc[xo - base + (o0 + l) / mult] += ws[l] * gzv[l];
                        }
                    }
                }
            }
            o0 += LANES;
        }
        for oi in o0..o {
            for &(xo, wo) in &taps {
                gw[wo + oi] += x[xo + oi / mult] * gz[oi];
                if let Some(gxc) = gxc.as_deref_mut() {
                    gxc[xo - base + oi / mult] += w[wo + oi] * gz[oi];
                }
            }
        }
        // Flush the f32 bias partial now and then so long runs keep f64 accuracy.
        if (r - r0) % 256 == 255 {
            gb.iter_mut().zip(&mut gbt).for_each(|(a, v)| {
                *a += *v as f64;
                *v = 0.0
            });
        }
    }
    gb.iter_mut().zip(&gbt).for_each(|(a, &v)| *a += v as f64);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(len: usize, seed: u64) -> Vec<f32> {
        let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
            })
            .collect()
    }

    /// float64 loops straight from the definition.
    fn reference(x: &[f32], w: &[f32], g: &ConvGeometry) -> Vec<f64> {
        let (og, cg) = (g.og(), g.cg);
        let mut y = vec![0f64; g.rows() * g.o];
        for n in 0..g.n {
            for i in 0..g.oh {
                for j in 0..g.ow {
                    for o in 0..g.o {
                        let grp = o / og;
                        let mut acc = 0f64;
                        for p in 0..g.kh {
                            for q in 0..g.kw {
                                let (Some(ih), Some(iw)) = (g.in_row(i, p), g.in_col(j, q)) else { continue };
                                for c in 0..cg {
                                    let xv = x[((n * g.h + ih) * g.w + iw) * g.c + grp * cg + c] as f64;
                                    acc += xv * w[((p * g.kw + q) * cg + c) * g.o + o] as f64;
                                }
                            }
                        }
                        y[((n * g.oh + i) * g.ow + j) * g.o + o] = acc;
                    }
                }
            }
        }
        y
    }

    fn geo(x: [usize; 4], w: [usize; 4], s: [i64; 2], pads: [[i64; 2]; 2], d: [i64; 2], groups: i64) -> ConvGeometry {
        ConvGeometry::new("conv2d", &x, &w, s, pads, d, groups).unwrap()
    }

    fn cases() -> Vec<ConvGeometry> {
        vec![
            geo([2, 7, 6, 3], [3, 3, 3, 5], [1, 1], [[1, 1], [1, 1]], [1, 1], 1),
            geo([1, 9, 8, 4], [2, 3, 2, 6], [2, 3], [[0, 1], [2, 0]], [2, 1], 2),
            geo([3, 6, 6, 4], [3, 3, 1, 8], [1, 2], [[1, 1], [1, 1]], [1, 1], 4),
            geo([2, 8, 8, 1], [3, 3, 1, 7], [1, 1], [[0, 0], [0, 0]], [1, 1], 1),
            geo([2, 5, 5, 6], [1, 1, 6, 4], [4, 4], [[0, 0], [0, 0]], [1, 1], 1),
            geo([1, 5, 4, 3], [5, 4, 3, 2], [1, 1], [[0, 0], [0, 0]], [1, 1], 1),
            geo([4, 30, 30, 16], [3, 3, 16, 24], [1, 1], [[1, 1], [1, 1]], [1, 1], 1),
            // depthwise, multiplier 16 (the broadcast block) plus a tail channel block
            geo([1, 5, 6, 2], [3, 3, 1, 32], [1, 1], [[1, 1], [0, 2]], [1, 1], 2),
            geo([2, 5, 4, 3], [2, 2, 1, 18], [2, 1], [[0, 0], [1, 0]], [1, 1], 3),
        ]
    }

    #[test]
    fn forward_matches_reference() {
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for g in cases() {
                    let x = data(g.x_len(), 1);
                    let w = data(g.kg() * g.o, 2);
                    let got = conv2d(&x, &w, None, &g, DenseActivation::Linear).unwrap();
                    let want = reference(&x, &w, &g);
                    for (a, b) in got.iter().zip(&want) {
                        assert!((*a as f64 - b).abs() < 1e-4 * (1.0 + b.abs()), "{g:?}: {a} vs {b}");
                    }
                }
            });
        }
    }

    #[test]
    fn backward_is_the_adjoint() {
        // <conv(x), gy> = <x, gx> = <w, gw> for linear activation.
        for threads in [1, 2] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            pool.install(|| {
                for g in cases() {
                    let x = data(g.x_len(), 3);
                    let w = data(g.kg() * g.o, 4);
                    let gy = data(g.rows() * g.o, 5);
                    let y = conv2d(&x, &w, None, &g, DenseActivation::Linear).unwrap();
                    let (gx, gw, gb) = conv2d_backward(&x, &w, &y, &gy, &g, DenseActivation::Linear, true).unwrap();
                    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(&u, &v)| u as f64 * v as f64).sum::<f64>();
                    let lhs = dot(&reference(&x, &w, &g).iter().map(|&v| v as f32).collect::<Vec<_>>(), &gy);
                    let gx = gx.unwrap();
                    assert!((dot(&x, &gx) - lhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{g:?} gx");
                    assert!((dot(&w, &gw) - lhs).abs() < 1e-3 * (1.0 + lhs.abs()), "{g:?} gw");
                    for (o, &v) in gb.iter().enumerate() {
                        let want: f64 = gy.iter().skip(o).step_by(g.o).map(|&v| v as f64).sum();
                        assert!((v as f64 - want).abs() < 1e-3);
                    }
                }
            });
        }
    }

    #[test]
    fn relu_epilogue_and_gradient() {
        let g = geo([1, 4, 4, 2], [3, 3, 2, 3], [1, 1], [[1, 1], [1, 1]], [1, 1], 1);
        let (x, w) = (data(g.x_len(), 7), data(g.kg() * 3, 8));
        let b = [0.1f32, -0.2, 0.3];
        let y = conv2d(&x, &w, Some(&b), &g, DenseActivation::Relu).unwrap();
        let lin = reference(&x, &w, &g);
        for (k, (&a, &r)) in y.iter().zip(&lin).enumerate() {
            assert!((a as f64 - (r + b[k % 3] as f64).max(0.0)).abs() < 1e-5);
        }
        let gy = vec![1f32; y.len()];
        let (_, _, gb) = conv2d_backward(&x, &w, &y, &gy, &g, DenseActivation::Relu, false).unwrap();
        for (o, &v) in gb.iter().enumerate() {
            let want = y.iter().skip(o).step_by(3).filter(|&&v| v > 0.0).count() as f32;
            assert_eq!(v, want);
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let x = [1, 5, 5, 3];
        assert!(ConvGeometry::new("conv2d", &x, &[3, 3, 2, 4], [1, 1], [[0, 0], [0, 0]], [1, 1], 1).is_err());
        assert!(ConvGeometry::new("conv2d", &x, &[6, 3, 3, 4], [1, 1], [[0, 0], [0, 0]], [1, 1], 1).is_err());
        assert!(ConvGeometry::new("conv2d", &x, &[3, 3, 3, 4], [0, 1], [[0, 0], [0, 0]], [1, 1], 1).is_err());
        assert!(ConvGeometry::new("conv2d", &x, &[3, 3, 1, 4], [1, 1], [[0, 0], [0, 0]], [1, 1], 2).is_err());
        assert!(ConvGeometry::new("conv2d", &[5, 5, 3], &[3, 3, 3, 4], [1, 1], [[0, 0], [0, 0]], [1, 1], 1).is_err());
        let g = geo(x, [3, 3, 3, 4], [1, 1], [[0, 0], [0, 0]], [1, 1], 1);
        assert!(conv2d(&[0.0; 10], &[0.0; 108], None, &g, DenseActivation::Linear).is_err());
        assert!(conv2d(&[0.0; 75], &[0.0; 108], Some(&[0.0; 3]), &g, DenseActivation::Linear).is_err());
    }
}

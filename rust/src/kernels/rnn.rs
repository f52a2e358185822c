//! Fused whole-sequence recurrences: SimpleRNN, LSTM and GRU (Keras 3's equations).
//!
//! The input projection `xw = x @ kernel + bias` of every step is one GEMM done by the
//! caller (`nn::dense`); these kernels run the recurrence over all the steps in one call:
//! per step one GEMM `h_{t-1} @ recurrent_kernel` (two for a GRU with
//! `reset_after=False`, whose reset gate sits between them), then one pass over the batch
//! rows that fuses the gate math and writes what the backward needs. The backward walks
//! the steps in reverse with one GEMM per step for the state gradient (two for
//! `reset_after=False`) and one large GEMM over all the steps at the end for the
//! recurrent kernel's gradient (`sum_t h_{t-1}^T dz_t` as one product of depth T * batch).
//!
//! Layouts (row-major):
//! * `xw` (batch, time, k * units), `k` = 1, 4, 3 gates (order i, f, c, o and z, r, h);
//! * `recurrent_kernel` (units, k * units); `recurrent_bias` (k * units,) added to the
//!   recurrent product (a GRU with `reset_after=True` applies the reset gate after it);
//! * `h0`, `c0`, `recurrent_dropout_mask` (batch, units); `mask` (batch, time), nonzero =
//!   the step is processed;
//! * outputs (batch, time, units) in processing order (reversed for `go_backwards`), or
//!   the last one (batch, units);
//! * saved for the backward: `gates` (time, batch, g * units) in processing order, g = 1
//!   (SimpleRNN: the new state), 5 (LSTM: i, f, c~, o, act(c_t)), 4 (GRU: z, r, hh, and
//!   `h_{t-1} @ R_h + b_h` with `reset_after`, `r * h_in` without); `hs` (time + 1,
//!   batch, units), `hs[0] = h0`, `hs[s + 1]` the state after step s; `cs` likewise for
//!   the LSTM's carry.
//!
//! A masked step (Keras 3): every state keeps its value, the output is the previous state
//! (or zeros with `zero_output_for_mask`).
//!
//! Rows never interact, so a batch of 64 or more runs as independent row blocks of about
//! 32 (`row_chunks`), in parallel on a pool with each block's GEMMs and gate passes on one
//! thread: one fork per sequence instead of two per step. The saved tensors are then laid
//! out block after block (each block's `gates`, `hs`, `cs` as above, for its rows); the
//! split depends on the batch size only, so forward and backward agree on any pool.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::matmul::{matmul, matmul_packed, matmul_packed_rows, pack_rhs, MatmulSpec};
use crate::memory::alloc_f32;

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    Simple,
    Lstm,
    /// `reset_after`: the reset gate multiplies `h_{t-1} @ R_h + b_h` (Keras 3's default)
    /// rather than `h_{t-1}` before the product.
    Gru { reset_after: bool },
}

impl Cell {
    pub fn parse(name: &str, reset_after: bool) -> Result<Self> {
        Ok(match name {
            "simple_rnn" => Cell::Simple,
            "lstm" => Cell::Lstm,
            "gru" => Cell::Gru { reset_after },
            _ => return Err(Error::value("rnn_sequence", format!("unknown cell '{name}'; valid: simple_rnn, lstm, gru"))),
        })
    }
    /// Gates per step (column blocks of the kernels).
    pub fn gates(self) -> usize {
        match self {
            Cell::Simple => 1,
            Cell::Lstm => 4,
            Cell::Gru { .. } => 3,
        }
    }
    /// Saved values per unit per step.
    pub fn saved(self) -> usize {
        match self {
            Cell::Simple => 1,
            Cell::Lstm => 5,
            Cell::Gru { .. } => 4,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Cell::Simple => "simple_rnn",
            Cell::Lstm => "lstm",
            Cell::Gru { .. } => "gru",
        }
    }
}

/// The activations the kernels fuse; each derivative is a function of the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    Tanh,
    Sigmoid,
    Relu,
    /// Keras 3: `relu6(x + 3) / 6`.
    HardSigmoid,
    Linear,
}

pub const RNN_ACTIVATIONS: &[&str] = &["tanh", "sigmoid", "relu", "hard_sigmoid", "linear"];

impl Activation {
    pub fn parse(op: &str, name: &str) -> Result<Self> {
        Ok(match name {
            "tanh" => Self::Tanh,
            "sigmoid" => Self::Sigmoid,
            "relu" => Self::Relu,
            "hard_sigmoid" => Self::HardSigmoid,
            "linear" => Self::Linear,
            _ => return Err(Error::value(op, format!("activation '{name}' is not fused; valid: {}", RNN_ACTIVATIONS.join(", ")))),
        })
    }

    /// In place over a slice: one monomorphised, branch-free loop per activation, so it
    /// vectorises.
    #[inline(always)]
    fn apply(self, v: &mut [f32]) {
        match self {
            Self::Tanh => v.iter_mut().for_each(|x| *x = tanh_f(*x)),
            Self::Sigmoid => v.iter_mut().for_each(|x| *x = sigmoid_f(*x)),
            Self::Relu => v.iter_mut().for_each(|x| *x = if *x > 0.0 || x.is_nan() { *x } else { 0.0 }),
            Self::HardSigmoid => v.iter_mut().for_each(|x| *x = ((*x + 3.0).clamp(0.0, 6.0)) / 6.0),
            Self::Linear => {}
        }
    }

    /// The derivative at the input whose output is `y`; at kinks Keras 3's (JAX's)
    /// convention: relu'(0) = 0, and hard_sigmoid's is 0 where it saturates.
    #[inline(always)]
    fn d(self, y: f32) -> f32 {
        match self {
            Self::Tanh => 1.0 - y * y,
            Self::Sigmoid => y * (1.0 - y),
            Self::Relu => {
                if y > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Self::HardSigmoid => {
                if y > 0.0 && y < 1.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Self::Linear => 1.0,
        }
    }
}

// ---- branch-free f32 math (vectorises on the baseline target) ---------------------------------

const ROUND_MAGIC: f32 = 12_582_912.0;

/// `exp(x)` (Cephes' `expf`, about 1 ulp), clamped to [-87.3, 88.7]: the callers only feed
/// it through `1 / (1 + e)`, where a clamped end gives the same limits.
#[inline(always)]
fn exp_f(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(-87.336_55, 88.722_83);
    let t = xc * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let ni = t.to_bits() as i32 - ROUND_MAGIC.to_bits() as i32;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 0.166_666_65) * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    let n1 = ni >> 1;
    let n2 = ni - n1;
    y * f32::from_bits(((n1 + 127) as u32) << 23) * f32::from_bits(((n2 + 127) as u32) << 23)
}

#[inline(always)]
fn sigmoid_f(x: f32) -> f32 {
    1.0 / (1.0 + exp_f(-x))
}

/// Cephes' `tanhf`: an odd polynomial below |x| = 0.625 (no cancellation near 0), else
/// `1 - 2 / (1 + exp(2|x|))` with the sign restored.
#[inline(always)]
fn tanh_f(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small = ((((-5.704_989e-3 * z + 2.063_909e-2) * z - 5.373_971_6e-2) * z + 0.133_314_42) * z - 0.333_332_8) * z * x + x;
    // exp of a non-positive number: no overflow, and the sign comes back through copysign.
    let e = exp_f(-2.0 * a);
    let big = ((1.0 - e) / (1.0 + e)).copysign(x);
    if a < 0.625 {
        small
    } else {
        big
    }
}

// ---- the problem --------------------------------------------------------------------------------

/// Everything about one call but the data.
#[derive(Clone, Copy, Debug)]
pub struct RnnSpec {
    pub cell: Cell,
    pub batch: usize,
    pub time: usize,
    pub units: usize,
    pub go_backwards: bool,
    pub activation: Activation,
    pub recurrent_activation: Activation,
    pub zero_output_for_mask: bool,
    pub return_sequences: bool,
}

impl RnnSpec {
    /// The time index of processing step `s`.
    #[inline]
    fn t(&self, s: usize) -> usize {
        if self.go_backwards {
            self.time - 1 - s
        } else {
            s
        }
    }
    #[inline]
    fn keep(&self, mask: Option<&[f32]>, b: usize, t: usize) -> bool {
        mask.is_none_or(|m| m[b * self.time + t] != 0.0)
    }
    fn out_len(&self) -> usize {
        if self.return_sequences {
            self.batch * self.time * self.units
        } else {
            self.batch * self.units
        }
    }
}

/// The forward's results and what the backward needs.
pub struct RnnForward {
    pub outputs: Vec<f32>,
    pub h: Vec<f32>,
    pub c: Option<Vec<f32>>,
    pub gates: Vec<f32>,
    pub hs: Vec<f32>,
    pub cs: Option<Vec<f32>>,
}

/// Gradients of the inputs of `forward`.
pub struct RnnGradients {
    pub xw: Vec<f32>,
    pub recurrent_kernel: Vec<f32>,
    pub recurrent_bias: Option<Vec<f32>>,
    pub h0: Vec<f32>,
    pub c0: Option<Vec<f32>>,
}

fn check(op: &str, what: &str, got: usize, want: usize, shape: &str) -> Result<()> {
    if got != want {
        return Err(Error::shape(op, format!("{what} holds {got} values, expected {shape} = {want}")));
    }
    Ok(())
}

fn check_optional(op: &str, what: &str, got: Option<usize>, want: usize, shape: &str) -> Result<()> {
    match got {
        Some(n) => check(op, what, n, want, shape),
        None => Ok(()),
    }
}

fn check_common(op: &str, s: &RnnSpec, rk: usize, rb: Option<usize>, mask: Option<usize>, rdm: Option<usize>) -> Result<()> {
    let (b, t, u, k) = (s.batch, s.time, s.units, s.cell.gates());
    check(op, "recurrent_kernel", rk, u * k * u, &format!("({u}, {})", k * u))?;
    if rb.is_some() && s.cell == (Cell::Gru { reset_after: false }) {
        return Err(Error::value(op, "a GRU with reset_after=False has no recurrent bias (its bias goes with the input)"));
    }
    check_optional(op, "recurrent_bias", rb, k * u, &format!("({},)", k * u))?;
    check_optional(op, "mask", mask, b * t, &format!("({b}, {t})"))?;
    check_optional(op, "recurrent_dropout_mask", rdm, b * u, &format!("({b}, {u})"))?;
    Ok(())
}

/// `c = a @ b` for a (m, k), b (k, n), or `b` stored (n, k) with `trans_b`.
#[allow(clippy::too_many_arguments)]
fn gemm(a: &[f32], b: &[f32], c: &mut [f32], m: usize, k: usize, n: usize, trans_a: bool, trans_b: bool) {
    let spec = MatmulSpec { batch: 1, m, k, n, trans_a, trans_b, a_batch_stride: 0, b_batch_stride: 0 };
    matmul(a, b, c, &spec);
}


/// `rows` consecutive rows of `w` elements of `buf` (empty rows when `w` is 0).
fn rows_of(buf: &mut [f32], w: usize, rows: usize) -> Vec<&mut [f32]> {
    if w == 0 {
        (0..rows).map(|_| <&mut [f32]>::default()).collect()
    } else {
        buf.chunks_mut(w).take(rows).collect()
    }
}

/// The widest vector extension the elementwise passes are compiled for at run time (the
/// crate targets baseline x86-64; the GEMM kernel override of `cpu_features` applies).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Base,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

fn level() -> Level {
    #[cfg(target_arch = "x86_64")]
    {
        use super::cpu_features::GemmKernel;
        let forced = super::cpu_features::forced_gemm_kernel();
        let avx512 = std::arch::is_x86_feature_detected!("avx512f");
        let avx2 = std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma");
        match forced {
            Some(GemmKernel::Scalar) => return Level::Base,
            Some(GemmKernel::Avx2) if avx2 => return Level::Avx2,
            _ if avx512 => return Level::Avx512,
            _ if avx2 => return Level::Avx2,
            _ => {}
        }
    }
    Level::Base
}

/// The rows' loop; inlined into the feature-specific copies below, where the row closure
/// and the activations (all `inline(always)`) are compiled with the wider vectors.
#[inline(always)]
fn each_body<const N: usize, F: Fn(usize, &mut [&mut [f32]; N])>(rows: &mut [[&mut [f32]; N]], first: usize, f: &F) {
    for (i, r) in rows.iter_mut().enumerate() {
        f(first + i, r);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn each_avx512<const N: usize, F: Fn(usize, &mut [&mut [f32]; N])>(rows: &mut [[&mut [f32]; N]], first: usize, f: &F) {
    each_body(rows, first, f);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn each_avx2<const N: usize, F: Fn(usize, &mut [&mut [f32]; N])>(rows: &mut [[&mut [f32]; N]], first: usize, f: &F) {
    each_body(rows, first, f);
}

fn each<const N: usize, F: Fn(usize, &mut [&mut [f32]; N])>(level: Level, rows: &mut [[&mut [f32]; N]], first: usize, f: &F) {
    match level {
        // SAFETY: `level` is at most what `is_x86_feature_detected!` found on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { each_avx512(rows, first, f) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { each_avx2(rows, first, f) },
        Level::Base => each_body(rows, first, f),
    }
}

/// Runs `f(b, rows)` for every batch row b, `rows[i]` being row b of the i-th list, in
/// parallel when the call runs on Ember's pool and the step is large enough to pay for
/// the fork (about ten microseconds).
fn for_rows<const N: usize, F>(level: Level, work: usize, lists: [Vec<&mut [f32]>; N], f: F)
where
    F: Fn(usize, &mut [&mut [f32]; N]) + Sync,
{
    let rows = lists.iter().map(Vec::len).min().unwrap_or(0);
    let mut iters = lists.map(Vec::into_iter);
    let mut items: Vec<[&mut [f32]; N]> = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: [&mut [f32]; N] = std::array::from_fn(|i| iters[i].next().unwrap_or_default());
        items.push(row);
    }
    // `current_thread_index` is Some only on a pool worker: a small call runs inline on the
    // caller, where rayon would otherwise start its global pool.
    let threads = super::parallel::threads_here();
    let par = rows > 1 && work >= 1 << 14 && threads > 1 && rayon::current_thread_index().is_some();
    if par {
        let chunk = rows.div_ceil(threads);
        items.par_chunks_mut(chunk).enumerate().for_each(|(c, part)| each(level, part, c * chunk, &f));
    } else {
        each(level, &mut items, 0, &f);
    }
}

/// `o = a + b + c` elementwise (a zip, so it vectorises).
#[inline(always)]
fn add3(o: &mut [f32], a: &[f32], b: &[f32], c: &[f32]) {
    for (((o, &a), &b), &c) in o.iter_mut().zip(a).zip(b).zip(c) {
        *o = a + b + c;
    }
}

#[inline(always)]
fn add2(o: &mut [f32], a: &[f32], b: &[f32]) {
    for ((o, &a), &b) in o.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}

/// The first K blocks of `u` values of a row.
#[inline(always)]
fn blocks<const K: usize>(row: &[f32], u: usize) -> [&[f32]; K] {
    std::array::from_fn(|j| &row[j * u..(j + 1) * u])
}

fn check_states(op: &str, s: &RnnSpec, what: &str, c: Option<usize>, want: usize, shape: &str) -> Result<()> {
    match (s.cell == Cell::Lstm, c) {
        (true, None) => Err(Error::value(op, format!("the LSTM needs {what}"))),
        (false, Some(_)) => Err(Error::value(op, format!("{} has no carry state; {what} must be None", s.cell.name()))),
        (true, Some(n)) => check(op, what, n, want, shape),
        _ => Ok(()),
    }
}

/// The whole forward recurrence: the outputs, the final states and the saved tensors
/// (see the module docs).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    s: &RnnSpec,
    xw: &[f32],
    rk: &[f32],
    rb: Option<&[f32]>,
    h0: &[f32],
    c0: Option<&[f32]>,
    mask: Option<&[f32]>,
    rdm: Option<&[f32]>,
) -> Result<RnnForward> {
    let op = "rnn_sequence";
    let (b, t, u, k) = (s.batch, s.time, s.units, s.cell.gates());
    let (ku, gu, bu) = (k * u, s.cell.saved() * u, b * u);
    check(op, "xw", xw.len(), b * t * ku, &format!("({b}, {t}, {ku})"))?;
    check_common(op, s, rk.len(), rb.map(<[f32]>::len), mask.map(<[f32]>::len), rdm.map(<[f32]>::len))?;
    check(op, "h0", h0.len(), bu, &format!("({b}, {u})"))?;
    check_states(op, s, "c0", c0.map(<[f32]>::len), bu, &format!("({b}, {u})"))?;

    let mut hs = alloc_f32((t + 1) * bu)?;
    let mut cs = match c0 {
        Some(_) => Some(alloc_f32((t + 1) * bu)?),
        None => None,
    };
    let mut gates = alloc_f32(t * b * gu)?;
    let mut outputs = alloc_f32(s.out_len())?;
    let chunks = row_chunks(b);
    {
        // Each chunk's rows: contiguous in the batch-major operands, and a block of its own
        // in the saved tensors.
        let (mut hs_r, mut cs_r, mut g_r, mut o_r) = (&mut hs[..], cs.as_deref_mut(), &mut gates[..], &mut outputs[..]);
        let mut parts = Vec::with_capacity(chunks.len());
        for &(b0, b1) in &chunks {
            let sc = RnnSpec { batch: b1 - b0, ..*s };
            let (hs_c, rest) = std::mem::take(&mut hs_r).split_at_mut((t + 1) * (b1 - b0) * u);
            hs_r = rest;
            let cs_c = match cs_r.take() {
                Some(c) => {
                    let (a, rest) = c.split_at_mut((t + 1) * (b1 - b0) * u);
                    cs_r = Some(rest);
                    Some(a)
                }
                None => None,
            };
            let (g_c, rest) = std::mem::take(&mut g_r).split_at_mut(t * (b1 - b0) * gu);
            g_r = rest;
            let (o_c, rest) = std::mem::take(&mut o_r).split_at_mut(sc.out_len());
            o_r = rest;
            parts.push((sc, b0, b1, hs_c, cs_c, g_c, o_c));
        }
        let run = |(sc, b0, b1, hs_c, cs_c, g_c, o_c): (RnnSpec, usize, usize, &mut [f32], Option<&mut [f32]>, &mut [f32], &mut [f32])| {
            forward_rows(
                &sc,
                &xw[b0 * t * ku..b1 * t * ku],
                rk,
                rb,
                &h0[b0 * u..b1 * u],
                c0.map(|c| &c[b0 * u..b1 * u]),
                mask.map(|m| &m[b0 * t..b1 * t]),
                rdm.map(|m| &m[b0 * u..b1 * u]),
                ForwardOut { hs: hs_c, cs: cs_c, gates: g_c, outputs: o_c },
            )
        };
        run_chunks(parts, run)?;
    }
    // The final states: the last block of each chunk's saved states.
    let last = |all: &[f32]| -> Result<Vec<f32>> {
        let mut v = alloc_f32(bu)?;
        let mut at = 0;
        for &(b0, b1) in &chunks {
            let n = (b1 - b0) * u;
            v[b0 * u..b1 * u].copy_from_slice(&all[at + t * n..at + (t + 1) * n]);
            at += (t + 1) * n;
        }
        Ok(v)
    };
    let h = last(&hs)?;
    let c = match &cs {
        Some(c) => Some(last(c)?),
        None => None,
    };
    Ok(RnnForward { outputs, h, c, gates, hs, cs })
}

/// What `forward_rows` fills for its rows.
struct ForwardOut<'a> {
    hs: &'a mut [f32],
    cs: Option<&'a mut [f32]>,
    gates: &'a mut [f32],
    outputs: &'a mut [f32],
}

/// Row blocks the recurrence runs as independent problems: blocks of about 32 rows from
/// a batch of 64 on (one GEMM register block tall enough for our kernel), a single block
/// below. The split depends on the batch size only, so the saved tensors' layout (one
/// block after the other) is the same whatever the thread count.
fn row_chunks(b: usize) -> Vec<(usize, usize)> {
    let n = if b >= 64 { b / 32 } else { 1 };
    (0..n).map(|i| (b * i / n, b * (i + 1) / n)).collect()
}

/// Runs the row blocks, and gives their results in order: in parallel when there are
/// several and threads to run them (each block then runs its kernels on one thread),
/// else one after the other on this thread.
fn run_chunks<P: Send, R: Send>(parts: Vec<P>, run: impl Fn(P) -> Result<R> + Sync) -> Result<Vec<R>> {
    if parts.len() > 1 && super::parallel::threads_here() > 1 && rayon::current_thread_index().is_some() {
        parts.into_par_iter().with_max_len(1).map(|p| super::parallel::serially(|| run(p))).collect()
    } else {
        parts.into_iter().map(run).collect()
    }
}

/// The forward recurrence of rows that run together (all of them, or one row block).
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    s: &RnnSpec,
    xw: &[f32],
    rk: &[f32],
    rb: Option<&[f32]>,
    h0: &[f32],
    c0: Option<&[f32]>,
    mask: Option<&[f32]>,
    rdm: Option<&[f32]>,
    out: ForwardOut<'_>,
) -> Result<()> {
    let (b, t, u, k) = (s.batch, s.time, s.units, s.cell.gates());
    let (ku, gu, bu) = (k * u, s.cell.saved() * u, b * u);
    let ForwardOut { hs, mut cs, gates, outputs } = out;
    hs[..bu].copy_from_slice(h0);
    if let (Some(c), Some(c0)) = (cs.as_deref_mut(), c0) {
        c[..bu].copy_from_slice(c0);
    }
    let mut zbuf = alloc_f32(b * ku)?;
    let mut hin = if rdm.is_some() { alloc_f32(bu)? } else { Vec::new() };
    // reset_after=False: R split into its (z, r) and h column blocks, each contiguous.
    let split = s.cell == (Cell::Gru { reset_after: false });
    let (rzr, rh) = if split { split_columns(rk, u)? } else { (Vec::new(), Vec::new()) };
    let mut rhin = if split { alloc_f32(bu)? } else { Vec::new() };
    let mut zh = if split { alloc_f32(bu)? } else { Vec::new() };
    // The recurrent kernel multiplies every step's state: packed for the GEMM once.
    let (p_rk, p_rzr, p_rh) = (pack_rhs(rk, b, u, ku, false), pack_rhs(&rzr, b, u, 2 * u, false), pack_rhs(&rh, b, u, u, false));
    let (act, ract) = (s.activation, s.recurrent_activation);
    let work = b * gu * 8;
    let level = level();
    let zeros;
    let bias: &[f32] = match rb {
        Some(r) => r,
        None => {
            zeros = vec![0.0f32; ku];
            &zeros
        }
    };

    for step in 0..t {
        let tt = s.t(step);
        let (done, rest) = hs.split_at_mut((step + 1) * bu);
        let h_prev: &[f32] = &done[step * bu..];
        let h_next = &mut rest[..bu];
        let lhs: &[f32] = match rdm {
            Some(m) => {
                hin.iter_mut().zip(h_prev).zip(m).for_each(|((o, &h), &d)| *o = h * d);
                &hin
            }
            None => h_prev,
        };
        let g_step = &mut gates[step * b * gu..(step + 1) * b * gu];
        let xrow = |bi: usize| &xw[(bi * t + tt) * ku..(bi * t + tt + 1) * ku];
        let keep = |bi: usize| s.keep(mask, bi, tt);
        if split {
            matmul_packed(lhs, &p_rzr, &mut zbuf[..2 * bu]);
            let zr: &[f32] = &zbuf[..2 * bu];
            // Phase 1: z and r, and the reset state r * h_in for the second product.
            for_rows(level, work, [rows_of(g_step, gu, b), rows_of(&mut rhin, u, b)], #[inline(always)] |bi, [g, ri]| {
                let x = xrow(bi);
                let z = &zr[bi * 2 * u..(bi + 1) * 2 * u];
                for j in 0..2 * u {
                    g[j] = x[j] + z[j];
                }
                ract.apply(&mut g[..2 * u]);
                let hi = &lhs[bi * u..(bi + 1) * u];
                for j in 0..u {
                    ri[j] = g[u + j] * hi[j];
                    g[3 * u + j] = ri[j];
                }
            });
            matmul_packed(&rhin, &p_rh, &mut zh);
            let zhr: &[f32] = &zh;
            for_rows(level, work, [rows_of(g_step, gu, b), rows_of(h_next, u, b)], #[inline(always)] |bi, [g, hn]| {
                let x = xrow(bi);
                let hp = &h_prev[bi * u..(bi + 1) * u];
                for j in 0..u {
                    g[2 * u + j] = x[2 * u + j] + zhr[bi * u + j];
                }
                act.apply(&mut g[2 * u..3 * u]);
                if keep(bi) {
                    for j in 0..u {
                        let hh = g[2 * u + j];
                        hn[j] = hh + g[j] * (hp[j] - hh);
                    }
                } else {
                    hn.copy_from_slice(hp);
                }
            });
            continue;
        }
        matmul_packed(lhs, &p_rk, &mut zbuf);
        let zb: &[f32] = &zbuf;
        let (c_prev, c_next): (&[f32], &mut [f32]) = match cs.as_deref_mut() {
            Some(c) => {
                let (d, r) = c.split_at_mut((step + 1) * bu);
                (&d[step * bu..], &mut r[..bu])
            }
            None => (&[], <&mut [f32]>::default()),
        };
        let cw = if s.cell == Cell::Lstm { u } else { 0 };
        for_rows(level, work, [rows_of(g_step, gu, b), rows_of(h_next, u, b), rows_of(c_next, cw, b)], #[inline(always)] |bi, [g, hn, cn]| {
            let z = &zb[bi * ku..(bi + 1) * ku];
            let x = xrow(bi);
            let hp = &h_prev[bi * u..(bi + 1) * u];
            let kept = keep(bi);
            match s.cell {
                Cell::Simple => {
                    add3(g, x, z, bias);
                    act.apply(g);
                    hn.copy_from_slice(if kept { &g[..] } else { hp });
                }
                Cell::Lstm => {
                    let (pre, ac) = g.split_at_mut(4 * u);
                    add3(pre, x, z, bias);
                    ract.apply(&mut pre[..2 * u]);
                    act.apply(&mut pre[2 * u..3 * u]);
                    ract.apply(&mut pre[3 * u..]);
                    let cp = &c_prev[bi * u..(bi + 1) * u];
                    let [i, f, cc, o] = blocks::<4>(pre, u);
                    for ((((a, &i), &f), &cc), &cp) in ac.iter_mut().zip(i).zip(f).zip(cc).zip(cp) {
                        *a = f * cp + i * cc;
                    }
                    // c_t goes to the carry before `ac` becomes act(c_t).
                    cn.copy_from_slice(if kept { &ac[..] } else { cp });
                    act.apply(ac);
                    if kept {
                        for ((h, &o), &a) in hn.iter_mut().zip(o).zip(ac.iter()) {
                            *h = o * a;
                        }
                    } else {
                        hn.copy_from_slice(hp);
                    }
                }
                Cell::Gru { .. } => {
                    // z, r, then hh = act(x_h + r * (h R_h + b_h)); slot 3 keeps h R_h + b_h.
                    let (zr, rest) = g.split_at_mut(2 * u);
                    add3(zr, &x[..2 * u], &z[..2 * u], &bias[..2 * u]);
                    ract.apply(zr);
                    let (hh, rh) = rest.split_at_mut(u);
                    add2(rh, &z[2 * u..], &bias[2 * u..]);
                    for (((h, &x), &r), &rh) in hh.iter_mut().zip(&x[2 * u..]).zip(&zr[u..]).zip(rh.iter()) {
                        *h = x + r * rh;
                    }
                    act.apply(hh);
                    if kept {
                        for (((hn, &hh), &z), &hp) in hn.iter_mut().zip(hh.iter()).zip(&zr[..u]).zip(hp) {
                            *hn = hh + z * (hp - hh);
                        }
                    } else {
                        hn.copy_from_slice(hp);
                    }
                }
            }
        });
    }

    // Outputs from the states: a masked step's output is the state it kept (the previous
    // one), or zeros with zero_output_for_mask.
    let out_of = |step: usize, bi: usize, dst: &mut [f32]| {
        if s.zero_output_for_mask && !s.keep(mask, bi, s.t(step)) {
            dst.fill(0.0);
        } else {
            let at = (step + 1) * bu + bi * u;
            dst.copy_from_slice(&hs[at..at + u]);
        }
    };
    if u > 0 && t > 0 {
        if s.return_sequences {
            for (i, dst) in outputs.chunks_mut(u).enumerate() {
                out_of(i % t, i / t, dst);
            }
        } else {
            for (bi, dst) in outputs.chunks_mut(u).enumerate() {
                out_of(t - 1, bi, dst);
            }
        }
    } else if !s.return_sequences {
        // No steps: the last output is the initial state.
        outputs.copy_from_slice(&hs[..bu]);
    }
    Ok(())
}

/// One batch row of the LSTM's backward step: from the saved gates (i, f, c~, o, act(c_t))
/// and the state gradients `dh`, `dc` (updated to the previous step's: dc * f, and dh = 0
/// before the recurrent product adds to it), the gate pre-activation gradients `dr`.
#[inline(always)]
fn lstm_backward_row(g: &[f32], cp: &[f32], dr: &mut [f32], dh: &mut [f32], dc: &mut [f32], u: usize, da: impl Fn(f32) -> f32, dra: impl Fn(f32) -> f32) {
    let (gi, rest) = g.split_at(u);
    let (gf, rest) = rest.split_at(u);
    let (gc, rest) = rest.split_at(u);
    let (go, ga) = rest.split_at(u);
    let (di, rest) = dr.split_at_mut(u);
    let (df, rest) = rest.split_at_mut(u);
    let (dg, dout) = rest.split_at_mut(u);
    let (ga, dout, cp, dh, dc) = (&ga[..u], &mut dout[..u], &cp[..u], &mut dh[..u], &mut dc[..u]);
    for j in 0..u {
        let (i, f, cc, o, ac) = (gi[j], gf[j], gc[j], go[j], ga[j]);
        let dht = dh[j];
        let dct = dc[j] + dht * o * da(ac);
        di[j] = dct * cc * dra(i);
        df[j] = dct * cp[j] * dra(f);
        dg[j] = dct * i * da(cc);
        dout[j] = dht * ac * dra(o);
        dc[j] = dct * f;
        dh[j] = 0.0;
    }
}

/// One batch row of the GRU's (reset_after) backward step: gates (z, r, hh, h R_h + b_h).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gru_backward_row(g: &[f32], hp: &[f32], dr: &mut [f32], gx: &mut [f32], dh: &mut [f32], u: usize, da: impl Fn(f32) -> f32, dra: impl Fn(f32) -> f32) {
    let (gz, rest) = g.split_at(u);
    let (gr, rest) = rest.split_at(u);
    let (ghh, grh) = rest.split_at(u);
    let (dz_, rest) = dr.split_at_mut(u);
    let (dr_, dh_) = rest.split_at_mut(u);
    let (xz, rest) = gx.split_at_mut(u);
    let (xr, xh) = rest.split_at_mut(u);
    let (grh, dh_, xh, hp, dh) = (&grh[..u], &mut dh_[..u], &mut xh[..u], &hp[..u], &mut dh[..u]);
    for j in 0..u {
        let (z, r, hh, rh) = (gz[j], gr[j], ghh[j], grh[j]);
        let dht = dh[j];
        let dhh = dht * (1.0 - z) * da(hh);
        let dz = dht * (hp[j] - hh) * dra(z);
        let drr = dhh * rh * dra(r);
        dz_[j] = dz;
        dr_[j] = drr;
        // The input's h block gets dhh; the recurrent product's dhh * r.
        dh_[j] = dhh * r;
        xz[j] = dz;
        xr[j] = drr;
        xh[j] = dhh;
        dh[j] = dht * z;
    }
}

/// (R[:, :2u], R[:, 2u:]) of a (u, 3u) matrix, each contiguous.
fn split_columns(rk: &[f32], u: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut zr = alloc_f32(2 * u * u)?;
    let mut h = alloc_f32(u * u)?;
    if u > 0 {
        for ((row, a), b) in rk.chunks(3 * u).zip(zr.chunks_mut(2 * u)).zip(h.chunks_mut(u)) {
            a.copy_from_slice(&row[..2 * u]);
            b.copy_from_slice(&row[2 * u..]);
        }
    }
    Ok((zr, h))
}

/// Gradients of `forward` given the upstream gradients of its outputs (`gy`, shaped like
/// the outputs) and of its final states (`gh`, `gc`), each None for zeros. `need_bias`
/// asks for the recurrent bias's gradient.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    s: &RnnSpec,
    rk: &[f32],
    need_bias: bool,
    mask: Option<&[f32]>,
    rdm: Option<&[f32]>,
    gates: &[f32],
    hs: &[f32],
    cs: Option<&[f32]>,
    gy: Option<&[f32]>,
    gh: Option<&[f32]>,
    gc: Option<&[f32]>,
) -> Result<RnnGradients> {
    let op = "rnn_sequence_backward";
    let (b, t, u, k) = (s.batch, s.time, s.units, s.cell.gates());
    let (ku, gu, bu) = (k * u, s.cell.saved() * u, b * u);
    let split = s.cell == (Cell::Gru { reset_after: false });
    check_common(op, s, rk.len(), None, mask.map(<[f32]>::len), rdm.map(<[f32]>::len))?;
    if need_bias && split {
        return Err(Error::value(op, "a GRU with reset_after=False has no recurrent bias"));
    }
    check(op, "gates", gates.len(), t * b * gu, &format!("({t}, {b}, {gu})"))?;
    check(op, "hs", hs.len(), (t + 1) * bu, &format!("({}, {b}, {u})", t + 1))?;
    check_states(op, s, "cs", cs.map(<[f32]>::len), (t + 1) * bu, &format!("({}, {b}, {u})", t + 1))?;
    let ys = if s.return_sequences { format!("({b}, {t}, {u})") } else { format!("({b}, {u})") };
    check_optional(op, "the outputs' gradient", gy.map(<[f32]>::len), s.out_len(), &ys)?;
    check_optional(op, "the final h's gradient", gh.map(<[f32]>::len), bu, &format!("({b}, {u})"))?;
    if gc.is_some() && s.cell != Cell::Lstm {
        return Err(Error::value(op, format!("{} has no carry; gc must be None", s.cell.name())));
    }
    check_optional(op, "the final c's gradient", gc.map(<[f32]>::len), bu, &format!("({b}, {u})"))?;

    let lstm = s.cell == Cell::Lstm;
    let mut gxw = alloc_f32(b * t * ku)?;
    let mut dh = alloc_f32(bu)?;
    let mut dc = if lstm { alloc_f32(bu)? } else { Vec::new() };
    let chunks = row_chunks(b);
    // The row blocks of `forward`, each with its blocks of the saved tensors.
    let results = {
        let (mut gx_r, mut dh_r, mut dc_r) = (&mut gxw[..], &mut dh[..], &mut dc[..]);
        let (mut g_at, mut h_at) = (0, 0);
        let mut parts = Vec::with_capacity(chunks.len());
        for &(b0, b1) in &chunks {
            let bc = b1 - b0;
            let sc = RnnSpec { batch: bc, ..*s };
            let (gx_c, r) = std::mem::take(&mut gx_r).split_at_mut(bc * t * ku);
            gx_r = r;
            let (dh_c, r) = std::mem::take(&mut dh_r).split_at_mut(bc * u);
            dh_r = r;
            let (dc_c, r) = std::mem::take(&mut dc_r).split_at_mut(if lstm { bc * u } else { 0 });
            dc_r = r;
            let saved = (&gates[g_at..g_at + t * bc * gu], &hs[h_at..h_at + (t + 1) * bc * u], cs.map(|c| &c[h_at..h_at + (t + 1) * bc * u]));
            g_at += t * bc * gu;
            h_at += (t + 1) * bc * u;
            let gy_c = gy.map(|g| if s.return_sequences { &g[b0 * t * u..b1 * t * u] } else { &g[b0 * u..b1 * u] });
            parts.push((sc, b0, b1, saved, gy_c, gx_c, dh_c, dc_c));
        }
        run_chunks(parts, |(sc, b0, b1, (g_c, hs_c, cs_c), gy_c, gx_c, dh_c, dc_c)| {
            backward_rows(
                &sc,
                rk,
                need_bias,
                mask.map(|m| &m[b0 * t..b1 * t]),
                rdm.map(|m| &m[b0 * u..b1 * u]),
                (g_c, hs_c, cs_c),
                gy_c,
                gh.map(|g| &g[b0 * u..b1 * u]),
                gc.map(|g| &g[b0 * u..b1 * u]),
                BackwardOut { gxw: gx_c, dh: dh_c, dc: dc_c },
            )
        })?
    };
    // The weight gradients: the blocks' partial sums, added in block order.
    let mut grk: Option<Vec<f32>> = None;
    let mut grb: Option<Vec<f32>> = None;
    for (k_c, b_c) in results {
        match grk.as_mut() {
            None => grk = Some(k_c),
            Some(acc) => acc.iter_mut().zip(&k_c).for_each(|(a, &x)| *a += x),
        }
        if let Some(b_c) = b_c {
            match grb.as_mut() {
                None => grb = Some(b_c),
                Some(acc) => acc.iter_mut().zip(&b_c).for_each(|(a, &x)| *a += x),
            }
        }
    }
    let grk = match grk {
        Some(g) => g,
        None => vec![0.0; u * ku],
    };
    Ok(RnnGradients { xw: gxw, recurrent_kernel: grk, recurrent_bias: grb, h0: dh, c0: if lstm { Some(dc) } else { None } })
}

/// What `backward_rows` fills for its rows.
struct BackwardOut<'a> {
    gxw: &'a mut [f32],
    dh: &'a mut [f32],
    dc: &'a mut [f32],
}

/// The backward through time of rows that ran together in `forward_rows`; returns their
/// parts of the recurrent kernel's and bias's gradients.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn backward_rows(
    s: &RnnSpec,
    rk: &[f32],
    need_bias: bool,
    mask: Option<&[f32]>,
    rdm: Option<&[f32]>,
    saved: (&[f32], &[f32], Option<&[f32]>),
    gy: Option<&[f32]>,
    gh: Option<&[f32]>,
    gc: Option<&[f32]>,
    out: BackwardOut<'_>,
) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let (b, t, u, k) = (s.batch, s.time, s.units, s.cell.gates());
    let (ku, gu, bu) = (k * u, s.cell.saved() * u, b * u);
    let split = s.cell == (Cell::Gru { reset_after: false });
    let (gates, hs, cs) = saved;
    let BackwardOut { gxw, dh, dc } = out;
    let lstm = s.cell == Cell::Lstm;
    match gh {
        Some(g) => dh.copy_from_slice(g),
        None => dh.fill(0.0),
    }
    if lstm {
        match gc {
            Some(g) => dc.copy_from_slice(g),
            None => dc.fill(0.0),
        }
    }
    // The recurrent products' output gradients per step, in processing order: (T, B, k u);
    // for reset_after=False (T, B, 2u) for R_zr and (T, B, u) for R_h. An LSTM's and a
    // SimpleRNN's are their gate gradients, which go to `gxw` only, and the products read
    // them there (each step's rows are T k u apart): writing a second copy cost about 15%
    // of the LSTM's backward.
    let direct = matches!(s.cell, Cell::Lstm | Cell::Simple);
    let drec_w = if direct { 0 } else if split { 2 * u } else { ku };
    let mut drec = alloc_f32(t * b * drec_w)?;
    let mut drec_h = if split { alloc_f32(t * bu)? } else { Vec::new() };
    let mut dhin = alloc_f32(bu)?;
    let (rzr, rh) = if split { split_columns(rk, u)? } else { (Vec::new(), Vec::new()) };
    // The state gradient's products with R^T at every step, packed once.
    let (p_rk, p_rzr, p_rh) = (pack_rhs(rk, b, ku, u, true), pack_rhs(&rzr, b, 2 * u, u, true), pack_rhs(&rh, b, u, u, true));
    let (act, ract) = (s.activation, s.recurrent_activation);
    let zo = s.zero_output_for_mask;
    let work = b * gu * 4;
    let level = level();
    let rd = |bi: usize, j: usize| rdm.map_or(1.0, |m| m[bi * u + j]);
    // Keras's default activations get loops with their derivatives inlined (a match on
    // the activation inside the loop keeps it from vectorising).
    let tanh_sigmoid = act == Activation::Tanh && ract == Activation::Sigmoid;
    let mut grb = if need_bias { Some(vec![0.0f32; ku]) } else { None };

    for step in (0..t).rev() {
        let tt = s.t(step);
        let g_step = &gates[step * b * gu..(step + 1) * b * gu];
        let h_prev = &hs[step * bu..(step + 1) * bu];
        let c_prev: &[f32] = cs.map_or(&[], |c| &c[step * bu..(step + 1) * bu]);
        let gout = |bi: usize| -> Option<&[f32]> {
            let g = gy?;
            if s.return_sequences {
                Some(&g[(bi * t + step) * u..(bi * t + step + 1) * u])
            } else if step == t - 1 {
                Some(&g[bi * u..(bi + 1) * u])
            } else {
                None
            }
        };
        let keep = |bi: usize| s.keep(mask, bi, tt);
        // A masked row passes its state gradient (and its output's, unless the output was
        // zeroed) straight to the previous state; its gate gradients are zero.
        let pass = |bi: usize, dhr: &mut [f32], rows: &mut [&mut [f32]]| {
            rows.iter_mut().for_each(|r| r.fill(0.0));
            if let (Some(go), false) = (gout(bi), zo) {
                dhr.iter_mut().zip(go).for_each(|(d, &o)| *d += o);
            }
        };
        let dr_step = &mut drec[step * b * drec_w..(step + 1) * b * drec_w];
        let gxr: Vec<&mut [f32]> =
            if ku > 0 { gxw.chunks_mut(ku).skip(tt).step_by(t).collect() } else { (0..b).map(|_| <&mut [f32]>::default()).collect() };
        if split {
            let dh_step = &mut drec_h[step * bu..(step + 1) * bu];
            for_rows(level, work, [rows_of(dr_step, drec_w, b), gxr, rows_of(dh, u, b), rows_of(dh_step, u, b)], #[inline(always)] |bi, [dr, gx, dhr, dhh_row]| {
                if !keep(bi) {
                    pass(bi, dhr, &mut [&mut **dr, &mut **gx, &mut **dhh_row]);
                    return;
                }
                if let Some(go) = gout(bi) {
                    dhr.iter_mut().zip(go).for_each(|(d, &o)| *d += o);
                }
                let g = &g_step[bi * gu..(bi + 1) * gu];
                let hp = &h_prev[bi * u..(bi + 1) * u];
                for j in 0..u {
                    let (z, hh) = (g[j], g[2 * u + j]);
                    let dht = dhr[j];
                    let dhh = dht * (1.0 - z) * act.d(hh);
                    let dz = dht * (hp[j] - hh) * ract.d(z);
                    dr[j] = dz;
                    gx[j] = dz;
                    dhh_row[j] = dhh;
                    gx[2 * u + j] = dhh;
                    dhr[j] = dht * z;
                }
            });
            // d(r * h_in) = dhh @ R_h^T; then dr and the reset path into dh.
            matmul_packed(dh_step, &p_rh, &mut dhin);
            let drhin: &[f32] = &dhin;
            let gxr: Vec<&mut [f32]> = if ku > 0 { gxw.chunks_mut(ku).skip(tt).step_by(t).collect() } else { Vec::new() };
            for_rows(level, work, [rows_of(dr_step, drec_w, b), gxr, rows_of(dh, u, b)], #[inline(always)] |bi, [dr, gx, dhr]| {
                if !keep(bi) {
                    return;
                }
                let g = &g_step[bi * gu..(bi + 1) * gu];
                let hp = &h_prev[bi * u..(bi + 1) * u];
                for j in 0..u {
                    let r = g[u + j];
                    let d = drhin[bi * u + j];
                    let m = rd(bi, j);
                    let dr_pre = d * hp[j] * m * ract.d(r);
                    dr[u + j] = dr_pre;
                    gx[u + j] = dr_pre;
                    dhr[j] += d * r * m;
                }
            });
            matmul_packed(dr_step, &p_rzr, &mut dhin);
        } else {
            let dcw = if lstm { u } else { 0 };
            for_rows(level, work, [rows_of(dr_step, drec_w, b), gxr, rows_of(dh, u, b), rows_of(dc, dcw, b)], #[inline(always)] |bi, [dr, gx, dhr, dcr]| {
                if !keep(bi) {
                    pass(bi, dhr, &mut [&mut **dr, &mut **gx]);
                    return;
                }
                if let Some(go) = gout(bi) {
                    dhr.iter_mut().zip(go).for_each(|(d, &o)| *d += o);
                }
                let g = &g_step[bi * gu..(bi + 1) * gu];
                match s.cell {
                    Cell::Simple => {
                        for ((gx, dh), &g) in gx.iter_mut().zip(dhr.iter_mut()).zip(g) {
                            *gx = *dh * act.d(g);
                            *dh = 0.0;
                        }
                    }
                    Cell::Lstm => {
                        let cp = &c_prev[bi * u..(bi + 1) * u];
                        if tanh_sigmoid {
                            lstm_backward_row(g, cp, gx, dhr, dcr, u, |y| 1.0 - y * y, |y| y * (1.0 - y));
                        } else {
                            lstm_backward_row(g, cp, gx, dhr, dcr, u, |y| act.d(y), |y| ract.d(y));
                        }
                    }
                    Cell::Gru { .. } => {
                        let hp = &h_prev[bi * u..(bi + 1) * u];
                        if tanh_sigmoid {
                            gru_backward_row(g, hp, dr, gx, dhr, u, |y| 1.0 - y * y, |y| y * (1.0 - y));
                        } else {
                            gru_backward_row(g, hp, dr, gx, dhr, u, |y| act.d(y), |y| ract.d(y));
                        }
                    }
                }
            });
            if direct {
                matmul_packed_rows(&gxw[tt * ku..], t * ku, &p_rk, &mut dhin);
            } else {
                matmul_packed(dr_step, &p_rk, &mut dhin);
            }
        }
        match rdm {
            Some(m) => dh.iter_mut().zip(&dhin).zip(m).for_each(|((d, &x), &mm)| *d += x * mm),
            None => dh.iter_mut().zip(&dhin).for_each(|(d, &x)| *d += x),
        }
        // The bias gradient, from the step's gate gradients while they are in cache.
        if let (Some(acc), true) = (grb.as_deref_mut(), ku > 0) {
            let add = |row: &[f32]| acc.iter_mut().zip(row).for_each(|(a, &x)| *a += x);
            if direct {
                gxw.chunks_exact(ku).skip(tt).step_by(t).for_each(add);
            } else {
                drec.chunks_exact(ku).skip(step * b).take(b).for_each(add);
            }
        }
    }

    // The recurrent kernel's gradient over all steps at once: h_in^T @ (its products'
    // output gradients), depth T * B, with h_in (h times the recurrent dropout mask) in
    // their row order: (batch, time) for the gate gradients in gxw, else drec's (step, batch).
    let hin_all: std::borrow::Cow<[f32]> = if rdm.is_none() && !direct {
        std::borrow::Cow::Borrowed(&hs[..t * bu])
    } else {
        let mut v = alloc_f32(t * bu)?;
        if u > 0 {
            for (i, dst) in v.chunks_exact_mut(u).enumerate() {
                let (step, bi) = if direct { (s.t(i % t), i / t) } else { (i / b, i % b) };
                let src = &hs[step * bu + bi * u..][..u];
                match rdm {
                    Some(m) => dst.iter_mut().zip(src).zip(&m[bi * u..(bi + 1) * u]).for_each(|((o, &h), &d)| *o = h * d),
                    None => dst.copy_from_slice(src),
                }
            }
        }
        std::borrow::Cow::Owned(v)
    };
    let mut grk = alloc_f32(u * ku)?;
    if split {
        let mut gzr = alloc_f32(u * 2 * u)?;
        gemm(&hin_all, &drec, &mut gzr, u, t * b, 2 * u, true, false);
        let mut rhin = alloc_f32(t * bu)?;
        if u > 0 {
            for (dst, g) in rhin.chunks_mut(u).zip(gates.chunks(gu)) {
                dst.copy_from_slice(&g[3 * u..4 * u]);
            }
        }
        let mut gh_ = alloc_f32(u * u)?;
        gemm(&rhin, &drec_h, &mut gh_, u, t * b, u, true, false);
        if u > 0 {
            for ((row, a), c) in grk.chunks_mut(3 * u).zip(gzr.chunks(2 * u)).zip(gh_.chunks(u)) {
                row[..2 * u].copy_from_slice(a);
                row[2 * u..].copy_from_slice(c);
            }
        }
    } else {
        gemm(&hin_all, if direct { &*gxw } else { &drec }, &mut grk, u, t * b, ku, true, false);
    }
    Ok((grk, grb))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(cell: Cell, b: usize, t: usize, u: usize) -> RnnSpec {
        RnnSpec {
            cell,
            batch: b,
            time: t,
            units: u,
            go_backwards: false,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            zero_output_for_mask: false,
            return_sequences: true,
        }
    }

    #[test]
    fn activations_match_f64() {
        for i in -400..=400 {
            let x = i as f32 * 0.05;
            let t = (x as f64).tanh();
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((tanh_f(x) as f64 - t).abs() < 2e-7, "tanh({x})");
            assert!((sigmoid_f(x) as f64 - s).abs() < 2e-7, "sigmoid({x})");
        }
        assert_eq!(tanh_f(100.0), 1.0);
        assert!(sigmoid_f(-200.0) < 1e-38);
        assert!(tanh_f(f32::NAN).is_nan());
    }

    #[test]
    #[allow(clippy::needless_range_loop)]
    fn simple_rnn_matches_a_loop_in_f64() {
        let (b, t, u) = (2, 3, 2);
        let xw: Vec<f32> = (0..b * t * u).map(|i| (i as f32 * 0.37).sin()).collect();
        let rk = [0.5f32, -0.3, 0.2, 0.8];
        let h0 = [0.1f32, -0.2, 0.3, 0.0];
        let f = forward(&spec(Cell::Simple, b, t, u), &xw, &rk, None, &h0, None, None, None).unwrap();
        for bi in 0..b {
            let mut h = [h0[bi * u] as f64, h0[bi * u + 1] as f64];
            for s in 0..t {
                let x = &xw[(bi * t + s) * u..];
                let n = [
                    (x[0] as f64 + h[0] * rk[0] as f64 + h[1] * rk[2] as f64).tanh(),
                    (x[1] as f64 + h[0] * rk[1] as f64 + h[1] * rk[3] as f64).tanh(),
                ];
                h = n;
                for j in 0..u {
                    assert!((f.outputs[(bi * t + s) * u + j] as f64 - h[j]).abs() < 1e-6);
                }
            }
        }
    }

    #[test]
    fn bad_operands_are_errors_not_panics() {
        let s = spec(Cell::Lstm, 2, 3, 2);
        let e = forward(&s, &[0.0; 5], &[0.0; 16], None, &[0.0; 4], Some(&[0.0; 4]), None, None).err().unwrap();
        assert!(e.message.contains("xw"), "{e}");
        let e = forward(&s, &[0.0; 48], &[0.0; 16], None, &[0.0; 4], None, None, None).err().unwrap();
        assert!(e.message.contains("c0"), "{e}");
        let g = spec(Cell::Gru { reset_after: false }, 2, 3, 2);
        assert!(forward(&g, &[0.0; 36], &[0.0; 12], Some(&[0.0; 6]), &[0.0; 4], None, None, None).is_err());
        assert!(Activation::parse("rnn", "gelu").is_err());
        assert!(Cell::parse("conv", true).is_err());
    }

    #[test]
    fn masked_steps_keep_the_state() {
        let (b, t, u) = (1, 3, 1);
        let s = RnnSpec { zero_output_for_mask: true, ..spec(Cell::Simple, b, t, u) };
        let f = forward(&s, &[0.5, 0.7, 0.9], &[0.5], None, &[0.0], None, Some(&[1.0, 0.0, 1.0]), None).unwrap();
        let h1 = 0.5f32.tanh();
        assert!((f.outputs[0] - h1).abs() < 1e-6);
        assert_eq!(f.outputs[1], 0.0);
        assert!((f.hs[2] - h1).abs() < 1e-6);
        assert!((f.outputs[2] - (0.9 + 0.5 * h1).tanh()).abs() < 1e-6);
    }
}

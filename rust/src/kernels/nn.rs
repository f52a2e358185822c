//! Neural-network kernels: softmax / log_softmax over any axis, the fused
//! cross-entropies, and the fused dense layer (GEMM + bias + activation).

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::alloc_f32;

use super::matmul::{matmul, MatmulSpec};
use super::parallel::MIN_PARALLEL;
use super::reduce::{reduce_block, Reduced};
use super::shape::{check_len, normalize_axes, numel};
use super::unary::sigmoid;

/// (outer, len, inner) view of `shape` around `axis`.
fn split_axis(op: &str, shape: &[usize], axis: i64) -> Result<(usize, usize, usize)> {
    if shape.is_empty() {
        return Err(Error::shape(op, "needs a tensor of rank >= 1, got a scalar"));
    }
    let a = normalize_axes(op, &[axis], shape.len())?[0];
    Ok((numel(&shape[..a]), shape[a], numel(&shape[a + 1..])))
}

/// Runs `f(row_in, row_out)` over every (outer, inner) lane of length `len` with the
/// given stride. Contiguous lanes (inner == 1) are handed over as slices directly.
fn for_each_lane(
    x: &[f32],
    out: &mut [f32],
    outer: usize,
    len: usize,
    inner: usize,
    f: impl Fn(&[f32], &mut [f32]) + Sync,
) {
    if inner == 1 {
        let body = |(xr, yr): (&[f32], &mut [f32])| f(xr, yr);
        if x.len() >= MIN_PARALLEL {
            x.par_chunks(len).zip(out.par_chunks_mut(len)).for_each(body);
        } else {
            x.chunks(len).zip(out.chunks_mut(len)).for_each(body);
        }
        return;
    }
    // Strided lanes: gather into a scratch row, compute, scatter back.
    let block = len * inner;
    let body = |(xb, yb): (&[f32], &mut [f32])| {
        let mut xin = vec![0f32; len];
        let mut yout = vec![0f32; len];
        for i in 0..inner {
            for j in 0..len {
                xin[j] = xb[j * inner + i];
            }
            f(&xin, &mut yout);
            for j in 0..len {
                yb[j * inner + i] = yout[j];
            }
        }
    };
    if x.len() >= MIN_PARALLEL && outer > 1 {
        x.par_chunks(block).zip(out.par_chunks_mut(block)).for_each(body);
    } else {
        x.chunks(block).zip(out.chunks_mut(block)).for_each(body);
    }
}

fn softmax_row(x: &[f32], y: &mut [f32], log: bool) {
    let m = x.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a || b.is_nan() { b } else { a });
    // All -inf (or empty): softmax is undefined; numpy gives NaN, as we do via m = -inf.
    let mut s = 0f32;
    for (o, &v) in y.iter_mut().zip(x) {
        let e = (v - m).exp();
        *o = e;
        s += e;
    }
    if log {
        let ls = s.ln();
        for (o, &v) in y.iter_mut().zip(x) {
            *o = v - m - ls;
        }
    } else {
        let inv = 1.0 / s;
        for o in y.iter_mut() {
            *o *= inv;
        }
    }
}

/// softmax (or log_softmax when `log`) of `x` along `axis`.
pub fn softmax(x: &[f32], shape: &[usize], axis: i64, log: bool) -> Result<Vec<f32>> {
    let op = if log { "log_softmax" } else { "softmax" };
    check_len(op, "input", x.len(), shape)?;
    let (outer, len, inner) = split_axis(op, shape, axis)?;
    let mut y = alloc_f32(x.len())?;
    if x.is_empty() {
        return Ok(y);
    }
    for_each_lane(x, &mut y, outer, len, inner, |xr, yr| softmax_row(xr, yr, log));
    Ok(y)
}

/// Backward of softmax / log_softmax given the forward output `y` and upstream `gy`.
pub fn softmax_backward(y: &[f32], gy: &[f32], shape: &[usize], axis: i64, log: bool) -> Result<Vec<f32>> {
    let op = if log { "log_softmax_backward" } else { "softmax_backward" };
    check_len(op, "output", y.len(), shape)?;
    check_len(op, "gradient", gy.len(), shape)?;
    let (outer, len, inner) = split_axis(op, shape, axis)?;
    // Interleave y and gy per lane so one lane walk sees both.
    let mut packed = alloc_f32(2 * y.len())?;
    let mut gx = alloc_f32(y.len())?;
    if y.is_empty() {
        return Ok(gx);
    }
    for o in 0..outer {
        for j in 0..len {
            let base = (o * len + j) * inner;
            let pbase = (o * 2 * len + j) * inner;
            packed[pbase..pbase + inner].copy_from_slice(&y[base..base + inner]);
            let gbase = (o * 2 * len + len + j) * inner;
            packed[gbase..gbase + inner].copy_from_slice(&gy[base..base + inner]);
        }
    }
    let mut scratch = alloc_f32(2 * y.len())?;
    for_each_lane(&packed, &mut scratch, outer, 2 * len, inner, |lane, out| {
        let (yv, gv) = lane.split_at(len);
        if log {
            let s: f32 = gv.iter().sum();
            for j in 0..len {
                out[j] = gv[j] - yv[j].exp() * s;
            }
        } else {
            let s: f32 = yv.iter().zip(gv).map(|(a, b)| a * b).sum();
            for j in 0..len {
                out[j] = yv[j] * (gv[j] - s);
            }
        }
    });
    for o in 0..outer {
        for j in 0..len {
            let base = (o * len + j) * inner;
            let pbase = (o * 2 * len + j) * inner;
            gx[base..base + inner].copy_from_slice(&scratch[pbase..pbase + inner]);
        }
    }
    Ok(gx)
}

/// Labels for the fused cross-entropy: class indices or a (rows, classes) distribution.
pub enum Labels<'a> {
    Sparse(&'a [i32]),
    Dense(&'a [f32]),
}

/// Sparse labels: one per row, each in [0, classes); dense labels: (rows, classes).
fn check_labels(op: &str, rows: usize, classes: usize, labels: &Labels) -> Result<()> {
    match *labels {
        Labels::Sparse(l) => {
            if l.len() != rows {
                return Err(Error::shape(
                    op,
                    format!("{} integer labels for logits of shape {}", l.len(), fmt_shape(&[rows, classes])),
                ));
            }
            if let Some(&bad) = l.iter().find(|&&v| v < 0 || v as usize >= classes) {
                return Err(Error::value(op, format!("label {bad} is out of range for {classes} classes")));
            }
        }
        Labels::Dense(y) => {
            if y.len() != rows * classes {
                return Err(Error::shape(
                    op,
                    format!("labels hold {} values but logits have shape {}", y.len(), fmt_shape(&[rows, classes])),
                ));
            }
        }
    }
    Ok(())
}

/// Fused softmax cross-entropy from logits (rows, classes). Returns the per-row loss and
/// the softmax probabilities (kept for the backward pass). Sparse labels must lie in
/// [0, classes); dense labels may be any distribution (label smoothing, soft targets).
pub fn softmax_cross_entropy(logits: &[f32], rows: usize, classes: usize, labels: Labels) -> Result<(Vec<f32>, Vec<f32>)> {
    let op = "softmax_cross_entropy";
    if logits.len() != rows * classes {
        return Err(Error::shape(op, format!("logits hold {} values, expected ({rows}, {classes})", logits.len())));
    }
    check_labels(op, rows, classes, &labels)?;
    let mut probs = alloc_f32(rows * classes)?;
    let mut loss = alloc_f32(rows)?;
    if rows == 0 || classes == 0 {
        loss.fill(0.0);
        return Ok((loss, probs));
    }
    let body = |(r, (p, l)): (usize, (&mut [f32], &mut f32))| {
        let z = &logits[r * classes..(r + 1) * classes];
        let m = z.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let mut s = 0f32;
        for (pi, &zi) in p.iter_mut().zip(z) {
            let e = (zi - m).exp();
            *pi = e;
            s += e;
        }
        let lse = m + s.ln();
        let inv = 1.0 / s;
        for pi in p.iter_mut() {
            *pi *= inv;
        }
        *l = match &labels {
            Labels::Sparse(lab) => lse - z[lab[r] as usize],
            Labels::Dense(y) => {
                let yr = &y[r * classes..(r + 1) * classes];
                yr.iter().zip(z).map(|(&yi, &zi)| yi * (lse - zi)).sum()
            }
        };
    };
    if rows * classes >= MIN_PARALLEL {
        probs.par_chunks_mut(classes).zip(loss.par_iter_mut()).enumerate().for_each(body);
    } else {
        probs.chunks_mut(classes).zip(loss.iter_mut()).enumerate().for_each(body);
    }
    Ok((loss, probs))
}

/// d loss_r / d logits = g_r * (p * sum(y_r) - y_r), which is g_r * (p - onehot) for
/// sparse labels.
pub fn softmax_cross_entropy_backward(probs: &[f32], rows: usize, classes: usize, labels: Labels, gloss: &[f32]) -> Result<Vec<f32>> {
    let op = "softmax_cross_entropy_backward";
    if probs.len() != rows * classes || gloss.len() != rows {
        return Err(Error::shape(
            op,
            format!("{} probabilities and {} gradients for logits of shape {}", probs.len(), gloss.len(), fmt_shape(&[rows, classes])),
        ));
    }
    check_labels(op, rows, classes, &labels)?;
    let mut g = alloc_f32(rows * classes)?;
    if rows == 0 || classes == 0 {
        return Ok(g);
    }
    let body = |(r, gr): (usize, &mut [f32])| {
        let p = &probs[r * classes..(r + 1) * classes];
        let s = gloss[r];
        match &labels {
            Labels::Sparse(lab) => {
                for (o, &pi) in gr.iter_mut().zip(p) {
                    *o = s * pi;
                }
                gr[lab[r] as usize] -= s;
            }
            Labels::Dense(y) => {
                let yr = &y[r * classes..(r + 1) * classes];
                let ysum: f32 = yr.iter().sum();
                for ((o, &pi), &yi) in gr.iter_mut().zip(p).zip(yr) {
                    *o = s * (pi * ysum - yi);
                }
            }
        }
    };
    if rows * classes >= MIN_PARALLEL {
        g.par_chunks_mut(classes).enumerate().for_each(body);
    } else {
        g.chunks_mut(classes).enumerate().for_each(body);
    }
    Ok(g)
}

/// Elementwise binary cross-entropy of sigmoid(z) against y, from logits, in the stable
/// form max(z, 0) - z*y + log1p(exp(-|z|)) (no overflow for any finite z).
pub fn sigmoid_bce(z: &[f32], y: &[f32]) -> Result<Vec<f32>> {
    if z.len() != y.len() {
        return Err(Error::shape("sigmoid_binary_cross_entropy", format!("{} logits and {} labels", z.len(), y.len())));
    }
    let mut out = alloc_f32(z.len())?;
    super::strided::zip_map2(&mut out, z, y, |z, y| z.max(0.0) - z * y + (-z.abs()).exp().ln_1p());
    Ok(out)
}

/// d/dz = g * (sigmoid(z) - y).
pub fn sigmoid_bce_backward(z: &[f32], y: &[f32], g: &[f32]) -> Result<Vec<f32>> {
    if z.len() != y.len() || z.len() != g.len() {
        return Err(Error::shape("sigmoid_binary_cross_entropy_backward", "logits, labels and gradient disagree"));
    }
    let mut out = alloc_f32(z.len())?;
    super::strided::zip_map3(&mut out, z, y, g, |z, y, g| g * (sigmoid(z) - y));
    Ok(out)
}

/// Activations the dense kernel fuses into its output pass: those whose derivative is a
/// function of the output, so the backward pass needs no pre-activation copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseActivation {
    Linear,
    Relu,
    Sigmoid,
    Tanh,
}

impl DenseActivation {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "linear" => Self::Linear,
            "relu" => Self::Relu,
            "sigmoid" => Self::Sigmoid,
            "tanh" => Self::Tanh,
            _ => {
                return Err(Error::value(
                    "dense",
                    format!("activation '{name}' is not fused; fused ones: linear, relu, sigmoid, tanh"),
                ))
            }
        })
    }
}

fn check_dense(op: &str, x_len: usize, rows: usize, fin: usize, w_len: usize, fout: usize, b_len: Option<usize>) -> Result<()> {
    if x_len != rows * fin {
        return Err(Error::shape(op, format!("input holds {x_len} values, expected ({rows}, {fin})")));
    }
    if w_len != fin * fout {
        return Err(Error::shape(op, format!("kernel holds {w_len} values, expected ({fin}, {fout})")));
    }
    if let Some(b) = b_len {
        if b != fout {
            return Err(Error::shape(op, format!("bias has {b} values, expected ({fout},)")));
        }
    }
    Ok(())
}

/// y = act(x @ w + b) for x (rows, fin), w (fin, fout), b (fout,): one GEMM, then one
/// pass over the output that adds the bias and applies the activation while it is hot.
pub fn dense(x: &[f32], w: &[f32], b: Option<&[f32]>, rows: usize, fin: usize, fout: usize, act: DenseActivation) -> Result<Vec<f32>> {
    check_dense("dense", x.len(), rows, fin, w.len(), fout, b.map(|b| b.len()))?;
    let mut y = alloc_f32(rows * fout)?;
    let spec = MatmulSpec { batch: 1, m: rows, k: fin, n: fout, trans_a: false, trans_b: false, a_batch_stride: 0, b_batch_stride: 0 };
    matmul(x, w, &mut y, &spec);
    if fout == 0 || rows == 0 {
        return Ok(y);
    }
    let epilogue = |row: &mut [f32]| {
        if let Some(b) = b {
            for (v, &bi) in row.iter_mut().zip(b) {
                *v += bi;
            }
        }
        match act {
            DenseActivation::Linear => {}
            // A select, not a conditional store, so the loop vectorises (NaN passes through).
            DenseActivation::Relu => row.iter_mut().for_each(|v| *v = if *v > 0.0 || v.is_nan() { *v } else { 0.0 }),
            DenseActivation::Sigmoid => row.iter_mut().for_each(|v| *v = sigmoid(*v)),
            DenseActivation::Tanh => row.iter_mut().for_each(|v| *v = v.tanh()),
        }
    };
    if rows * fout >= MIN_PARALLEL {
        y.par_chunks_mut(fout).for_each(epilogue);
    } else {
        y.chunks_mut(fout).for_each(epilogue);
    }
    Ok(y)
}

/// Gradients of `dense`: gz = gy * act'(y); gx = gz @ w^T; gw = x^T @ gz; gb = sum_rows(gz).
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    x: &[f32],
    w: &[f32],
    y: &[f32],
    gy: &[f32],
    rows: usize,
    fin: usize,
    fout: usize,
    act: DenseActivation,
    need_gx: bool,
    need_gb: bool,
) -> Result<(Option<Vec<f32>>, Vec<f32>, Option<Vec<f32>>)> {
    check_dense("dense_backward", x.len(), rows, fin, w.len(), fout, None)?;
    if y.len() != rows * fout || gy.len() != rows * fout {
        return Err(Error::shape("dense_backward", "output or its gradient does not match (rows, units)"));
    }
    let owned;
    let gz: &[f32] = match act {
        DenseActivation::Linear => gy,
        _ => {
            let mut g = alloc_f32(gy.len())?;
            // One monomorphised loop per activation (a shared `fn` pointer would be an
            // indirect call per element, which does not vectorise).
            match act {
                DenseActivation::Relu => super::strided::zip_map3(&mut g, y, y, gy, |y, _x, g| if y > 0.0 { g } else { 0.0 }),
                DenseActivation::Sigmoid => super::strided::zip_map3(&mut g, y, y, gy, |y, _x, g| g * y * (1.0 - y)),
                _ => super::strided::zip_map3(&mut g, y, y, gy, |y, _x, g| g * (1.0 - y * y)),
            }
            owned = g;
            &owned
        }
    };
    let gx = if need_gx {
        let mut gx = alloc_f32(rows * fin)?;
        let spec = MatmulSpec { batch: 1, m: rows, k: fout, n: fin, trans_a: false, trans_b: true, a_batch_stride: 0, b_batch_stride: 0 };
        matmul(gz, w, &mut gx, &spec);
        Some(gx)
    } else {
        None
    };
    let mut gw = alloc_f32(fin * fout)?;
    let spec = MatmulSpec { batch: 1, m: fin, k: rows, n: fout, trans_a: true, trans_b: false, a_batch_stride: 0, b_batch_stride: 0 };
    matmul(x, gz, &mut gw, &spec);
    // A layer without a bias (use_bias=False, a projection whose bias is added later) has
    // no use for the column sums, a full pass over gz.
    let gb = if need_gb {
        match reduce_block(super::reduce::ReduceOp::Sum, gz, 1, rows, fout)? {
            Reduced::F32(v) => Some(v),
            Reduced::I32(_) => return Err(Error::dtype("dense_backward", "internal: sum gave integers")),
        }
    } else {
        None
    };
    Ok((gx, gw, gb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_handles_large_logits() {
        let y = softmax(&[1000.0, 0.0, -1000.0], &[3], -1, false).unwrap();
        assert_eq!(y, vec![1.0, 0.0, 0.0]);
        let l = softmax(&[1000.0, 0.0], &[2], 0, true).unwrap();
        assert_eq!(l[0], 0.0);
        assert_eq!(l[1], -1000.0);
    }

    #[test]
    fn softmax_over_middle_axis() {
        let x: Vec<f32> = (0..12).map(|i| i as f32 * 0.1).collect();
        let y = softmax(&x, &[2, 3, 2], 1, false).unwrap();
        let s: f32 = (0..3).map(|j| y[j * 2]).sum();
        assert!((s - 1.0).abs() < 1e-6);
    }

    #[test]
    fn cross_entropy_matches_definition() {
        let (l, p) = softmax_cross_entropy(&[1.0, 2.0, 3.0], 1, 3, Labels::Sparse(&[2])).unwrap();
        let lse = (1f32.exp() + 2f32.exp() + 3f32.exp()).ln();
        assert!((l[0] - (lse - 3.0)).abs() < 1e-6);
        let g = softmax_cross_entropy_backward(&p, 1, 3, Labels::Sparse(&[2]), &[1.0]).unwrap();
        assert!((g[2] - (p[2] - 1.0)).abs() < 1e-7);
        assert!(softmax_cross_entropy(&[1.0, 2.0], 1, 2, Labels::Sparse(&[2])).is_err());
    }

    #[test]
    fn bce_from_logits_is_stable() {
        let l = sigmoid_bce(&[1000.0, -1000.0], &[0.0, 1.0]).unwrap();
        assert_eq!(l, vec![1000.0, 1000.0]);
    }

    #[test]
    fn dense_adds_bias_and_activation() {
        let y = dense(&[1.0, 2.0], &[1.0, -1.0, 1.0, -1.0], Some(&[0.5, 0.5]), 1, 2, 2, DenseActivation::Relu).unwrap();
        assert_eq!(y, vec![3.5, 0.0]);
    }
}

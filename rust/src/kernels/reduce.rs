//! Reductions over any set of axes: sum, mean, max, min, argmax, argmin.
//!
//! The tensor is viewed as (outer, r, inner) when the reduced axes form one block,
//! which covers the common cases (all axes, trailing axes, the batch axis of a bias
//! gradient) without copying; other axis sets are first transposed so the reduced axes
//! come last. Sums accumulate in f64 so that long reductions stay within float32
//! rounding of the exact result.

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::{alloc_f32, alloc_i32};

use super::layout::transpose;
use super::parallel::MIN_PARALLEL;
use super::shape::{check_len, normalize_axes, numel};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReduceOp {
    Sum,
    Mean,
    Max,
    Min,
    ArgMax,
    ArgMin,
}

pub const REDUCE_OPS: &[&str] = &["sum", "mean", "max", "min", "argmax", "argmin"];

impl ReduceOp {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "sum" => Self::Sum,
            "mean" => Self::Mean,
            "max" => Self::Max,
            "min" => Self::Min,
            "argmax" => Self::ArgMax,
            "argmin" => Self::ArgMin,
            _ => {
                return Err(Error::value(
                    "reduce",
                    format!("unknown reduction '{name}'; valid: {}", REDUCE_OPS.join(", ")),
                ))
            }
        })
    }
    pub fn name(self) -> &'static str {
        REDUCE_OPS[self as usize]
    }
}

/// The result of a reduction: float values, or int32 indices for argmax/argmin.
pub enum Reduced {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

/// Output shape of reducing `shape` over (normalised) `axes`.
pub fn reduced_shape(shape: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    let mut out = Vec::with_capacity(shape.len());
    for (d, &n) in shape.iter().enumerate() {
        if axes.contains(&d) {
            if keepdims {
                out.push(1);
            }
        } else {
            out.push(n);
        }
    }
    out
}

/// Reduces `x` (of `shape`) over `axes` (None = all axes).
pub fn reduce(
    op: ReduceOp,
    x: &[f32],
    shape: &[usize],
    axes: Option<&[i64]>,
    keepdims: bool,
) -> Result<(Reduced, Vec<usize>)> {
    let name = op.name();
    check_len(name, "input", x.len(), shape)?;
    let axes: Vec<usize> = match axes {
        None => (0..shape.len()).collect(),
        Some(a) => normalize_axes(name, a, shape.len())?,
    };
    if matches!(op, ReduceOp::ArgMax | ReduceOp::ArgMin) && axes.len() > 1 {
        return Err(Error::value(name, "argmax/argmin reduce over a single axis (or all axes)"));
    }
    let out_shape = reduced_shape(shape, &axes, keepdims);
    let r: usize = axes.iter().map(|&a| shape[a]).product();
    let n_out = numel(&out_shape);
    if r == 0 && n_out > 0 && !matches!(op, ReduceOp::Sum | ReduceOp::Mean) {
        return Err(Error::value(
            name,
            format!("zero-size reduction over axes {axes:?} of shape {} has no identity", fmt_shape(shape)),
        ));
    }
    // Find (outer, r, inner) if the reduced axes are one contiguous block.
    let contiguous_block = axes.windows(2).all(|w| w[1] == w[0] + 1);
    let (owned, outer, inner);
    let data: &[f32] = if contiguous_block && !axes.is_empty() {
        outer = numel(&shape[..axes[0]]);
        inner = numel(&shape[axes[axes.len() - 1] + 1..]);
        x
    } else if axes.is_empty() {
        outer = numel(shape);
        inner = 1;
        x
    } else {
        // Move the reduced axes last: perm = kept axes then reduced axes.
        let mut perm: Vec<usize> = (0..shape.len()).filter(|d| !axes.contains(d)).collect();
        perm.extend(axes.iter().copied());
        owned = transpose(x, shape, &perm)?;
        outer = n_out;
        inner = 1;
        &owned
    };
    let r = if axes.is_empty() { 1 } else { r };
    Ok((reduce_block(op, data, outer, r, inner)?, out_shape))
}

/// Reduces the middle axis of a contiguous (outer, r, inner) array.
pub fn reduce_block(op: ReduceOp, x: &[f32], outer: usize, r: usize, inner: usize) -> Result<Reduced> {
    match op {
        ReduceOp::Sum | ReduceOp::Mean => {
            let scale = if op == ReduceOp::Mean { 1.0 / r as f64 } else { 1.0 };
            let mut out = alloc_f32(outer * inner)?;
            sum_block(x, outer, r, inner, scale, &mut out);
            Ok(Reduced::F32(out))
        }
        ReduceOp::Max | ReduceOp::Min => {
            let is_max = op == ReduceOp::Max;
            let mut out = alloc_f32(outer * inner)?;
            let body = |(o, out_row): (usize, &mut [f32])| {
                for (i, slot) in out_row.iter_mut().enumerate() {
                    let mut acc = x[o * r * inner + i];
                    for j in 1..r {
                        let v = x[(o * r + j) * inner + i];
                        let better = if is_max { v > acc } else { v < acc };
                        if (better || v.is_nan()) && !acc.is_nan() {
                            acc = v;
                        }
                    }
                    *slot = acc;
                }
            };
            if outer * r * inner >= MIN_PARALLEL && outer > 1 {
                out.par_chunks_mut(inner.max(1)).enumerate().for_each(body);
            } else {
                out.chunks_mut(inner.max(1)).enumerate().for_each(body);
            }
            Ok(Reduced::F32(out))
        }
        ReduceOp::ArgMax | ReduceOp::ArgMin => {
            let is_max = op == ReduceOp::ArgMax;
            let mut out = alloc_i32(outer * inner)?;
            let body = |(o, out_row): (usize, &mut [i32])| {
                for (i, slot) in out_row.iter_mut().enumerate() {
                    let mut best = x[o * r * inner + i];
                    let mut arg = 0usize;
                    for j in 1..r {
                        if best.is_nan() {
                            break;
                        }
                        let v = x[(o * r + j) * inner + i];
                        let better = if is_max { v > best } else { v < best };
                        if better || v.is_nan() {
                            best = v;
                            arg = j;
                        }
                    }
                    *slot = arg as i32;
                }
            };
            if outer * r * inner >= MIN_PARALLEL && outer > 1 {
                out.par_chunks_mut(inner.max(1)).enumerate().for_each(body);
            } else {
                out.chunks_mut(inner.max(1)).enumerate().for_each(body);
            }
            Ok(Reduced::I32(out))
        }
    }
}

fn sum_block(x: &[f32], outer: usize, r: usize, inner: usize, scale: f64, out: &mut [f32]) {
    if out.is_empty() {
        return; // inner == 0 or outer == 0: nothing to write (and chunks of 0 are invalid)
    }
    let total = outer * r * inner;
    if inner == 1 {
        // Each output sums a contiguous run of r values.
        let run = |o: usize| -> f32 {
            let row = &x[o * r..(o + 1) * r];
            if r >= MIN_PARALLEL && outer < rayon::current_num_threads() {
                let s: f64 = row.par_chunks(MIN_PARALLEL / 4).map(sum_f64).sum();
                (s * scale) as f32
            } else {
                (sum_f64(row) * scale) as f32
            }
        };
        if total >= MIN_PARALLEL && outer > 1 {
            out.par_iter_mut().enumerate().for_each(|(o, v)| *v = run(o));
        } else {
            out.iter_mut().enumerate().for_each(|(o, v)| *v = run(o));
        }
        return;
    }
    // inner > 1: accumulate whole rows of `inner` values (vectorises), per column chunk.
    let col_chunk = if total >= MIN_PARALLEL { inner.div_ceil(rayon::current_num_threads() * 2).max(64) } else { inner };
    let do_cols = |o: usize, c0: usize, dst: &mut [f32]| {
        let w = dst.len();
        let mut acc = vec![0f64; w];
        for j in 0..r {
            let row = &x[(o * r + j) * inner + c0..(o * r + j) * inner + c0 + w];
            for (a, &v) in acc.iter_mut().zip(row) {
                *a += v as f64;
            }
        }
        for (d, a) in dst.iter_mut().zip(acc) {
            *d = (a * scale) as f32;
        }
    };
    if total >= MIN_PARALLEL {
        out.par_chunks_mut(inner).enumerate().for_each(|(o, orow)| {
            orow.par_chunks_mut(col_chunk).enumerate().for_each(|(c, dst)| do_cols(o, c * col_chunk, dst));
        });
    } else {
        out.chunks_mut(inner).enumerate().for_each(|(o, orow)| do_cols(o, 0, orow));
    }
}

fn sum_f64(v: &[f32]) -> f64 {
    // Eight independent partial sums: vectorisable and more accurate than one chain.
    let mut acc = [0f64; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for k in 0..8 {
            acc[k] += c[k] as f64;
        }
    }
    let mut s: f64 = acc.iter().sum();
    for &t in chunks.remainder() {
        s += t as f64;
    }
    s
}

/// Sums `x` (of `shape`) down to `target` under numpy broadcasting: the backward of a
/// broadcast. `target` must broadcast to `shape`.
pub fn sum_to_shape(x: &[f32], shape: &[usize], target: &[usize]) -> Result<Vec<f32>> {
    if shape == target {
        return Ok(x.to_vec());
    }
    if target.len() > shape.len() {
        return Err(Error::shape(
            "sum_to_shape",
            format!("cannot reduce {} to the larger rank {}", fmt_shape(shape), fmt_shape(target)),
        ));
    }
    let off = shape.len() - target.len();
    let mut axes: Vec<i64> = (0..off as i64).collect();
    for (i, &t) in target.iter().enumerate() {
        let s = shape[off + i];
        if t == 1 && s != 1 {
            axes.push((off + i) as i64);
        } else if t != s {
            return Err(Error::shape(
                "sum_to_shape",
                format!("{} does not broadcast to {}", fmt_shape(target), fmt_shape(shape)),
            ));
        }
    }
    match reduce(ReduceOp::Sum, x, shape, Some(&axes), false)?.0 {
        Reduced::F32(v) => Ok(v),
        Reduced::I32(_) => Err(Error::dtype("sum_to_shape", "internal: sum gave integers")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(r: Reduced) -> Vec<f32> {
        match r {
            Reduced::F32(v) => v,
            Reduced::I32(v) => v.into_iter().map(|i| i as f32).collect(),
        }
    }

    #[test]
    fn sums_over_each_axis_set() {
        let x: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let s = [2, 3, 4];
        let (r, sh) = reduce(ReduceOp::Sum, &x, &s, Some(&[0, 2]), false).unwrap();
        assert_eq!(sh, vec![3]);
        assert_eq!(f(r), vec![60.0, 92.0, 124.0]);
        let (r, sh) = reduce(ReduceOp::Sum, &x, &s, Some(&[-1]), true).unwrap();
        assert_eq!(sh, vec![2, 3, 1]);
        assert_eq!(f(r), vec![6.0, 22.0, 38.0, 54.0, 70.0, 86.0]);
        let (r, sh) = reduce(ReduceOp::Max, &x, &s, None, false).unwrap();
        assert!(sh.is_empty());
        assert_eq!(f(r), vec![23.0]);
    }

    #[test]
    fn argmax_picks_first_maximum() {
        let (r, _) = reduce(ReduceOp::ArgMax, &[1.0, 3.0, 3.0, 0.0], &[2, 2], Some(&[1]), false).unwrap();
        assert_eq!(f(r), vec![1.0, 0.0]);
    }

    #[test]
    fn empty_max_is_an_error_and_empty_sum_is_zero() {
        assert!(reduce(ReduceOp::Max, &[], &[0, 3], Some(&[0]), false).is_err());
        let (r, _) = reduce(ReduceOp::Sum, &[], &[0, 3], Some(&[0]), false).unwrap();
        assert_eq!(f(r), vec![0.0; 3]);
    }

    #[test]
    fn sum_to_shape_undoes_broadcasting() {
        let x = vec![1.0f32; 6];
        assert_eq!(sum_to_shape(&x, &[2, 3], &[3]).unwrap(), vec![2.0; 3]);
        assert_eq!(sum_to_shape(&x, &[2, 3], &[2, 1]).unwrap(), vec![3.0; 2]);
    }
}

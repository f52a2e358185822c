//! Scans and sorts along one axis: cumsum, cumprod and argsort. The tensor is viewed as
//! (outer, n, inner) around the axis; each of the outer * inner lines runs serially and
//! the lines run in parallel.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::{alloc_f32, alloc_i32};

use super::parallel::MIN_PARALLEL;
use super::shape::{check_len, numel};

/// (outer, n, inner) of `shape` around `axis` (negative counts from the end).
pub fn split_axis(op: &str, shape: &[usize], axis: i64) -> Result<(usize, usize, usize)> {
    let r = shape.len() as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 0 || a >= r {
        return Err(Error::value(op, format!("axis {axis} is out of bounds for a tensor of shape {}", fmt_shape(shape))));
    }
    let a = a as usize;
    Ok((numel(&shape[..a]), shape[a], numel(&shape[a + 1..])))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanOp {
    Sum,
    Prod,
}

/// Inclusive cumulative sum or product along `axis`; `reverse` scans from the end (the
/// backward of cumsum is the reversed cumsum of the gradient).
pub fn cumulative(op: ScanOp, x: &[f32], shape: &[usize], axis: i64, reverse: bool) -> Result<Vec<f32>> {
    let name = if op == ScanOp::Sum { "cumsum" } else { "cumprod" };
    check_len(name, "input", x.len(), shape)?;
    let (outer, n, inner) = split_axis(name, shape, axis)?;
    let mut out = alloc_f32(x.len())?;
    if out.is_empty() {
        return Ok(out);
    }
    let block = n * inner;
    let body = |(o, dst): (usize, &mut [f32])| {
        let src = &x[o * block..(o + 1) * block];
        for j in 0..inner {
            let mut acc = if op == ScanOp::Sum { 0.0f32 } else { 1.0f32 };
            for s in 0..n {
                let i = if reverse { n - 1 - s } else { s };
                let v = src[i * inner + j];
                acc = if op == ScanOp::Sum { acc + v } else { acc * v };
                dst[i * inner + j] = acc;
            }
        }
    };
    if x.len() >= MIN_PARALLEL && outer > 1 {
        out.par_chunks_mut(block).enumerate().for_each(body);
    } else {
        out.chunks_mut(block).enumerate().for_each(body);
    }
    Ok(out)
}

/// numpy's order for floats: NaN after everything (and equal to itself).
#[inline]
fn cmp_nan_last(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => a.partial_cmp(&b).unwrap_or(Ordering::Equal),
    }
}

/// Stable argsort along `axis` (int32 indices). Ascending puts NaN last as numpy does;
/// descending is the stable descending order (ties keep the lower index first, as
/// `top_k`), with NaN first.
pub fn argsort(x: &[f32], shape: &[usize], axis: i64, descending: bool) -> Result<Vec<i32>> {
    check_len("argsort", "input", x.len(), shape)?;
    let (outer, n, inner) = split_axis("argsort", shape, axis)?;
    if n > i32::MAX as usize {
        return Err(Error::value("argsort", "axis too long for int32 indices"));
    }
    let mut out = alloc_i32(x.len())?;
    if out.is_empty() {
        return Ok(out);
    }
    let block = n * inner;
    let body = |(o, dst): (usize, &mut [i32])| {
        let src = &x[o * block..(o + 1) * block];
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for j in 0..inner {
            order.clear();
            order.extend(0..n);
            let key = |i: usize| src[i * inner + j];
            if descending {
                order.sort_by(|&a, &b| cmp_nan_last(key(b), key(a)));
            } else {
                order.sort_by(|&a, &b| cmp_nan_last(key(a), key(b)));
            }
            for (r, &i) in order.iter().enumerate() {
                dst[r * inner + j] = i as i32;
            }
        }
    };
    if x.len() >= MIN_PARALLEL / 4 && outer > 1 {
        out.par_chunks_mut(block).enumerate().for_each(body);
    } else {
        out.chunks_mut(block).enumerate().for_each(body);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumsum_and_reverse() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        assert_eq!(cumulative(ScanOp::Sum, &x, &[2, 3], 1, false).unwrap(), vec![1.0, 3.0, 6.0, 4.0, 9.0, 15.0]);
        assert_eq!(cumulative(ScanOp::Sum, &x, &[2, 3], 0, false).unwrap(), vec![1.0, 2.0, 3.0, 5.0, 7.0, 9.0]);
        assert_eq!(cumulative(ScanOp::Sum, &x, &[2, 3], -1, true).unwrap(), vec![6.0, 5.0, 3.0, 15.0, 11.0, 6.0]);
        assert_eq!(cumulative(ScanOp::Prod, &x, &[6], 0, false).unwrap()[5], 720.0);
        assert!(cumulative(ScanOp::Sum, &x, &[2, 3], 2, false).is_err());
    }

    #[test]
    fn argsort_is_stable_with_nan_last() {
        let x = [3.0, f32::NAN, 1.0, 3.0, -2.0];
        assert_eq!(argsort(&x, &[5], 0, false).unwrap(), vec![4, 2, 0, 3, 1]);
        assert_eq!(argsort(&x, &[5], 0, true).unwrap(), vec![1, 0, 3, 2, 4]);
        assert_eq!(argsort(&[2.0, 1.0, 0.0, 5.0], &[2, 2], 0, false).unwrap(), vec![1, 0, 0, 1]);
    }
}

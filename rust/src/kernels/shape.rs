//! Shape arithmetic shared by the kernels: numpy broadcasting, strides, axis checks.

use crate::error::{fmt_shape, Error, Result};

pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major (C order) element strides.
pub fn strides_of(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// numpy's broadcasting rule: align on the right; each pair of dims must be equal or 1.
pub fn broadcast_shapes(op: &str, a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0usize; n];
    for i in 0..n {
        let da = if i + a.len() >= n { a[i + a.len() - n] } else { 1 };
        let db = if i + b.len() >= n { b[i + b.len() - n] } else { 1 };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return Err(Error::shape(
                op,
                format!(
                    "operands could not be broadcast together with shapes {} and {}",
                    fmt_shape(a),
                    fmt_shape(b)
                ),
            ));
        };
    }
    Ok(out)
}

/// Strides of `shape` viewed as broadcast to `out` (right-aligned; 0 along broadcast dims).
pub fn broadcast_strides(shape: &[usize], out: &[usize]) -> Vec<usize> {
    let own = strides_of(shape);
    let off = out.len() - shape.len();
    (0..out.len())
        .map(|i| {
            if i < off || shape[i - off] == 1 {
                0
            } else {
                own[i - off]
            }
        })
        .collect()
}

/// Merges adjacent dims that every operand walks contiguously, so most broadcasts become
/// one to three loops. Returns the collapsed shape and each operand's collapsed strides.
pub fn collapse(shape: &[usize], strides: &[Vec<usize>]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut out_shape: Vec<usize> = Vec::new();
    let mut out_strides: Vec<Vec<usize>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let mergeable = !out_shape.is_empty()
            && strides.iter().enumerate().all(|(k, s)| {
                let last = out_strides[k].len() - 1;
                out_strides[k][last] == s[d] * shape[d]
            });
        if mergeable {
            let last = out_shape.len() - 1;
            out_shape[last] *= shape[d];
            for (k, s) in strides.iter().enumerate() {
                let l = out_strides[k].len() - 1;
                out_strides[k][l] = s[d];
            }
        } else {
            out_shape.push(shape[d]);
            for (k, s) in strides.iter().enumerate() {
                out_strides[k].push(s[d]);
            }
        }
    }
    if out_shape.is_empty() {
        out_shape.push(1);
        for s in out_strides.iter_mut() {
            s.push(0);
        }
    }
    (out_shape, out_strides)
}

/// Normalises possibly-negative axes against `ndim`; rejects duplicates and out-of-range.
pub fn normalize_axes(op: &str, axes: &[i64], ndim: usize) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let n = ndim as i64;
        let ax = if a < 0 { a + n } else { a };
        if ax < 0 || ax >= n {
            return Err(Error::value(op, format!("axis {a} is out of bounds for a tensor of rank {ndim}")));
        }
        let ax = ax as usize;
        if out.contains(&ax) {
            return Err(Error::value(op, format!("axis {a} is repeated")));
        }
        out.push(ax);
    }
    out.sort_unstable();
    Ok(out)
}

pub fn check_len(op: &str, what: &str, len: usize, shape: &[usize]) -> Result<()> {
    if len != numel(shape) {
        return Err(Error::shape(
            op,
            format!("{what} holds {len} elements but its shape {} needs {}", fmt_shape(shape), numel(shape)),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast_shapes("t", &[3, 1], &[4]).unwrap(), vec![3, 4]);
        assert_eq!(broadcast_shapes("t", &[], &[2, 2]).unwrap(), vec![2, 2]);
        assert_eq!(broadcast_shapes("t", &[0, 1], &[1, 5]).unwrap(), vec![0, 5]);
        let e = broadcast_shapes("add", &[2, 3], &[4]).unwrap_err();
        assert_eq!(e.to_string(), "add: operands could not be broadcast together with shapes (2, 3) and (4,)");
    }

    #[test]
    fn collapse_merges_contiguous_dims() {
        let shape = [2, 3, 4];
        let a = strides_of(&shape);
        let b = broadcast_strides(&[4], &shape);
        let (s, st) = collapse(&shape, &[a, b]);
        assert_eq!(s, vec![6, 4]);
        assert_eq!(st[0], vec![4, 1]);
        assert_eq!(st[1], vec![0, 1]);
    }
}

pub use crate::error::fmt_shape as fmt_shape_pub;

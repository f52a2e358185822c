//! Data movement: transpose (any permutation), broadcast_to, gathering and
//! scatter-adding rows (batching, indexing and their backward), casts and one-hot.

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::{alloc_f32, alloc_i32};

use super::parallel::MIN_PARALLEL;
use super::shape::{broadcast_shapes, broadcast_strides, check_len, collapse, numel, strides_of};
use super::strided::walk;

/// Copies `x` (of `shape`) into a contiguous array with axes permuted by `perm`
/// (output axis i is input axis perm[i], as numpy.transpose).
pub fn transpose(x: &[f32], shape: &[usize], perm: &[usize]) -> Result<Vec<f32>> {
    check_len("transpose", "input", x.len(), shape)?;
    let mut seen = vec![false; shape.len()];
    if perm.len() != shape.len() || perm.iter().any(|&p| p >= shape.len() || std::mem::replace(&mut seen[p], true)) {
        return Err(Error::value(
            "transpose",
            format!("axes {perm:?} are not a permutation of the {} axes of shape {}", shape.len(), fmt_shape(shape)),
        ));
    }
    let in_strides = strides_of(shape);
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let src_strides: Vec<usize> = perm.iter().map(|&p| in_strides[p]).collect();
    let mut out = alloc_f32(x.len())?;
    if out.is_empty() {
        return Ok(out);
    }
    let (cs, st) = collapse(&out_shape, &[src_strides]);
    let s = &st[0];
    let inner_stride = s[s.len() - 1];
    if cs.len() == 2 && inner_stride != 1 {
        // A plain 2-D transpose: go in cache-sized tiles.
        transpose_2d(x, &mut out, cs[0], cs[1], s[0], inner_stride);
        return Ok(out);
    }
    walk(&mut out, &cs, [s.as_slice()], |row, [o]| {
        if inner_stride == 1 {
            row.copy_from_slice(&x[o..o + row.len()]);
        } else {
            for (j, v) in row.iter_mut().enumerate() {
                *v = x[o + j * inner_stride];
            }
        }
    });
    Ok(out)
}

/// out[i, j] = x[i * si + j * sj] for an (rows, cols) output, tiled 32x32.
fn transpose_2d(x: &[f32], out: &mut [f32], rows: usize, cols: usize, si: usize, sj: usize) {
    const T: usize = 32;
    let body = |(bi, block): (usize, &mut [f32])| {
        let i0 = bi * T;
        let h = block.len() / cols;
        for j0 in (0..cols).step_by(T) {
            let jn = (j0 + T).min(cols);
            for i in 0..h {
                let dst = &mut block[i * cols..];
                for j in j0..jn {
                    dst[j] = x[(i0 + i) * si + j * sj];
                }
            }
        }
    };
    if rows * cols >= MIN_PARALLEL {
        out.par_chunks_mut(T * cols).enumerate().for_each(body);
    } else {
        out.chunks_mut(T * cols).enumerate().for_each(body);
    }
}

/// Materialises `x` (of `shape`) broadcast to `out_shape`.
pub fn broadcast_to(x: &[f32], shape: &[usize], out_shape: &[usize]) -> Result<Vec<f32>> {
    check_len("broadcast_to", "input", x.len(), shape)?;
    let b = broadcast_shapes("broadcast_to", shape, out_shape)?;
    if b != out_shape {
        return Err(Error::shape(
            "broadcast_to",
            format!("cannot broadcast a tensor of shape {} to {}", fmt_shape(shape), fmt_shape(out_shape)),
        ));
    }
    let mut out = alloc_f32(numel(out_shape))?;
    if out.is_empty() {
        return Ok(out);
    }
    let (cs, st) = collapse(out_shape, &[broadcast_strides(shape, out_shape)]);
    let s = &st[0];
    let inner = s[s.len() - 1];
    walk(&mut out, &cs, [s.as_slice()], |row, [o]| {
        if inner == 1 {
            row.copy_from_slice(&x[o..o + row.len()]);
        } else {
            row.fill(x[o]);
        }
    });
    Ok(out)
}

fn check_indices(op: &str, idx: &[i64], n_rows: usize) -> Result<Vec<usize>> {
    idx.iter()
        .map(|&i| {
            let j = if i < 0 { i + n_rows as i64 } else { i };
            if j < 0 || j >= n_rows as i64 {
                Err(Error::value(op, format!("index {i} is out of bounds for axis 0 with size {n_rows}")))
            } else {
                Ok(j as usize)
            }
        })
        .collect()
}

/// Gathers rows of a (n_rows, row_len) array: out[k] = x[idx[k]]. Negative indices
/// count from the end, as in numpy.
pub fn take_rows<T: Copy + Send + Sync>(x: &[T], row_len: usize, idx: &[i64], alloc: fn(usize) -> Result<Vec<T>>) -> Result<Vec<T>> {
    let n_rows = if row_len == 0 { 0 } else { x.len() / row_len };
    let idx = if row_len == 0 { vec![0; idx.len()] } else { check_indices("take", idx, n_rows)? };
    let mut out = alloc(idx.len() * row_len)?;
    if row_len == 0 {
        return Ok(out);
    }
    let body = |(k, dst): (usize, &mut [T])| dst.copy_from_slice(&x[idx[k] * row_len..(idx[k] + 1) * row_len]);
    if out.len() >= MIN_PARALLEL {
        out.par_chunks_mut(row_len).enumerate().for_each(body);
    } else {
        out.chunks_mut(row_len).enumerate().for_each(body);
    }
    Ok(out)
}

pub fn take_rows_f32(x: &[f32], row_len: usize, idx: &[i64]) -> Result<Vec<f32>> {
    take_rows(x, row_len, idx, alloc_f32)
}

pub fn take_rows_i32(x: &[i32], row_len: usize, idx: &[i64]) -> Result<Vec<i32>> {
    take_rows(x, row_len, idx, alloc_i32)
}

/// The backward of `take_rows`: out (n_rows, row_len) = 0, then out[idx[k]] += g[k].
pub fn scatter_add_rows(g: &[f32], row_len: usize, idx: &[i64], n_rows: usize) -> Result<Vec<f32>> {
    let idx = check_indices("take_backward", idx, n_rows)?;
    if g.len() != idx.len() * row_len {
        return Err(Error::shape("take_backward", "gradient rows do not match the indices"));
    }
    let mut out = alloc_f32(n_rows * row_len)?;
    out.fill(0.0);
    for (k, &i) in idx.iter().enumerate() {
        let src = &g[k * row_len..(k + 1) * row_len];
        for (o, &v) in out[i * row_len..(i + 1) * row_len].iter_mut().zip(src) {
            *o += v;
        }
    }
    Ok(out)
}

/// float32 -> int32 truncates toward zero (numpy's astype); NaN/inf are rejected.
pub fn f32_to_i32(x: &[f32]) -> Result<Vec<i32>> {
    if let Some(v) = x.iter().find(|v| !v.is_finite() || v.abs() >= 2_147_483_648.0) {
        return Err(Error::value("cast", format!("{v} cannot be represented as int32")));
    }
    let mut out = alloc_i32(x.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as i32;
    }
    Ok(out)
}

pub fn i32_to_f32(x: &[i32]) -> Result<Vec<f32>> {
    let mut out = alloc_f32(x.len())?;
    for (o, &v) in out.iter_mut().zip(x) {
        *o = v as f32;
    }
    Ok(out)
}

/// One-hot rows of width `depth` for integer labels; labels outside [0, depth) are an error
/// (PyTorch's behaviour; TensorFlow silently gives a zero row, which hides bugs).
pub fn one_hot(labels: &[i32], depth: usize) -> Result<Vec<f32>> {
    if let Some(&bad) = labels.iter().find(|&&l| l < 0 || l as usize >= depth) {
        return Err(Error::value("one_hot", format!("label {bad} is out of range for {depth} classes")));
    }
    let n = labels
        .len()
        .checked_mul(depth)
        .ok_or_else(|| Error::value("one_hot", format!("{} labels x {depth} classes overflows", labels.len())))?;
    let mut out = alloc_f32(n)?;
    out.fill(0.0);
    for (row, &l) in labels.iter().enumerate() {
        out[row * depth + l as usize] = 1.0;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_matches_index_arithmetic() {
        let x: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let y = transpose(&x, &[2, 3, 4], &[2, 0, 1]).unwrap();
        // y[k, i, j] = x[i, j, k]
        for k in 0..4 {
            for i in 0..2 {
                for j in 0..3 {
                    assert_eq!(y[k * 6 + i * 3 + j], x[i * 12 + j * 4 + k]);
                }
            }
        }
        let big: Vec<f32> = (0..(100 * 70)).map(|i| i as f32).collect();
        let t = transpose(&big, &[100, 70], &[1, 0]).unwrap();
        assert_eq!(t[5 * 100 + 7], big[7 * 70 + 5]);
    }

    #[test]
    fn take_and_scatter_are_adjoint() {
        let x: Vec<f32> = (0..6).map(|i| i as f32).collect();
        assert_eq!(take_rows_f32(&x, 2, &[2, 0, -1]).unwrap(), vec![4.0, 5.0, 0.0, 1.0, 4.0, 5.0]);
        assert!(take_rows_f32(&x, 2, &[3]).is_err());
        let g = scatter_add_rows(&[1.0; 6], 2, &[2, 0, 2], 3).unwrap();
        assert_eq!(g, vec![1.0, 1.0, 0.0, 0.0, 2.0, 2.0]);
    }

    #[test]
    fn one_hot_rejects_out_of_range() {
        assert_eq!(one_hot(&[1, 0], 2).unwrap(), vec![0.0, 1.0, 1.0, 0.0]);
        assert!(one_hot(&[2], 2).is_err());
        assert!(one_hot(&[-1], 2).is_err());
    }
}

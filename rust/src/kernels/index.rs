//! Views, gathers and scatters: the data movement under slicing, indexing, concatenation,
//! padding, `take` and `take_along_axis`.
//!
//! Tensors are contiguous. A *view* of a source buffer is `(shape, strides, offset)` in
//! elements; strides may be negative (reversed slices) or zero (broadcasts). On top of a view
//! a gather may add up to `MAX_INDEX` integer index arrays (numpy advanced indexing): output
//! position `c` reads
//!
//! ```text
//! src[offset + sum_d c_d * strides[d] + sum_k wrap_k(idx[k * count + sum_d c_d * idx_strides[d]]) * dims[k].stride]
//! ```
//!
//! where `wrap_k` maps a negative index `i` to `i + dims[k].size`. `gather` materialises it,
//! `strided_write` writes into a view, and `scatter_add` is the adjoint of `gather` (indices
//! that repeat accumulate). Everything is validated before the kernels index: every address a
//! view can reach lies in the source, and every index value lies in `[-size, size)`.

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::alloc_f32;

use super::parallel::MIN_PARALLEL;
use super::shape::{broadcast_shapes, broadcast_strides, numel};
use super::strided::walk;

/// At most this many integer index arrays in one gather (the WGSL kernel's limit too).
pub const MAX_INDEX: usize = 4;

/// Where the values of one integer index array go in the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexDim {
    /// Source stride of the indexed axis.
    pub stride: i64,
    /// Length of the indexed axis (indices must lie in `[-size, size)`).
    pub size: usize,
}

/// The addressing of a gather or scatter (see the module docs).
#[derive(Clone, Debug)]
pub struct Addressing {
    pub shape: Vec<usize>,
    pub strides: Vec<i64>,
    pub offset: i64,
    /// Strides of the output dims into each index array (empty without index arrays).
    pub idx_strides: Vec<i64>,
    pub dims: Vec<IndexDim>,
}

impl Addressing {
    /// A plain view (no index arrays).
    pub fn view(shape: &[usize], strides: &[i64], offset: i64) -> Self {
        Addressing { shape: shape.to_vec(), strides: strides.to_vec(), offset, idx_strides: Vec::new(), dims: Vec::new() }
    }

    /// Checks that every address lies in a source of `n_src` elements and that `idx` holds
    /// `dims.len()` arrays whose values are in range. Returns the length of one index array.
    pub fn check(&self, op: &str, n_src: usize, idx: &[i32]) -> Result<usize> {
        let m = self.shape.len();
        if self.strides.len() != m {
            return Err(Error::shape(op, format!("{} strides for a view of shape {}", self.strides.len(), fmt_shape(&self.shape))));
        }
        let k = self.dims.len();
        if k > MAX_INDEX {
            return Err(Error::value(op, format!("at most {MAX_INDEX} index arrays are supported, got {k}")));
        }
        if k > 0 && self.idx_strides.len() != m {
            return Err(Error::shape(op, format!("{} index strides for a view of shape {}", self.idx_strides.len(), fmt_shape(&self.shape))));
        }
        let count = idx.len().checked_div(k).unwrap_or(0);
        if k > 0 && count * k != idx.len() {
            return Err(Error::shape(op, format!("{} index values do not split into {k} arrays", idx.len())));
        }
        if numel(&self.shape) == 0 {
            return Ok(count);
        }
        // Range of the source address over the whole view (index dims span [0, size)).
        let (mut lo, mut hi) = (self.offset as i128, self.offset as i128);
        let spans = self.shape.iter().zip(&self.strides).map(|(&d, &s)| (d, s)).chain(self.dims.iter().map(|d| (d.size, d.stride)));
        for (d, s) in spans {
            if d == 0 {
                return Err(Error::value(op, "an index array indexes an axis of length 0"));
            }
            let span = (d as i128 - 1) * s as i128;
            if span < 0 {
                lo += span;
            } else {
                hi += span;
            }
        }
        if lo < 0 || hi >= n_src as i128 {
            return Err(Error::value(
                op,
                format!("view of shape {} (strides {:?}, offset {}) reaches outside a buffer of {n_src} elements", fmt_shape(&self.shape), self.strides, self.offset),
            ));
        }
        if k > 0 {
            let mut reach: i128 = 0;
            for (&d, &t) in self.shape.iter().zip(&self.idx_strides) {
                if t < 0 {
                    return Err(Error::value(op, "index strides must be non-negative"));
                }
                reach += (d as i128 - 1) * t as i128;
            }
            if reach >= count as i128 {
                return Err(Error::shape(op, format!("index arrays of {count} elements are too short for output shape {}", fmt_shape(&self.shape))));
            }
            for (kk, dim) in self.dims.iter().enumerate() {
                let n = dim.size as i64;
                if let Some(&bad) = idx[kk * count..(kk + 1) * count].iter().find(|&&v| (v as i64) < -n || v as i64 >= n) {
                    return Err(Error::value(op, format!("index {bad} is out of bounds for axis with size {n}")));
                }
            }
        }
        Ok(count)
    }
}

/// Merges adjacent dims that every stride vector walks as one (and drops length-1 dims).
fn collapse(shape: &[usize], strides: &[&[i64]]) -> (Vec<usize>, Vec<Vec<i64>>) {
    let mut cs: Vec<usize> = Vec::new();
    let mut st: Vec<Vec<i64>> = vec![Vec::new(); strides.len()];
    for d in 0..shape.len() {
        if shape[d] == 1 {
            continue;
        }
        let merge = !cs.is_empty() && strides.iter().enumerate().all(|(k, s)| st[k][st[k].len() - 1] == s[d] * shape[d] as i64);
        if merge {
            let l = cs.len() - 1;
            cs[l] *= shape[d];
            for (k, s) in strides.iter().enumerate() {
                let l = st[k].len() - 1;
                st[k][l] = s[d];
            }
        } else {
            cs.push(shape[d]);
            for (k, s) in strides.iter().enumerate() {
                st[k].push(s[d]);
            }
        }
    }
    if cs.is_empty() {
        cs.push(1);
        for s in st.iter_mut() {
            s.push(0);
        }
    }
    (cs, st)
}

/// Source address and index position at the start of flat output row `row` (rows are the
/// innermost collapsed dim).
#[inline]
fn row_base(row: usize, cs: &[usize], s: &[i64], t: &[i64], off: i64) -> (i64, i64) {
    let m = cs.len();
    let (mut a, mut b) = (off, 0i64);
    let mut rem = row;
    for d in (0..m - 1).rev() {
        let i = (rem % cs[d]) as i64;
        rem /= cs[d];
        a += i * s[d];
        b += i * t[d];
    }
    (a, b)
}

#[inline]
fn indexed(base: i64, pos: i64, idx: &[i32], count: usize, dims: &[IndexDim]) -> usize {
    let mut a = base;
    for (k, d) in dims.iter().enumerate() {
        let v = idx[k * count + pos as usize] as i64;
        let v = if v < 0 { v + d.size as i64 } else { v };
        a += v * d.stride;
    }
    a as usize
}

/// Materialises a gather (a view when `ad.dims` is empty) of `x`. Any element type.
pub fn gather<T: Copy + Send + Sync>(op: &str, x: &[T], ad: &Addressing, idx: &[i32], alloc: fn(usize) -> Result<Vec<T>>) -> Result<Vec<T>> {
    let count = ad.check(op, x.len(), idx)?;
    let n = numel(&ad.shape);
    let mut out = alloc(n)?;
    if n == 0 {
        return Ok(out);
    }
    let zeros = vec![0i64; ad.shape.len()];
    let t_full: &[i64] = if ad.dims.is_empty() { &zeros } else { &ad.idx_strides };
    let (cs, st) = collapse(&ad.shape, &[&ad.strides, t_full]);
    let (s, t) = (&st[0], &st[1]);
    let inner = cs[cs.len() - 1];
    let (si, ti) = (s[s.len() - 1], t[t.len() - 1]);
    let dims = &ad.dims;
    let body = |(r0, chunk): (usize, &mut [T])| {
        for (j, row) in chunk.chunks_mut(inner).enumerate() {
            let (a, b) = row_base(r0 + j, &cs, s, t, ad.offset);
            if dims.is_empty() {
                if si == 1 {
                    let a = a as usize;
                    row.copy_from_slice(&x[a..a + inner]);
                } else {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = x[(a + c as i64 * si) as usize];
                    }
                }
            } else {
                for (c, v) in row.iter_mut().enumerate() {
                    *v = x[indexed(a + c as i64 * si, b + c as i64 * ti, idx, count, dims)];
                }
            }
        }
    };
    let rows_per_chunk = (MIN_PARALLEL / inner).max(1);
    if n < MIN_PARALLEL {
        body((0, &mut out));
    } else {
        out.par_chunks_mut(rows_per_chunk * inner).enumerate().for_each(|(c, ch)| body((c * rows_per_chunk, ch)));
    }
    Ok(out)
}

/// Whether no two positions of the view address the same element (sizes sorted by
/// stride: each |stride| must reach past the extent of the smaller ones).
pub fn is_injective(shape: &[usize], strides: &[i64]) -> bool {
    if numel(shape) == 0 {
        return true;
    }
    let mut d: Vec<(i64, usize)> = shape.iter().zip(strides).filter(|(&n, _)| n > 1).map(|(&n, &s)| (s.abs(), n)).collect();
    d.sort_unstable();
    let mut extent: i64 = 0;
    for (s, n) in d {
        if s <= extent {
            return false;
        }
        extent += s * (n as i64 - 1);
    }
    true
}

/// In place: the view `(shape, strides, offset)` of `dst` takes the values of `src`
/// (contiguous, of that shape). The view must not address an element twice.
pub fn strided_write<T: Copy>(op: &str, dst: &mut [T], src: &[T], ad: &Addressing) -> Result<()> {
    if !ad.dims.is_empty() {
        return Err(Error::value(op, "strided_write takes a plain view"));
    }
    ad.check(op, dst.len(), &[])?;
    let n = numel(&ad.shape);
    if src.len() != n {
        return Err(Error::shape(op, format!("source holds {} elements but the view {} needs {n}", src.len(), fmt_shape(&ad.shape))));
    }
    if !is_injective(&ad.shape, &ad.strides) {
        return Err(Error::value(op, "the destination view addresses some elements more than once"));
    }
    if n == 0 {
        return Ok(());
    }
    let (cs, st) = collapse(&ad.shape, &[&ad.strides]);
    let s = &st[0];
    let inner = cs[cs.len() - 1];
    let si = s[s.len() - 1];
    let zeros = vec![0i64; cs.len()];
    for (r, row) in src.chunks(inner).enumerate() {
        let (a, _) = row_base(r, &cs, s, &zeros, ad.offset);
        if si == 1 {
            let a = a as usize;
            dst[a..a + inner].copy_from_slice(row);
        } else {
            for (c, &v) in row.iter().enumerate() {
                dst[(a + c as i64 * si) as usize] = v;
            }
        }
    }
    Ok(())
}

/// The adjoint of `gather`: zeros of `n` elements, then `out[address(c)] += g[c]` for every
/// output position (repeated addresses accumulate, in order).
pub fn scatter_add(op: &str, g: &[f32], n: usize, ad: &Addressing, idx: &[i32]) -> Result<Vec<f32>> {
    let count = ad.check(op, n, idx)?;
    let m = numel(&ad.shape);
    if g.len() != m {
        return Err(Error::shape(op, format!("gradient holds {} elements but the view {} needs {m}", g.len(), fmt_shape(&ad.shape))));
    }
    let mut out = alloc_f32(n)?;
    out.fill(0.0);
    if m == 0 {
        return Ok(out);
    }
    let zeros = vec![0i64; ad.shape.len()];
    let t_full: &[i64] = if ad.dims.is_empty() { &zeros } else { &ad.idx_strides };
    let (cs, st) = collapse(&ad.shape, &[&ad.strides, t_full]);
    let (s, t) = (&st[0], &st[1]);
    let inner = cs[cs.len() - 1];
    let (si, ti) = (s[s.len() - 1], t[t.len() - 1]);
    for (r, row) in g.chunks(inner).enumerate() {
        let (a, b) = row_base(r, &cs, s, t, ad.offset);
        for (c, &v) in row.iter().enumerate() {
            let at = indexed(a + c as i64 * si, b + c as i64 * ti, idx, count, &ad.dims);
            out[at] += v;
        }
    }
    Ok(out)
}

/// numpy.where(cond, x, y) with broadcasting: `x` where `cond` is nonzero (NaN counts as
/// true, as in numpy), else `y`.
pub fn r#where(c: &[f32], c_shape: &[usize], x: &[f32], x_shape: &[usize], y: &[f32], y_shape: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
    let op = "where";
    for (len, shape, what) in [(c.len(), c_shape, "condition"), (x.len(), x_shape, "x"), (y.len(), y_shape, "y")] {
        super::shape::check_len(op, what, len, shape)?;
    }
    let out_shape = broadcast_shapes(op, &broadcast_shapes(op, c_shape, x_shape)?, y_shape)
        .map_err(|_| Error::shape(op, format!("condition, x and y of shapes {}, {} and {} do not broadcast together", fmt_shape(c_shape), fmt_shape(x_shape), fmt_shape(y_shape))))?;
    let mut out = alloc_f32(numel(&out_shape))?;
    if out.is_empty() {
        return Ok((out, out_shape));
    }
    let sc = broadcast_strides(c_shape, &out_shape);
    let sx = broadcast_strides(x_shape, &out_shape);
    let sy = broadcast_strides(y_shape, &out_shape);
    let (cs, st) = super::shape::collapse(&out_shape, &[sc, sx, sy]);
    let (a, b, d) = (&st[0], &st[1], &st[2]);
    let l = cs.len() - 1;
    let (ia, ib, id) = (a[l], b[l], d[l]);
    walk(&mut out, &cs, [a.as_slice(), b.as_slice(), d.as_slice()], |row, [oc, ox, oy]| {
        for (j, v) in row.iter_mut().enumerate() {
            *v = if c[oc + j * ia] != 0.0 { x[ox + j * ib] } else { y[oy + j * id] };
        }
    });
    Ok((out, out_shape))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{alloc_f32, alloc_i32};

    fn iota(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn views_read_reversed_and_transposed() {
        let x = iota(12); // (3, 4)
        // x[::-1, 1:3]
        let ad = Addressing::view(&[3, 2], &[-4, 1], 9);
        assert_eq!(gather("t", &x, &ad, &[], alloc_f32).unwrap(), vec![9.0, 10.0, 5.0, 6.0, 1.0, 2.0]);
        // x.T
        let ad = Addressing::view(&[4, 3], &[1, 4], 0);
        assert_eq!(gather("t", &x, &ad, &[], alloc_f32).unwrap()[..4], [0.0, 4.0, 8.0, 1.0]);
        let xi: Vec<i32> = (0..12).collect();
        assert_eq!(gather("t", &xi, &Addressing::view(&[2], &[5], 1), &[], alloc_i32).unwrap(), vec![1, 6]);
    }

    #[test]
    fn out_of_range_views_and_indices_are_errors() {
        let x = iota(6);
        assert!(gather("t", &x, &Addressing::view(&[3], &[3], 0), &[], alloc_f32).is_err());
        assert!(gather("t", &x, &Addressing::view(&[2], &[-1], 0), &[], alloc_f32).is_err());
        let ad = Addressing { shape: vec![2, 3], strides: vec![0, 1], offset: 0, idx_strides: vec![1, 0], dims: vec![IndexDim { stride: 3, size: 2 }] };
        assert_eq!(gather("t", &x, &ad, &[1, -2], alloc_f32).unwrap(), vec![3.0, 4.0, 5.0, 0.0, 1.0, 2.0]);
        let e = gather("take", &x, &ad, &[2, 0], alloc_f32).unwrap_err();
        assert_eq!(e.to_string(), "take: index 2 is out of bounds for axis with size 2");
    }

    #[test]
    fn scatter_add_is_the_adjoint_and_accumulates() {
        let ad = Addressing { shape: vec![3], strides: vec![0], offset: 0, idx_strides: vec![1], dims: vec![IndexDim { stride: 1, size: 4 }] };
        assert_eq!(scatter_add("t", &[1.0, 2.0, 3.0], 4, &ad, &[1, 1, -1]).unwrap(), vec![0.0, 3.0, 0.0, 3.0]);
        // A broadcast view (stride 0) sums.
        assert_eq!(scatter_add("t", &[1.0, 2.0], 1, &Addressing::view(&[2], &[0], 0), &[]).unwrap(), vec![3.0]);
    }

    #[test]
    fn strided_write_fills_a_view_and_rejects_overlap() {
        let mut d = vec![0.0f32; 6];
        strided_write("t", &mut d, &[1.0, 2.0], &Addressing::view(&[2], &[3], 1)).unwrap();
        assert_eq!(d, vec![0.0, 1.0, 0.0, 0.0, 2.0, 0.0]);
        assert!(strided_write("t", &mut d, &[1.0, 2.0], &Addressing::view(&[2], &[0], 1)).is_err());
        assert!(is_injective(&[3, 4], &[4, 1]) && !is_injective(&[3, 4], &[1, 1]) && is_injective(&[2, 2], &[-1, 2]));
    }

    #[test]
    fn where_broadcasts() {
        let (o, s) = r#where(&[1.0, 0.0], &[2, 1], &[5.0], &[], &[7.0, 8.0, 9.0], &[3]).unwrap();
        assert_eq!(s, vec![2, 3]);
        assert_eq!(o, vec![5.0, 5.0, 5.0, 7.0, 8.0, 9.0]);
        assert!(r#where(&[1.0, 0.0], &[2], &[5.0; 3], &[3], &[1.0], &[]).is_err());
    }
}

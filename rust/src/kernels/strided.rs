//! Walking contiguous outputs while reading strided (broadcast or permuted) inputs.
//!
//! The output is split into flat chunks that run in parallel; inside a chunk the walk
//! goes row by row over the innermost collapsed dim and hands each row to a closure
//! together with the inputs' starting offsets, so the closure's inner loop is a plain
//! slice loop that the compiler vectorises.

use rayon::prelude::*;

use super::parallel::{chunk_len, MIN_PARALLEL};

/// Offsets of flat output position `pos` in each input, for a collapsed shape `cs`.
#[inline]
fn offsets<const N: usize>(pos: usize, cs: &[usize], strides: &[&[usize]; N]) -> [usize; N] {
    let m = cs.len();
    let inner = cs[m - 1];
    let mut rem = pos / inner;
    let col = pos % inner;
    let mut off = [0usize; N];
    for k in 0..N {
        off[k] = col * strides[k][m - 1];
    }
    for d in (0..m - 1).rev() {
        let i = rem % cs[d];
        rem /= cs[d];
        for k in 0..N {
            off[k] += i * strides[k][d];
        }
    }
    off
}

/// Calls `row(out_row, offsets)` for every (partial) innermost row of `out`, in parallel
/// over chunks when `out` is large. `cs` is the collapsed output shape and `strides` the
/// inputs' strides over it.
pub fn walk<const N: usize, F>(out: &mut [f32], cs: &[usize], strides: [&[usize]; N], row: F)
where
    F: Fn(&mut [f32], [usize; N]) + Sync,
{
    let total = out.len();
    if total == 0 {
        return;
    }
    let inner = cs[cs.len() - 1];
    let run_chunk = |start: usize, chunk: &mut [f32]| {
        let end = start + chunk.len();
        let mut pos = start;
        while pos < end {
            let col = pos % inner;
            let len = (inner - col).min(end - pos);
            let off = offsets(pos, cs, &strides);
            row(&mut chunk[pos - start..pos - start + len], off);
            pos += len;
        }
    };
    if total < MIN_PARALLEL {
        run_chunk(0, out);
    } else {
        let c = chunk_len(total);
        out.par_chunks_mut(c).enumerate().for_each(|(i, ch)| run_chunk(i * c, ch));
    }
}

/// Applies `f` to every element of `out` in place with its index-aligned input, in
/// parallel chunks: the contiguous fast path of elementwise kernels.
pub fn zip_map(out: &mut [f32], x: &[f32], f: impl Fn(f32) -> f32 + Sync) {
    if out.len() < MIN_PARALLEL {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = f(v);
        }
    } else {
        let c = chunk_len(out.len());
        out.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(o, xi)| {
            for (o, &v) in o.iter_mut().zip(xi) {
                *o = f(v);
            }
        });
    }
}

/// `out[i] = f(a[i], b[i])` over equal-length slices, in parallel chunks.
pub fn zip_map2(out: &mut [f32], a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32 + Sync) {
    if out.len() < MIN_PARALLEL {
        for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
            *o = f(x, y);
        }
    } else {
        let c = chunk_len(out.len());
        out.par_chunks_mut(c).zip(a.par_chunks(c)).zip(b.par_chunks(c)).for_each(|((o, a), b)| {
            for ((o, &x), &y) in o.iter_mut().zip(a).zip(b) {
                *o = f(x, y);
            }
        });
    }
}

/// `out[i] = f(a[i], b[i], c[i])` over equal-length slices, in parallel chunks.
pub fn zip_map3(out: &mut [f32], a: &[f32], b: &[f32], c3: &[f32], f: impl Fn(f32, f32, f32) -> f32 + Sync) {
    if out.len() < MIN_PARALLEL {
        for (((o, &x), &y), &z) in out.iter_mut().zip(a).zip(b).zip(c3) {
            *o = f(x, y, z);
        }
    } else {
        let c = chunk_len(out.len());
        out.par_chunks_mut(c)
            .zip(a.par_chunks(c))
            .zip(b.par_chunks(c))
            .zip(c3.par_chunks(c))
            .for_each(|(((o, a), b), z)| {
                for (((o, &x), &y), &z) in o.iter_mut().zip(a).zip(b).zip(z) {
                    *o = f(x, y, z);
                }
            });
    }
}

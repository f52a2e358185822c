//! 2-D max and average pooling, NHWC, each direction in one pass.
//!
//! Forward passes walk the output pixels with the channels innermost (contiguous in
//! NHWC, so the compare/select and the sums vectorise). Max pooling keeps the int32
//! row-major window position (p KW + q) of each output's first maximum; its backward pass
//! adds each output gradient at that position. Padding never wins a max (it is -inf) and
//! is excluded from an average's count (TensorFlow's and Keras's "same"). Backward passes
//! split the batch into whole images per task, so no two tasks write one element.

use rayon::prelude::*;

use crate::error::{fmt_shape, Error, Result};
use crate::memory::{alloc_f32, alloc_i32};

use super::conv::window_geometry;
use super::cpu_features::vectorized;
use super::parallel::MIN_PARALLEL;

/// Channels per fixed-width block of the max pooling loop (one zmm of f32 and one of i32).
const LANES: usize = 16;

/// Shapes of one pooling op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub n: usize,
    pub h: usize,
    pub w: usize,
    pub c: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

impl PoolGeometry {
    /// Validates the input shape, window, strides and pads (errors name `op`).
    pub fn new(op: &str, x_shape: &[usize], pool: [i64; 2], strides: [i64; 2], pads: [[i64; 2]; 2]) -> Result<Self> {
        let (oh, ow) = window_geometry(op, x_shape, pool, strides, pads, [1, 1])?;
        Ok(PoolGeometry {
            n: x_shape[0],
            h: x_shape[1],
            w: x_shape[2],
            c: x_shape[3],
            kh: pool[0] as usize,
            kw: pool[1] as usize,
            sh: strides[0] as usize,
            sw: strides[1] as usize,
            pt: pads[0][0] as usize,
            pl: pads[1][0] as usize,
            oh,
            ow,
        })
    }
    pub fn out_shape(&self) -> [usize; 4] {
        [self.n, self.oh, self.ow, self.c]
    }
    pub fn x_len(&self) -> usize {
        self.n * self.h * self.w * self.c
    }
    pub fn y_len(&self) -> usize {
        self.n * self.oh * self.ow * self.c
    }
    /// Work of one pass, for the parallel threshold.
    pub fn work(&self) -> usize {
        self.y_len() * self.kh * self.kw
    }
    /// The input rows (and their window rows p) covered by output row i.
    #[inline]
    fn rows(&self, i: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.kh).filter_map(move |p| (i * self.sh + p).checked_sub(self.pt).filter(|&v| v < self.h).map(|v| (p, v)))
    }
    #[inline]
    fn cols(&self, j: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        (0..self.kw).filter_map(move |q| (j * self.sw + q).checked_sub(self.pl).filter(|&v| v < self.w).map(|v| (q, v)))
    }
}

fn check_input(op: &str, what: &str, len: usize, shape: &[usize]) -> Result<()> {
    let need: usize = shape.iter().product();
    if len != need {
        return Err(Error::shape(op, format!("{what} holds {len} values but its shape {} needs {need}", fmt_shape(shape))));
    }
    Ok(())
}

/// Output pixels per task: a few tasks per thread when the work pays for it.
fn pixels_per_task(g: &PoolGeometry) -> usize {
    let pixels = g.n * g.oh * g.ow;
    if g.work() < MIN_PARALLEL || rayon::current_num_threads() < 2 {
        return pixels.max(1);
    }
    pixels.div_ceil(rayon::current_num_threads() * 4).max(1)
}

/// Images per task for the backward passes (tasks own whole images of gx).
fn images_per_task(g: &PoolGeometry) -> usize {
    if g.work() < MIN_PARALLEL || rayon::current_num_threads() < 2 {
        return g.n.max(1);
    }
    g.n.div_ceil(rayon::current_num_threads() * 4).max(1)
}

/// Max over each window; with `need_argmax` also the window position of its first maximum.
/// NaN wins (the first NaN, as `reduce("max")` and `argmax` do).
pub fn max_pool2d(x: &[f32], g: &PoolGeometry, need_argmax: bool) -> Result<(Vec<f32>, Option<Vec<i32>>)> {
    check_input("max_pool2d", "input", x.len(), &[g.n, g.h, g.w, g.c])?;
    let mut y = alloc_f32(g.y_len())?;
    let mut am = alloc_i32(if need_argmax { g.y_len() } else { 0 })?;
    if y.is_empty() {
        return Ok((y, need_argmax.then_some(am)));
    }
    let c = g.c;
    let per = pixels_per_task(g);
    let per_img = g.oh * g.ow;
    let mut scratch = Vec::new();
    let task = |t: usize, yt: &mut [f32], at: &mut [i32]| vectorized(|| {
        for (k, yr) in yt.chunks_exact_mut(c).enumerate() {
            let r = t * per + k;
            let (img, rem) = (r / per_img, r % per_img);
            let (i, j) = (rem / g.ow, rem % g.ow);
            let ar = if need_argmax { &mut at[k * c..(k + 1) * c] } else { &mut [][..] };
            yr.fill(f32::NEG_INFINITY);
            ar.fill(0);
            for (p, ih) in g.rows(i) {
                for (q, iw) in g.cols(j) {
                    let xs = &x[((img * g.h + ih) * g.w + iw) * c..][..c];
                    // Padding is -inf, which never beats anything: only input positions
                    // count. `!(v <= b)` is `v > b or v is NaN`; a NaN best stays.
                    // Non-short-circuit ops and selects, so the loops vectorise.
                    if need_argmax {
                        let pos = (p * g.kw + q) as i32;
                        let mut c0 = 0;
                        // Fixed-width blocks: the compiler keeps them in vector registers.
                        while c0 + LANES <= c {
                            let (bs, as_, vs) = (&mut yr[c0..c0 + LANES], &mut ar[c0..c0 + LANES], &xs[c0..c0 + LANES]);
                            for l in 0..LANES {
                                let (v, b) = (vs[l], bs[l]);
                                #[allow(clippy::neg_cmp_op_on_partial_ord)]
                                let take = !(v <= b) & !b.is_nan();
                                bs[l] = if take { v } else { b };
                                as_[l] = if take { pos } else { as_[l] };
                            }
                            c0 += LANES;
                        }
                        for ((b, a), &v) in yr[c0..].iter_mut().zip(ar[c0..].iter_mut()).zip(&xs[c0..]) {
                            #[allow(clippy::neg_cmp_op_on_partial_ord)]
                            let take = !(v <= *b) & !b.is_nan();
                            *b = if take { v } else { *b };
                            *a = if take { pos } else { *a };
                        }
                    } else {
                        for (b, &v) in yr.iter_mut().zip(xs) {
                            #[allow(clippy::neg_cmp_op_on_partial_ord)]
                            let take = !(v <= *b) & !b.is_nan();
                            *b = if take { v } else { *b };
                        }
                    }
                }
            }
        }
    });
    if need_argmax {
        if per < g.n * per_img {
            y.par_chunks_mut(per * c).zip(am.par_chunks_mut(per * c)).enumerate().for_each(|(t, (yt, at))| task(t, yt, at));
        } else {
            task(0, &mut y, &mut am);
        }
    } else if per < g.n * per_img {
        y.par_chunks_mut(per * c).enumerate().for_each(|(t, yt)| task(t, yt, &mut []));
    } else {
        task(0, &mut y, &mut scratch);
    }
    Ok((y, need_argmax.then_some(am)))
}

/// The gradient of `max_pool2d` w.r.t. x: each output's gradient goes to its window's
/// first maximum (`argmax`); overlapping windows accumulate.
pub fn max_pool2d_backward(argmax: &[i32], gy: &[f32], g: &PoolGeometry) -> Result<Vec<f32>> {
    let op = "max_pool2d_backward";
    check_input(op, "argmax", argmax.len(), &g.out_shape())?;
    check_input(op, "gradient", gy.len(), &g.out_shape())?;
    let k = (g.kh * g.kw) as i32;
    if let Some(&bad) = argmax.iter().find(|&&a| a < 0 || a >= k) {
        return Err(Error::value(op, format!("argmax {bad} is outside the window of {k} positions")));
    }
    let mut gx = alloc_f32(g.x_len())?;
    gx.fill(0.0);
    let img_len = g.h * g.w * g.c;
    if gx.is_empty() || gy.is_empty() {
        return Ok(gx);
    }
    let (c, per_img) = (g.c, g.oh * g.ow);
    let ipt = images_per_task(g);
    let task = |t: usize, gxt: &mut [f32]| vectorized(|| {
        let img0 = t * ipt;
        let imgs = gxt.len() / img_len;
        for r in img0 * per_img..(img0 + imgs) * per_img {
            let (img, rem) = (r / per_img - img0, r % per_img);
            let (i, j) = (rem / g.ow, rem % g.ow);
            let (ar, gr) = (&argmax[r * c..(r + 1) * c], &gy[r * c..(r + 1) * c]);
            // Each input position of the window takes the gradients whose argmax names it:
            // a compare and a select per channel (no division, vectorises). A maximum in
            // the padding (a window of -inf only) has nowhere to go.
            for (p, ih) in g.rows(i) {
                for (q, iw) in g.cols(j) {
                    let pos = (p * g.kw + q) as i32;
                    let d = &mut gxt[((img * g.h + ih) * g.w + iw) * c..][..c];
                    for ((dv, &a), &gv) in d.iter_mut().zip(ar).zip(gr) {
                        *dv += if a == pos { gv } else { 0.0 };
                    }
                }
            }
        }
    });
    if ipt < g.n {
        gx.par_chunks_mut(ipt * img_len).enumerate().for_each(|(t, gxt)| task(t, gxt));
    } else {
        task(0, &mut gx);
    }
    Ok(gx)
}

/// Number of input (not padding) elements of output (i, j)'s window.
#[inline]
fn count(g: &PoolGeometry, i: usize, j: usize) -> usize {
    g.rows(i).count() * g.cols(j).count()
}

/// Mean of each window over its input elements (padding excluded from the count).
pub fn average_pool2d(x: &[f32], g: &PoolGeometry) -> Result<Vec<f32>> {
    check_input("average_pool2d", "input", x.len(), &[g.n, g.h, g.w, g.c])?;
    let mut y = alloc_f32(g.y_len())?;
    if y.is_empty() {
        return Ok(y);
    }
    let (c, per_img) = (g.c, g.oh * g.ow);
    let per = pixels_per_task(g);
    let task = |t: usize, yt: &mut [f32]| vectorized(|| {
        for (k, yr) in yt.chunks_exact_mut(c).enumerate() {
            let r = t * per + k;
            let (img, rem) = (r / per_img, r % per_img);
            let (i, j) = (rem / g.ow, rem % g.ow);
            yr.fill(0.0);
            for (_, ih) in g.rows(i) {
                for (_, iw) in g.cols(j) {
                    let xs = &x[((img * g.h + ih) * g.w + iw) * c..][..c];
                    yr.iter_mut().zip(xs).for_each(|(a, &v)| *a += v);
                }
            }
            // A window wholly in the padding averages nothing: 0 / 0, as the composite.
            let inv = 1.0 / count(g, i, j) as f32;
            yr.iter_mut().for_each(|v| *v *= inv);
        }
    });
    if per < g.n * per_img {
        y.par_chunks_mut(per * c).enumerate().for_each(|(t, yt)| task(t, yt));
    } else {
        task(0, &mut y);
    }
    Ok(y)
}

/// The gradient of `average_pool2d` w.r.t. x.
pub fn average_pool2d_backward(gy: &[f32], g: &PoolGeometry) -> Result<Vec<f32>> {
    check_input("average_pool2d_backward", "gradient", gy.len(), &g.out_shape())?;
    let mut gx = alloc_f32(g.x_len())?;
    gx.fill(0.0);
    if gx.is_empty() || gy.is_empty() {
        return Ok(gx);
    }
    let (c, per_img, img_len) = (g.c, g.oh * g.ow, g.h * g.w * g.c);
    let ipt = images_per_task(g);
    let task = |t: usize, gxt: &mut [f32]| vectorized(|| {
        let img0 = t * ipt;
        let imgs = gxt.len() / img_len;
        let mut gs = vec![0f32; c];
        for r in img0 * per_img..(img0 + imgs) * per_img {
            let (img, rem) = (r / per_img - img0, r % per_img);
            let (i, j) = (rem / g.ow, rem % g.ow);
            let inv = 1.0 / count(g, i, j) as f32;
            gs.iter_mut().zip(&gy[r * c..(r + 1) * c]).for_each(|(s, &v)| *s = v * inv);
            for (_, ih) in g.rows(i) {
                for (_, iw) in g.cols(j) {
                    let d = &mut gxt[((img * g.h + ih) * g.w + iw) * c..][..c];
                    d.iter_mut().zip(&gs).for_each(|(a, &v)| *a += v);
                }
            }
        }
    });
    if ipt < g.n {
        gx.par_chunks_mut(ipt * img_len).enumerate().for_each(|(t, gxt)| task(t, gxt));
    } else {
        task(0, &mut gx);
    }
    Ok(gx)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo(x: [usize; 4], k: [i64; 2], s: [i64; 2], pads: [[i64; 2]; 2]) -> PoolGeometry {
        PoolGeometry::new("pool", &x, k, s, pads).unwrap()
    }

    #[test]
    fn max_takes_first_maximum_and_routes_gradient() {
        // one 2x2 window with a tie: the first (row-major) wins
        let g = geo([1, 2, 2, 1], [2, 2], [2, 2], [[0, 0], [0, 0]]);
        let (y, am) = max_pool2d(&[1.0, 3.0, 3.0, 0.0], &g, true).unwrap();
        assert_eq!(y, vec![3.0]);
        assert_eq!(am, Some(vec![1]));
        let gx = max_pool2d_backward(&[1], &[5.0], &g).unwrap();
        assert_eq!(gx, vec![0.0, 5.0, 0.0, 0.0]);
        assert!(max_pool2d_backward(&[4], &[5.0], &g).is_err());
    }

    #[test]
    fn padding_never_wins_and_is_not_counted() {
        let g = geo([1, 3, 3, 1], [2, 2], [2, 2], [[0, 1], [0, 1]]);
        let x: Vec<f32> = (0..9).map(|v| -(v as f32) - 1.0).collect();
        let (y, am) = max_pool2d(&x, &g, true).unwrap();
        assert_eq!(y, vec![-1.0, -3.0, -7.0, -9.0]);
        assert_eq!(am, Some(vec![0, 0, 0, 0]));
        let a = average_pool2d(&x, &g).unwrap();
        assert_eq!(a, vec![-3.0, -4.5, -7.5, -9.0]);
        let gx = average_pool2d_backward(&[1.0, 1.0, 1.0, 1.0], &g).unwrap();
        assert_eq!(gx, vec![0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.5, 0.5, 1.0]);
    }

    #[test]
    fn parallel_matches_serial() {
        let g = geo([9, 20, 17, 8], [3, 3], [2, 2], [[1, 1], [1, 1]]);
        let x: Vec<f32> = (0..g.x_len()).map(|v| ((v * 7919) % 1000) as f32 * 0.01).collect();
        let gy: Vec<f32> = (0..g.y_len()).map(|v| (v % 13) as f32).collect();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(|| {
                let (y, am) = max_pool2d(&x, &g, true).unwrap();
                let am = am.unwrap();
                (y, max_pool2d_backward(&am, &gy, &g).unwrap(), average_pool2d(&x, &g).unwrap(), average_pool2d_backward(&gy, &g).unwrap(), am)
            })
        };
        assert_eq!(run(1), run(3));
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert!(PoolGeometry::new("max_pool2d", &[1, 2, 2], [2, 2], [1, 1], [[0, 0], [0, 0]]).is_err());
        assert!(PoolGeometry::new("max_pool2d", &[1, 2, 2, 1], [3, 2], [1, 1], [[0, 0], [0, 0]]).is_err());
        assert!(PoolGeometry::new("max_pool2d", &[1, 2, 2, 1], [2, 2], [0, 1], [[0, 0], [0, 0]]).is_err());
        let g = geo([1, 2, 2, 1], [2, 2], [1, 1], [[0, 0], [0, 0]]);
        assert!(max_pool2d(&[0.0; 3], &g, false).is_err());
        assert!(average_pool2d_backward(&[0.0; 2], &g).is_err());
    }
}

//! Fused training-mode batch normalization over the rows of a (rows, channels) view:
//! per-channel mean and biased variance (two passes, f64 accumulation), then
//! y = (x - mean) / sqrt(var + eps) * gamma + beta in one pass; the backward gives
//! gx, d gamma and d beta from two per-channel sums and one elementwise pass:
//!
//!   x_hat = (x - mean) * inv_std,  d beta = sum_r g,  d gamma = sum_r g * x_hat,
//!   gx = inv_std * gamma * (g - d beta / rows - x_hat * d gamma / rows).
//!
//! Keras numerics: biased variance, epsilon inside the square root.

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::memory::alloc_f32;

use super::parallel::MIN_PARALLEL;

const OP: &str = "batch_norm";

fn check(op: &str, x: usize, rows: usize, ch: usize, params: &[(&str, Option<usize>)]) -> Result<()> {
    if rows.checked_mul(ch) != Some(x) {
        return Err(Error::shape(op, format!("input holds {x} values but its view ({rows}, {ch}) needs {}", rows * ch)));
    }
    if rows == 0 {
        return Err(Error::shape(op, format!("cannot normalize over 0 rows (view (0, {ch}))")));
    }
    for &(name, len) in params {
        if let Some(l) = len {
            if l != ch {
                return Err(Error::shape(op, format!("{name} holds {l} values but there are {ch} channels")));
            }
        }
    }
    Ok(())
}

/// Per-channel sums over the rows: `add_row(acc, r)` adds row r's terms into the f64
/// accumulators (a loop over a contiguous row, which vectorises); blocks of rows run on
/// separate threads and their accumulators are added at the end.
fn column_sums<F>(rows: usize, ch: usize, add_row: F) -> Vec<f64>
where
    F: Fn(&mut [f64], usize) + Sync,
{
    let block = (MIN_PARALLEL / ch.max(1)).max(1);
    let add_rows = |r0: usize, r1: usize| {
        let mut acc = vec![0.0f64; ch];
        for r in r0..r1 {
            add_row(&mut acc, r);
        }
        acc
    };
    if rows <= block {
        return add_rows(0, rows);
    }
    (0..rows.div_ceil(block))
        .into_par_iter()
        .map(|b| add_rows(b * block, ((b + 1) * block).min(rows)))
        .reduce(
            || vec![0.0f64; ch],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    *x += y;
                }
                a
            },
        )
}

fn inv_std(var: &[f32], eps: f32) -> Vec<f32> {
    var.iter().map(|&v| 1.0 / (v + eps).sqrt()).collect()
}

/// (y, mean, var) of training-mode batch normalization of `x` viewed as (rows, ch).
pub fn batch_norm(x: &[f32], gamma: Option<&[f32]>, beta: Option<&[f32]>, rows: usize, ch: usize, eps: f32) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
    check(OP, x.len(), rows, ch, &[("gamma", gamma.map(<[f32]>::len)), ("beta", beta.map(<[f32]>::len))])?;
    let n = rows as f64;
    let row = |r: usize| &x[r * ch..(r + 1) * ch];
    let mean64: Vec<f64> = column_sums(rows, ch, |acc, r| {
        for (a, &v) in acc.iter_mut().zip(row(r)) {
            *a += v as f64;
        }
    })
    .into_iter()
    .map(|s| s / n)
    .collect();
    let var64 = column_sums(rows, ch, |acc, r| {
        for ((a, &v), &m) in acc.iter_mut().zip(row(r)).zip(&mean64) {
            let d = v as f64 - m;
            *a += d * d;
        }
    });
    let mean: Vec<f32> = mean64.iter().map(|&m| m as f32).collect();
    let var: Vec<f32> = var64.iter().map(|&s| (s / n) as f32).collect();
    let inv = inv_std(&var, eps);
    let mut y = alloc_f32(x.len())?;
    let apply = |(yr, xr): (&mut [f32], &[f32])| {
        for c in 0..ch {
            let mut v = (xr[c] - mean[c]) * inv[c];
            if let Some(g) = gamma {
                v *= g[c];
            }
            if let Some(b) = beta {
                v += b[c];
            }
            yr[c] = v;
        }
    };
    if x.len() < MIN_PARALLEL {
        y.chunks_mut(ch).zip(x.chunks(ch)).for_each(apply);
    } else {
        y.par_chunks_mut(ch).zip(x.par_chunks(ch)).for_each(apply);
    }
    Ok((y, mean, var))
}

/// (gx or None, d gamma, d beta) of `batch_norm`, from its saved batch mean and variance.
#[allow(clippy::too_many_arguments)]
pub fn batch_norm_backward(
    x: &[f32],
    gamma: Option<&[f32]>,
    mean: &[f32],
    var: &[f32],
    gy: &[f32],
    rows: usize,
    ch: usize,
    eps: f32,
    need_gx: bool,
) -> Result<(Option<Vec<f32>>, Vec<f32>, Vec<f32>)> {
    let op = "batch_norm_backward";
    check(op, x.len(), rows, ch, &[("gamma", gamma.map(<[f32]>::len)), ("mean", Some(mean.len())), ("variance", Some(var.len()))])?;
    if gy.len() != x.len() {
        return Err(Error::shape(op, format!("the gradient holds {} values but the input {}", gy.len(), x.len())));
    }
    let inv = inv_std(var, eps);
    let gbeta64 = column_sums(rows, ch, |acc, r| {
        for (a, &g) in acc.iter_mut().zip(&gy[r * ch..(r + 1) * ch]) {
            *a += g as f64;
        }
    });
    let ggamma64 = column_sums(rows, ch, |acc, r| {
        let (xr, gr) = (&x[r * ch..(r + 1) * ch], &gy[r * ch..(r + 1) * ch]);
        for ((a, (&xv, &g)), (&m, &s)) in acc.iter_mut().zip(xr.iter().zip(gr)).zip(mean.iter().zip(&inv)) {
            *a += (g * ((xv - m) * s)) as f64;
        }
    });
    let gbeta: Vec<f32> = gbeta64.iter().map(|&v| v as f32).collect();
    let ggamma: Vec<f32> = ggamma64.iter().map(|&v| v as f32).collect();
    let gx = if need_gx {
        let n = rows as f32;
        let (mb, mg): (Vec<f32>, Vec<f32>) = (gbeta.iter().map(|v| v / n).collect(), ggamma.iter().map(|v| v / n).collect());
        let mut gx = alloc_f32(x.len())?;
        let apply = |((gr, xr), gyr): ((&mut [f32], &[f32]), &[f32])| {
            for c in 0..ch {
                let xhat = (xr[c] - mean[c]) * inv[c];
                let scale = gamma.map_or(1.0, |g| g[c]) * inv[c];
                gr[c] = scale * (gyr[c] - mb[c] - xhat * mg[c]);
            }
        };
        if x.len() < MIN_PARALLEL {
            gx.chunks_mut(ch).zip(x.chunks(ch)).zip(gy.chunks(ch)).for_each(apply);
        } else {
            gx.par_chunks_mut(ch).zip(x.par_chunks(ch)).zip(gy.par_chunks(ch)).for_each(apply);
        }
        Some(gx)
    } else {
        None
    };
    Ok((gx, ggamma, gbeta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: &[f32], rows: usize, ch: usize, eps: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
        let mut mean = vec![0.0; ch];
        let mut var = vec![0.0; ch];
        for c in 0..ch {
            mean[c] = (0..rows).map(|r| x[r * ch + c] as f64).sum::<f64>() / rows as f64;
            var[c] = (0..rows).map(|r| (x[r * ch + c] as f64 - mean[c]).powi(2)).sum::<f64>() / rows as f64;
        }
        let y = (0..rows * ch).map(|i| (x[i] as f64 - mean[i % ch]) / (var[i % ch] + eps).sqrt()).collect();
        (y, mean, var)
    }

    #[test]
    fn matches_float64_serial_and_parallel() {
        for &(rows, ch) in &[(1usize, 3usize), (7, 5), (300, 200), (5000, 3)] {
            let x: Vec<f32> = (0..rows * ch).map(|i| ((i * 7919 % 1000) as f32) / 100.0 - 3.0).collect();
            let (y, mean, var) = batch_norm(&x, None, None, rows, ch, 1e-3).unwrap();
            let (ry, rm, rv) = reference(&x, rows, ch, 1e-3);
            for (a, b) in y.iter().zip(&ry) {
                assert!((*a as f64 - b).abs() <= 1e-4 * b.abs().max(1.0), "y {a} vs {b}");
            }
            for (a, b) in mean.iter().zip(&rm).chain(var.iter().zip(&rv)) {
                assert!((*a as f64 - b).abs() <= 1e-5 * b.abs().max(1.0));
            }
        }
    }

    #[test]
    fn shape_errors() {
        assert!(batch_norm(&[1.0; 6], None, None, 2, 4, 1e-3).is_err());
        assert!(batch_norm(&[], None, None, 0, 4, 1e-3).is_err());
        assert!(batch_norm(&[1.0; 6], Some(&[1.0; 2]), None, 2, 3, 1e-3).is_err());
        assert!(batch_norm_backward(&[1.0; 6], None, &[0.0; 3], &[1.0; 3], &[1.0; 5], 2, 3, 1e-3, true).is_err());
    }
}

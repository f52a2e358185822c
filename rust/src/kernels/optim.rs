//! Fused in-place optimizer updates (Keras 3 semantics). One pass over the parameters
//! per step; each element's update reads and writes only its own slots, so chunks run
//! in parallel without synchronisation.

use rayon::prelude::*;

use crate::error::{Error, Result};

use super::parallel::chunk_len;

fn same_len(op: &str, lens: &[(&str, usize)]) -> Result<()> {
    let n = lens[0].1;
    for &(what, l) in lens {
        if l != n {
            return Err(Error::shape(op, format!("{what} holds {l} values but the parameter holds {n}")));
        }
    }
    Ok(())
}

/// Keras SGD. Without momentum: p -= lr * g. With momentum: v = momentum * v - lr * g,
/// then p += v, or with Nesterov p += momentum * v - lr * g.
pub fn sgd(p: &mut [f32], g: &[f32], velocity: Option<&mut [f32]>, lr: f32, momentum: f32, nesterov: bool) -> Result<()> {
    same_len("sgd_update", &[("parameter", p.len()), ("gradient", g.len())])?;
    let c = chunk_len(p.len());
    match velocity {
        None => p.par_chunks_mut(c).zip(g.par_chunks(c)).for_each(|(p, g)| {
            for (p, &g) in p.iter_mut().zip(g) {
                *p -= lr * g;
            }
        }),
        Some(v) => {
            same_len("sgd_update", &[("parameter", p.len()), ("velocity", v.len())])?;
            p.par_chunks_mut(c).zip(g.par_chunks(c)).zip(v.par_chunks_mut(c)).for_each(|((p, g), v)| {
                for ((p, &g), v) in p.iter_mut().zip(g).zip(v.iter_mut()) {
                    *v = momentum * *v - lr * g;
                    *p += if nesterov { momentum * *v - lr * g } else { *v };
                }
            })
        }
    }
    Ok(())
}

/// Keras Adam at step `t` (1-based):
/// m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
/// p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).
/// Keras puts epsilon outside the square root and folds the bias corrections into the
/// step size ("epsilon hat" of the Adam paper), unlike PyTorch, which divides by
/// sqrt(v_hat) + eps; the two differ when sqrt(v) is near eps.
#[allow(clippy::too_many_arguments)]
pub fn adam(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], lr: f32, b1: f32, b2: f32, eps: f32, t: u64) -> Result<()> {
    same_len(
        "adam_update",
        &[("parameter", p.len()), ("gradient", g.len()), ("first moment", m.len()), ("second moment", v.len())],
    )?;
    if t == 0 {
        return Err(Error::value("adam_update", "step must be >= 1"));
    }
    let t = t.min(i32::MAX as u64) as i32;
    let lr_t = (lr as f64 * (1.0 - (b2 as f64).powi(t)).sqrt() / (1.0 - (b1 as f64).powi(t))) as f32;
    let (one_b1, one_b2) = (1.0 - b1, 1.0 - b2);
    let c = chunk_len(p.len());
    p.par_chunks_mut(c)
        .zip(g.par_chunks(c))
        .zip(m.par_chunks_mut(c))
        .zip(v.par_chunks_mut(c))
        .for_each(|(((p, g), m), v)| {
            for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                *m += (g - *m) * one_b1;
                *v += (g * g - *v) * one_b2;
                *p -= lr_t * *m / (v.sqrt() + eps);
            }
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_two_steps() {
        let mut p = vec![1.0f32];
        let mut v = vec![0.0f32];
        sgd(&mut p, &[1.0], Some(&mut v), 0.1, 0.9, false).unwrap();
        sgd(&mut p, &[1.0], Some(&mut v), 0.1, 0.9, false).unwrap();
        // v1 = -0.1, p1 = 0.9; v2 = -0.09 - 0.1 = -0.19, p2 = 0.71
        assert!((p[0] - 0.71).abs() < 1e-6);
    }

    #[test]
    fn adam_first_step_is_lr_sized() {
        let mut p = vec![0.0f32];
        let (mut m, mut v) = (vec![0.0f32], vec![0.0f32]);
        adam(&mut p, &[3.0], &mut m, &mut v, 0.001, 0.9, 0.999, 1e-7, 1).unwrap();
        assert!((p[0] + 0.001).abs() < 1e-6);
    }
}

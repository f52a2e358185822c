//! Fused in-place optimizer updates (Keras 3 semantics). One pass over the parameters
//! per step; each element's update reads and writes only its own slots, so chunks run
//! in parallel without synchronisation.
//!
//! Every kernel takes `decay` = weight_decay * learning_rate and first applies Keras's
//! decoupled weight decay `p -= p * decay` (skipped when 0, so an infinite weight stays
//! infinite); no update rule reads the parameter, so fusing the decay into the same pass
//! equals Keras's separate decay-then-update order.

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
#[allow(clippy::too_many_arguments)]
pub fn sgd(p: &mut [f32], g: &[f32], velocity: Option<&mut [f32]>, lr: f32, momentum: f32, nesterov: bool, decay: f32) -> Result<()> {
    check_slots("sgd_update", p.len(), g.len(), &[("velocity", velocity.as_ref().map(|v| v.len()))])?;
    par_update(p, g, [velocity, None, None], move |p, g, [v, _, _]| {
        let n = p.len();
        let g = &g[..n];
        match v {
            None => {
                for i in 0..n {
                    if decay != 0.0 {
                        p[i] -= p[i] * decay;
                    }
                    p[i] -= lr * g[i];
                }
            }
            Some(v) => {
                let v = &mut v[..n];
                for i in 0..n {
                    if decay != 0.0 {
                        p[i] -= p[i] * decay;
                    }
                    v[i] = momentum * v[i] - lr * g[i];
                    p[i] += if nesterov { momentum * v[i] - lr * g[i] } else { v[i] };
                }
            }
        }
    });
    Ok(())
}

/// Keras Adam at step `t` (1-based):
/// m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
/// p -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).
/// Keras puts epsilon outside the square root and folds the bias corrections into the
/// step size ("epsilon hat" of the Adam paper), unlike PyTorch, which divides by
/// sqrt(v_hat) + eps; the two differ when sqrt(v) is near eps.
/// With `vhat` (AMSGrad): vhat = max(vhat, v), and vhat replaces v in the denominator.
#[allow(clippy::too_many_arguments)]
pub fn adam(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    vhat: Option<&mut [f32]>,
    lr: f32,
    b1: f64,
    b2: f64,
    eps: f32,
    t: u64,
    decay: f32,
) -> Result<()> {
    let op = "adam_update";
    let lens = [("first moment", Some(m.len())), ("second moment", Some(v.len())), ("vhat", vhat.as_ref().map(|h| h.len()))];
    check_slots(op, p.len(), g.len(), &lens)?;
    let t = check_step(op, t)?;
    let lr_t = (lr as f64 * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t))) as f32;
    let (one_b1, one_b2) = ((1.0 - b1) as f32, (1.0 - b2) as f32);
    par_update(p, g, [Some(m), Some(v), vhat], move |p, g, s| {
        let [Some(m), Some(v), vh] = s else { return };
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        match vh {
            None => {
                for i in 0..n {
                    if decay != 0.0 {
                        p[i] -= p[i] * decay;
                    }
                    m[i] += (g[i] - m[i]) * one_b1;
                    v[i] += (g[i] * g[i] - v[i]) * one_b2;
                    p[i] -= lr_t * m[i] / (v[i].sqrt() + eps);
                }
            }
            Some(h) => {
                let h = &mut h[..n];
                for i in 0..n {
                    if decay != 0.0 {
                        p[i] -= p[i] * decay;
                    }
                    m[i] += (g[i] - m[i]) * one_b1;
                    v[i] += (g[i] * g[i] - v[i]) * one_b2;
                    h[i] = h[i].max(v[i]);
                    p[i] -= lr_t * m[i] / (h[i].sqrt() + eps);
                }
            }
        }
    });
    Ok(())
}

// -- the rest of the catalogue -------------------------------------------------------------

/// Up to three optimizer slots of one parameter, `None` where the configuration has no such slot.
pub type Slots<'a> = [Option<&'a mut [f32]>; 3];

fn split_opt(s: Option<&mut [f32]>, c: usize, k: usize) -> Vec<Option<&mut [f32]>> {
    match s {
        Some(s) => s.chunks_mut(c).map(Some).collect(),
        None => (0..k).map(|_| None).collect(),
    }
}

/// Runs `f` over matching chunks of the parameter, the gradient and the slots, in parallel
/// above `MIN_PARALLEL` elements. Lengths must have been checked by the caller.
fn par_update<F>(p: &mut [f32], g: &[f32], slots: Slots<'_>, f: F)
where
    F: for<'x> Fn(&'x mut [f32], &'x [f32], Slots<'x>) + Sync + Send,
{
    let n = p.len();
    if n == 0 {
        return;
    }
    let c = chunk_len(n);
    let k = n.div_ceil(c);
    let [a, b, d] = slots;
    let (a, b, d) = (split_opt(a, c, k), split_opt(b, c, k), split_opt(d, c, k));
    p.par_chunks_mut(c)
        .zip(g.par_chunks(c))
        .zip(a.into_par_iter().zip(b.into_par_iter()).zip(d.into_par_iter()))
        .for_each(|((p, g), ((a, b), d))| f(p, g, [a, b, d]));
}

fn check_slots(op: &str, p: usize, g: usize, slots: &[(&str, Option<usize>)]) -> Result<()> {
    let mut lens = vec![("parameter", p), ("gradient", g)];
    lens.extend(slots.iter().filter_map(|&(name, l)| l.map(|l| (name, l))));
    same_len(op, &lens)
}

fn check_step(op: &str, t: u64) -> Result<i32> {
    if t == 0 {
        return Err(Error::value(op, "step must be >= 1"));
    }
    Ok(t.min(i32::MAX as u64) as i32)
}

struct RmsConsts {
    lr: f32,
    rho: f32,
    one_rho: f32,
    momentum: f32,
    eps: f32,
    decay: f32,
}

/// One chunk of RMSprop, monomorphised per variant so that the loop has no per-element
/// branches on the configuration and vectorises (absent slots are empty and never read).
#[inline(always)]
fn rms_chunk<const CENTERED: bool, const MOMENTUM: bool>(
    p: &mut [f32],
    g: &[f32],
    v: &mut [f32],
    a: &mut [f32],
    mo: &mut [f32],
    k: &RmsConsts,
) {
    let n = p.len();
    let (g, v) = (&g[..n], &mut v[..n]);
    let a = if CENTERED { &mut a[..n] } else { a };
    let mo = if MOMENTUM { &mut mo[..n] } else { mo };
    let decay = k.decay;
    for i in 0..n {
        if decay != 0.0 {
            p[i] -= p[i] * decay;
        }
        let gi = g[i];
        let vi = k.rho * v[i] + k.one_rho * (gi * gi);
        v[i] = vi;
        let denom = if CENTERED {
            let ai = k.rho * a[i] + k.one_rho * gi;
            a[i] = ai;
            vi - ai * ai + k.eps
        } else {
            vi + k.eps
        };
        let inc = k.lr * gi / denom.sqrt();
        if MOMENTUM {
            let mi = k.momentum * mo[i] + inc;
            mo[i] = mi;
            p[i] -= mi;
        } else {
            p[i] -= inc;
        }
    }
}

/// Keras RMSprop. v = rho v + (1 - rho) g^2; centered: a = rho a + (1 - rho) g and
/// denom = v - a^2 + eps, else denom = v + eps; inc = lr g / sqrt(denom) (epsilon INSIDE
/// the root, unlike PyTorch's sqrt(v) + eps); with momentum (slot present):
/// mom = momentum mom + inc, p -= mom; else p -= inc.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop(
    p: &mut [f32],
    g: &[f32],
    velocity: &mut [f32],
    average_gradient: Option<&mut [f32]>,
    momentum_slot: Option<&mut [f32]>,
    lr: f32,
    rho: f64,
    momentum: f32,
    eps: f32,
    decay: f32,
) -> Result<()> {
    check_slots(
        "rmsprop_update",
        p.len(),
        g.len(),
        &[
            ("velocity", Some(velocity.len())),
            ("average gradient", average_gradient.as_ref().map(|a| a.len())),
            ("momentum", momentum_slot.as_ref().map(|a| a.len())),
        ],
    )?;
    let k = RmsConsts { lr, rho: rho as f32, one_rho: (1.0 - rho) as f32, momentum, eps, decay };
    par_update(p, g, [Some(velocity), average_gradient, momentum_slot], move |p, g, s| match s {
        [Some(v), None, None] => rms_chunk::<false, false>(p, g, v, &mut [], &mut [], &k),
        [Some(v), None, Some(mo)] => rms_chunk::<false, true>(p, g, v, &mut [], mo, &k),
        [Some(v), Some(a), None] => rms_chunk::<true, false>(p, g, v, a, &mut [], &k),
        [Some(v), Some(a), Some(mo)] => rms_chunk::<true, true>(p, g, v, a, mo, &k),
        _ => {}
    });
    Ok(())
}

/// Keras Adagrad: acc += g^2; p -= lr g / sqrt(acc + eps) (epsilon inside the root; the
/// accumulator starts at `initial_accumulator_value`, 0.1 by default).
pub fn adagrad(p: &mut [f32], g: &[f32], acc: &mut [f32], lr: f32, eps: f32, decay: f32) -> Result<()> {
    check_slots("adagrad_update", p.len(), g.len(), &[("accumulator", Some(acc.len()))])?;
    par_update(p, g, [Some(acc), None, None], move |p, g, s| {
        let [Some(a), _, _] = s else { return };
        let n = p.len();
        let (g, a) = (&g[..n], &mut a[..n]);
        for i in 0..n {
            if decay != 0.0 {
                p[i] -= p[i] * decay;
            }
            a[i] += g[i] * g[i];
            p[i] -= lr * g[i] / (a[i] + eps).sqrt();
        }
    });
    Ok(())
}

/// Keras Adadelta: Eg = rho Eg + (1 - rho) g^2; d = -sqrt(Ed + eps) g / sqrt(Eg + eps);
/// Ed = rho Ed + (1 - rho) d^2; p += lr d (epsilon inside both roots; Keras multiplies by
/// `learning_rate`, default 0.001, where the paper has none).
#[allow(clippy::too_many_arguments)]
pub fn adadelta(p: &mut [f32], g: &[f32], acc_grad: &mut [f32], acc_delta: &mut [f32], lr: f32, rho: f64, eps: f32, decay: f32) -> Result<()> {
    check_slots(
        "adadelta_update",
        p.len(),
        g.len(),
        &[("accumulated gradient", Some(acc_grad.len())), ("accumulated delta", Some(acc_delta.len()))],
    )?;
    let (rho, one_rho) = (rho as f32, (1.0 - rho) as f32);
    par_update(p, g, [Some(acc_grad), Some(acc_delta), None], move |p, g, s| {
        let [Some(eg), Some(ed), _] = s else { return };
        let n = p.len();
        let (g, eg, ed) = (&g[..n], &mut eg[..n], &mut ed[..n]);
        for i in 0..n {
            if decay != 0.0 {
                p[i] -= p[i] * decay;
            }
            let gi = g[i];
            let egi = rho * eg[i] + one_rho * (gi * gi);
            eg[i] = egi;
            let d = -((ed[i] + eps).sqrt() * gi) / (egi + eps).sqrt();
            ed[i] = rho * ed[i] + one_rho * (d * d);
            p[i] += lr * d;
        }
    });
    Ok(())
}

/// Keras Adamax at step `t`: m += (g - m)(1 - b1); u = max(b2 u, |g|);
/// p -= lr m / ((1 - b1^t)(u + eps)).
#[allow(clippy::too_many_arguments)]
pub fn adamax(p: &mut [f32], g: &[f32], m: &mut [f32], u: &mut [f32], lr: f32, b1: f64, b2: f64, eps: f32, t: u64, decay: f32) -> Result<()> {
    let op = "adamax_update";
    check_slots(op, p.len(), g.len(), &[("first moment", Some(m.len())), ("norm", Some(u.len()))])?;
    let t = check_step(op, t)?;
    let bc = (1.0 - b1.powi(t)) as f32;
    let (one_b1, b2) = ((1.0 - b1) as f32, b2 as f32);
    par_update(p, g, [Some(m), Some(u), None], move |p, g, s| {
        let [Some(m), Some(u), _] = s else { return };
        let n = p.len();
        let (g, m, u) = (&g[..n], &mut m[..n], &mut u[..n]);
        for i in 0..n {
            if decay != 0.0 {
                p[i] -= p[i] * decay;
            }
            let gi = g[i];
            m[i] += (gi - m[i]) * one_b1;
            u[i] = (b2 * u[i]).max(gi.abs());
            p[i] -= lr * m[i] / (bc * (u[i] + eps));
        }
    });
    Ok(())
}

/// The step-dependent Nadam coefficients (float64, host side):
/// u_t = b1 (1 - 0.5 * 0.96^t), u_{t+1} likewise, and with P_t = `u_product` (the product
/// of u_1..u_t, Keras's `_u_product` after this step's update)
/// returns (u_{t+1} / (1 - P_t u_{t+1}), (1 - u_t) / (1 - P_t), 1 / (1 - b2^t)).
pub fn nadam_coefficients(b1: f64, b2: f64, t: i32, u_product: f64) -> (f64, f64, f64) {
    let u_t = b1 * (1.0 - 0.5 * 0.96f64.powi(t));
    let u_t1 = b1 * (1.0 - 0.5 * 0.96f64.powi(t.saturating_add(1)));
    (u_t1 / (1.0 - u_product * u_t1), (1.0 - u_t) / (1.0 - u_product), 1.0 / (1.0 - b2.powi(t)))
}

/// Keras 3 Nadam at step `t` with momentum-cache product `u_product` = P_t (see
/// `nadam_coefficients`): m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2);
/// mhat = u_{t+1} m / (1 - P_t u_{t+1}) + (1 - u_t) g / (1 - P_t); vhat = v / (1 - b2^t);
/// p -= lr mhat / (sqrt(vhat) + eps). Keras 3 uses 0.96^t (Keras 2 / TF1 had 0.96^(0.004 t)).
#[allow(clippy::too_many_arguments)]
pub fn nadam(
    p: &mut [f32],
    g: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    lr: f32,
    b1: f64,
    b2: f64,
    eps: f32,
    t: u64,
    u_product: f64,
    decay: f32,
) -> Result<()> {
    let op = "nadam_update";
    check_slots(op, p.len(), g.len(), &[("first moment", Some(m.len())), ("second moment", Some(v.len()))])?;
    let t = check_step(op, t)?;
    let (c1, c2, c3) = nadam_coefficients(b1, b2, t, u_product);
    let (c1, c2, c3) = (c1 as f32, c2 as f32, c3 as f32);
    let (one_b1, one_b2) = ((1.0 - b1) as f32, (1.0 - b2) as f32);
    par_update(p, g, [Some(m), Some(v), None], move |p, g, s| {
        let [Some(m), Some(v), _] = s else { return };
        let n = p.len();
        let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
        for i in 0..n {
            if decay != 0.0 {
                p[i] -= p[i] * decay;
            }
            let gi = g[i];
            m[i] += (gi - m[i]) * one_b1;
            v[i] += (gi * gi - v[i]) * one_b2;
            let mhat = c1 * m[i] + c2 * gi;
            let vhat = v[i] * c3;
            p[i] -= lr * mhat / (vhat.sqrt() + eps);
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
        sgd(&mut p, &[1.0], Some(&mut v), 0.1, 0.9, false, 0.0).unwrap();
        sgd(&mut p, &[1.0], Some(&mut v), 0.1, 0.9, false, 0.0).unwrap();
        // v1 = -0.1, p1 = 0.9; v2 = -0.09 - 0.1 = -0.19, p2 = 0.71
        assert!((p[0] - 0.71).abs() < 1e-6);
    }

    #[test]
    fn adam_first_step_is_lr_sized() {
        let mut p = vec![0.0f32];
        let (mut m, mut v) = (vec![0.0f32], vec![0.0f32]);
        adam(&mut p, &[3.0], &mut m, &mut v, None, 0.001, 0.9, 0.999, 1e-7, 1, 0.0).unwrap();
        assert!((p[0] + 0.001).abs() < 1e-6);
    }
    #[test]
    fn decay_comes_first_and_zero_decay_keeps_infinities() {
        let mut p = vec![2.0f32, f32::INFINITY];
        sgd(&mut p, &[1.0, 0.0], None, 0.1, 0.0, false, 0.0).unwrap();
        assert_eq!(p, vec![1.9, f32::INFINITY]);
        let mut q = vec![2.0f32];
        sgd(&mut q, &[1.0], None, 0.1, 0.0, false, 0.5).unwrap();
        assert!((q[0] - (2.0 - 2.0 * 0.5 - 0.1)).abs() < 1e-6);
    }

    #[test]
    fn adagrad_one_step() {
        let mut p = vec![1.0f32];
        let mut acc = vec![0.1f32];
        adagrad(&mut p, &[0.3], &mut acc, 0.1, 0.0, 0.0).unwrap();
        assert!((acc[0] - 0.19).abs() < 1e-7);
        assert!((p[0] - (1.0 - 0.1 * 0.3 / 0.19f32.sqrt())).abs() < 1e-6);
    }

    #[test]
    fn rmsprop_variants_agree_on_a_large_buffer() {
        // Chunked (parallel) and single-element runs give the same values.
        let n = 100_000;
        let g: Vec<f32> = (0..n).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let mut p = vec![0.5f32; n];
        let (mut v, mut a, mut mo) = (vec![0.0f32; n], vec![0.0f32; n], vec![0.0f32; n]);
        rmsprop(&mut p, &g, &mut v, Some(&mut a), Some(&mut mo), 0.01, 0.9, 0.9, 1e-7, 0.01).unwrap();
        for i in [0usize, 1, 4096, n - 1] {
            let mut q = vec![0.5f32];
            let (mut v1, mut a1, mut m1) = (vec![0.0f32], vec![0.0f32], vec![0.0f32]);
            rmsprop(&mut q, &g[i..i + 1], &mut v1, Some(&mut a1), Some(&mut m1), 0.01, 0.9, 0.9, 1e-7, 0.01).unwrap();
            assert_eq!(q[0], p[i]);
        }
    }

    #[test]
    fn slot_length_mismatch_is_an_error() {
        let mut p = vec![0.0f32; 3];
        let (mut m, mut u) = (vec![0.0f32; 2], vec![0.0f32; 3]);
        assert!(adamax(&mut p, &[0.0; 3], &mut m, &mut u, 0.1, 0.9, 0.999, 1e-7, 1, 0.0).is_err());
        assert!(nadam(&mut p, &[0.0; 3], &mut u, &mut [0.0f32; 3], 0.1, 0.9, 0.999, 1e-7, 0, 0.5, 0.0).is_err());
    }
}

//! Elementwise unary ops and their backward passes: the arithmetic ones and the
//! activation catalogue (one name per op across the stack, as `UNARY_OPS` lists them).
//!
//! Numerically stable forms: `sigmoid` never evaluates `exp` of a positive number, so
//! it neither overflows nor loses the tail at |x| = 1000; `tanh` saturates exactly;
//! `softplus` is `max(x, 0) + log1p(exp(-|x|))`; `elu`/`selu` use `expm1`; `gelu` is
//! `x * Phi(x)` with `Phi` from a complementary error function accurate to about 1.2e-7
//! relative (so the left tail keeps its relative precision); `gelu_tanh` is written as
//! `x * sigmoid(2u)`, which equals `0.5 x (1 + tanh(u))` without the cancellation; mish
//! uses `tanh(softplus(x)) = n / (n + 2)`, `n = e^x (e^x + 2)`. The activations run on
//! branch-free f32 helpers (a Cephes-style `exp`, `expm1`, `log1p`, `erfc`) so their loops
//! vectorise; each is within a few ulp of the float64 value.
//!
//! Infinite inputs give the limits (`silu(-inf) = mish(-inf) = gelu(-inf) = 0`,
//! `softsign(+-inf) = +-1`), NaN propagates, and gradients at +-inf are the limits of
//! the derivative rather than `inf * 0`.

use crate::error::{Error, Result};
use crate::memory::alloc_f32;

use rayon::prelude::*;

use super::parallel::{chunk_len, MIN_PARALLEL};
use super::strided::{zip_map, zip_map3};

/// `zip_map` for the activations' larger bodies: `f` gets whole chunks and the loop inside
/// it (written by `each!`) calls the `#[inline(always)]` activation directly, so the body is
/// inlined into the loop and vectorised. Through `zip_map`'s per-element closure the
/// erfc-based gelu stayed behind one scalar call per element (3-4x slower).
fn map_chunks(out: &mut [f32], x: &[f32], f: impl Fn(&mut [f32], &[f32]) + Sync) {
    if out.len() < MIN_PARALLEL {
        f(out, x);
    } else {
        let c = chunk_len(out.len());
        out.par_chunks_mut(c).zip(x.par_chunks(c)).for_each(|(o, xi)| f(o, xi));
    }
}

/// `map_chunks` over `(x, gy)` for the backward passes.
fn map2_chunks(out: &mut [f32], x: &[f32], g: &[f32], f: impl Fn(&mut [f32], &[f32], &[f32]) + Sync) {
    if out.len() < MIN_PARALLEL {
        f(out, x, g);
    } else {
        let c = chunk_len(out.len());
        out.par_chunks_mut(c).zip(x.par_chunks(c)).zip(g.par_chunks(c)).for_each(|((o, xi), gi)| f(o, xi, gi));
    }
}

/// The chunk loop `o[i] = body(x[i])` (forward) or `o[i] = body(x[i], g[i])` (backward).
macro_rules! each {
    ($x:ident => $body:expr) => {
        move |o: &mut [f32], xs: &[f32]| {
            for (o, &$x) in o.iter_mut().zip(xs) {
                *o = $body;
            }
        }
    };
    ($x:ident, $g:ident => $body:expr) => {
        move |o: &mut [f32], xs: &[f32], gs: &[f32]| {
            for ((o, &$x), &$g) in o.iter_mut().zip(xs).zip(gs) {
                *o = $body;
            }
        }
    };
}

/// An elementwise op; the parametric ones carry their parameter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum UnaryOp {
    Neg,
    Abs,
    Exp,
    Log,
    Sqrt,
    Square,
    Relu,
    Sigmoid,
    Tanh,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// Keras 3: `relu6(x + 3) / 6`.
    HardSigmoid,
    /// Heaviside: 1 for x >= 0, else 0; the gradient is zero (Ember's own, for perceptrons).
    Step,
    /// `x > 0 ? x : negative_slope * x`.
    LeakyRelu(f32),
    /// `x > 0 ? x : alpha * expm1(x)`.
    Elu(f32),
    /// `scale * elu(x, alpha)` with the self-normalising constants.
    Selu,
    /// Exact: `x * Phi(x)`.
    Gelu,
    /// Tanh approximation: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.
    GeluTanh,
    /// `x * sigmoid(x)` (swish).
    Silu,
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x * tanh(softplus(x))`.
    Mish,
    /// `ln(1 + x)`, precise near 0.
    Log1p,
    /// `exp(x) - 1`, precise near 0.
    Expm1,
    /// The error function.
    Erf,
    /// `1 / sqrt(x)`.
    Rsqrt,
    /// Rounding ops (zero gradient): floor, ceil, round half to even (numpy), sign.
    Floor,
    Ceil,
    Round,
    Sign,
}

pub const UNARY_OPS: &[&str] = &[
    "neg", "abs", "exp", "log", "sqrt", "square", "relu", "sigmoid", "tanh", "relu6", "hard_sigmoid", "step",
    "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus", "softsign", "mish", "log1p", "expm1", "erf",
    "rsqrt", "floor", "ceil", "round", "sign",
];

/// Keras' default slope of `keras.activations.leaky_relu` / `keras.ops.leaky_relu`.
pub const LEAKY_RELU_DEFAULT_SLOPE: f32 = 0.2;
/// Keras' default `alpha` of `elu`.
pub const ELU_DEFAULT_ALPHA: f32 = 1.0;
pub const SELU_ALPHA: f32 = 1.673_263_2;
pub const SELU_SCALE: f32 = 1.050_701;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_TANH_COEF: f32 = 0.044_715;
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

impl UnaryOp {
    /// The op called `name` with its default parameter.
    pub fn parse(name: &str) -> Result<Self> {
        Self::parse_with(name, None)
    }

    /// The op called `name`; `alpha` is the parameter of the parametric ops (leaky_relu's
    /// negative slope, elu's alpha), `None` for their Keras default. Other ops take none.
    pub fn parse_with(name: &str, alpha: Option<f32>) -> Result<Self> {
        let op = match name {
            "neg" => Self::Neg,
            "abs" => Self::Abs,
            "exp" => Self::Exp,
            "log" => Self::Log,
            "sqrt" => Self::Sqrt,
            "square" => Self::Square,
            "relu" => Self::Relu,
            "sigmoid" => Self::Sigmoid,
            "tanh" => Self::Tanh,
            "relu6" => Self::Relu6,
            "hard_sigmoid" => Self::HardSigmoid,
            "step" => Self::Step,
            "leaky_relu" => Self::LeakyRelu(alpha.unwrap_or(LEAKY_RELU_DEFAULT_SLOPE)),
            "elu" => Self::Elu(alpha.unwrap_or(ELU_DEFAULT_ALPHA)),
            "selu" => Self::Selu,
            "gelu" => Self::Gelu,
            "gelu_tanh" => Self::GeluTanh,
            "silu" => Self::Silu,
            "softplus" => Self::Softplus,
            "softsign" => Self::Softsign,
            "mish" => Self::Mish,
            "log1p" => Self::Log1p,
            "expm1" => Self::Expm1,
            "erf" => Self::Erf,
            "rsqrt" => Self::Rsqrt,
            "floor" => Self::Floor,
            "ceil" => Self::Ceil,
            "round" => Self::Round,
            "sign" => Self::Sign,
            _ => {
                return Err(Error::value(
                    "unary",
                    format!("unknown unary op '{name}'; valid ops: {}", UNARY_OPS.join(", ")),
                ))
            }
        };
        if let Some(a) = alpha {
            if !matches!(op, Self::LeakyRelu(_) | Self::Elu(_)) {
                return Err(Error::value("unary", format!("op '{name}' takes no parameter, got alpha={a}")));
            }
            if !a.is_finite() {
                return Err(Error::value("unary", format!("{name}: alpha must be finite, got {a}")));
            }
        }
        Ok(op)
    }
}

#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

// ---- Branch-free f32 math ---------------------------------------------------------------------
// The activations below are built from these helpers rather than libm calls so that the
// loops over a slice vectorise on the baseline x86-64 target (selects become blends).

/// Adding 1.5 * 2^23 rounds an f32 of magnitude < 2^22 to an integer.
const ROUND_MAGIC: f32 = 12_582_912.0;
const EXP_LO: f32 = -87.336_55; // below: the result is subnormal; 0 is returned
const EXP_HI: f32 = 88.722_83; // above: inf

/// `exp(x)` to about 1 ulp: Cephes' `expf` (x = n ln2 + r with ln2 in two parts, a degree-5
/// polynomial in r), 2^n applied in two halves so it never leaves the normal range.
#[inline(always)]
fn exp_f(x: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let xc = x.clamp(EXP_LO, EXP_HI); // NaN gives garbage here, replaced by NaN below
    let t = xc * std::f32::consts::LOG2_E + ROUND_MAGIC;
    let n = t - ROUND_MAGIC;
    let ni = t.to_bits() as i32 - ROUND_MAGIC.to_bits() as i32;
    let r = (xc - n * LN2_HI) - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 0.166_666_65) * r
        + 0.5;
    let y = p * (r * r) + r + 1.0;
    let n1 = ni >> 1;
    let n2 = ni - n1;
    let v = y * f32::from_bits(((n1 + 127) as u32) << 23) * f32::from_bits(((n2 + 127) as u32) << 23);
    let v = if x < EXP_LO { 0.0 } else { v };
    let v = if x > EXP_HI { f32::INFINITY } else { v };
    if x.is_nan() {
        x
    } else {
        v
    }
}

/// `exp(x) - 1` with relative precision near 0 (Taylor to x^8 below |x| = 0.5).
#[inline(always)]
fn expm1_f(x: f32) -> f32 {
    let taylor = x
        * (1.0
            + x * (0.5
                + x * (1.0 / 6.0
                    + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 + x * (1.0 / 5040.0 + x * (1.0 / 40320.0))))))));
    if x.abs() < 0.5 {
        taylor
    } else {
        exp_f(x) - 1.0
    }
}

/// `ln(1 + t)` for t in [0, 1]: u = 1 + t reduced to [sqrt(1/2), sqrt(2)], the series of
/// 2 atanh(s), plus the first-order correction for the rounding of 1 + t.
#[inline(always)]
fn log1p_unit(t: f32) -> f32 {
    let u = 1.0 + t;
    let c = (t - (u - 1.0)) / u;
    let big = u > std::f32::consts::SQRT_2;
    let m = if big { u * 0.5 } else { u };
    let e = if big { std::f32::consts::LN_2 } else { 0.0 };
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 2.0 * s * (1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0)))));
    e + series + c
}

/// erfc(z) for 0 <= z <= 10: the Chebyshev fit `erfcc` of Numerical Recipes (relative error
/// below 1.2e-7; the WGSL prelude uses the same one). The rounding of `z*z` adds up to
/// 1e-6 relative error for z <= 4 and 4e-6 at z = 10, where erfc is below 1e-44; splitting
/// it exactly (as the shader does with fma) costs a second exp and the loop's vectorisation.
#[inline(always)]
fn erfc_f(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07 + t * (-1.135_204 + t * (1.488_515_9 + t * (-0.822_152_2 + t * 0.170_872_77))))))));
    t * exp_f(p - z * z)
}

/// The standard normal CDF, accurate in both tails (no `1 + erf` cancellation).
#[inline(always)]
fn normal_cdf(x: f32) -> f32 {
    let z = x.abs() * std::f32::consts::FRAC_1_SQRT_2;
    let c = 0.5 * erfc_f(if z > 10.0 { 10.0 } else { z });
    if x >= 0.0 {
        1.0 - c
    } else {
        c
    }
}

#[inline(always)]
pub fn relu6(v: f32) -> f32 {
    if v.is_nan() {
        v
    } else {
        v.clamp(0.0, 6.0)
    }
}

#[inline(always)]
pub fn hard_sigmoid(v: f32) -> f32 {
    relu6(v + 3.0) / 6.0
}

#[inline(always)]
pub fn step(v: f32) -> f32 {
    if v.is_nan() {
        v
    } else if v >= 0.0 {
        1.0
    } else {
        0.0
    }
}

#[inline(always)]
pub fn leaky_relu(v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        slope * v
    }
}

#[inline(always)]
pub fn elu(v: f32, alpha: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        alpha * expm1_f(v)
    }
}

#[inline(always)]
pub fn selu(v: f32) -> f32 {
    SELU_SCALE * if v > 0.0 { v } else { SELU_ALPHA * expm1_f(v) }
}

#[inline(always)]
pub fn gelu(v: f32) -> f32 {
    let y = v * normal_cdf(v);
    if v == f32::NEG_INFINITY {
        -0.0
    } else {
        y
    }
}

/// `0.5 x (1 + tanh(u))` computed as `x * sigmoid(2u)`.
#[inline(always)]
pub fn gelu_tanh(v: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (v + GELU_TANH_COEF * v * v * v);
    let y = v / (1.0 + exp_f(-2.0 * u));
    if v == f32::NEG_INFINITY {
        -0.0
    } else {
        y
    }
}

#[inline(always)]
pub fn silu(v: f32) -> f32 {
    let y = v / (1.0 + exp_f(-v));
    if v == f32::NEG_INFINITY {
        -0.0
    } else {
        y
    }
}

#[inline(always)]
pub fn softplus(v: f32) -> f32 {
    v.max(0.0) + log1p_unit(exp_f(-v.abs()))
}

#[inline(always)]
pub fn softsign(v: f32) -> f32 {
    if v.is_infinite() {
        v.signum()
    } else {
        v / (1.0 + v.abs())
    }
}

/// `tanh(softplus(x)) = n / (n + 2)` with `n = e^x (e^x + 2)`: no cancellation anywhere.
#[inline(always)]
pub fn mish(v: f32) -> f32 {
    let e = exp_f(v);
    let n = e * (e + 2.0);
    let y = v * (n / (n + 2.0));
    if v > 20.0 {
        v
    } else if v < -88.0 {
        -0.0
    } else {
        y
    }
}

/// `d/dx gelu(x) = Phi(x) + x phi(x)`.
#[inline(always)]
fn d_gelu(v: f32) -> f32 {
    let d = normal_cdf(v) + v * FRAC_1_SQRT_2PI * exp_f(-0.5 * v * v);
    if v > 20.0 {
        1.0
    } else if v < -20.0 {
        0.0
    } else {
        d
    }
}

/// With `u = sqrt(2/pi) (x + c x^3)`, `s = sigmoid(2u)` and `1 - s = e s` (e = exp(-2u)):
/// `s + 2 x s (1 - s) u'`.
#[inline(always)]
fn d_gelu_tanh(v: f32) -> f32 {
    let u = SQRT_2_OVER_PI * (v + GELU_TANH_COEF * v * v * v);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * v * v);
    let e = exp_f(-2.0 * u);
    let s = 1.0 / (1.0 + e);
    let d = s + 2.0 * v * s * (e * s) * du;
    // Past |x| = 10 the slope is its limit in f32 (and e * s would read inf * 0).
    if v > 10.0 {
        1.0
    } else if v < -10.0 {
        0.0
    } else {
        d
    }
}

/// `s (1 + x (1 - s))` with `1 - s = e s`, e = exp(-x).
#[inline(always)]
fn d_silu(v: f32) -> f32 {
    let e = exp_f(-v);
    let s = 1.0 / (1.0 + e);
    let d = s * (1.0 + v * (e * s));
    if v > 88.0 {
        1.0
    } else if v < -88.0 {
        0.0
    } else {
        d
    }
}

/// `tanh(sp) + x sigmoid(x) sech^2(sp)` with `sp = softplus(x)`; in terms of `e = e^x` and
/// `n = e (e + 2)`: `tanh(sp) = n / (n + 2)`, `sech^2(sp) = 4 (n + 1) / (n + 2)^2`.
#[inline(always)]
fn d_mish(v: f32) -> f32 {
    let e = exp_f(v);
    let n = e * (e + 2.0);
    let s = e / (1.0 + e);
    let d = n / (n + 2.0) + v * s * (4.0 * (n + 1.0) / ((n + 2.0) * (n + 2.0)));
    if v > 20.0 {
        1.0
    } else if v < -88.0 {
        0.0
    } else {
        d
    }
}

/// The error function: an odd Taylor series below |x| = 0.5 (relative error < 3e-8, so
/// erf keeps its relative precision near 0), `1 - erfc(|x|)` above.
#[inline(always)]
pub fn erf_f(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let a = x.abs();
    if a < 0.5 {
        let z = x * x;
        let s = 1.0 + z * (-1.0 / 3.0 + z * (1.0 / 10.0 + z * (-1.0 / 42.0 + z * (1.0 / 216.0 + z * (-1.0 / 1320.0)))));
        return std::f32::consts::FRAC_2_SQRT_PI * x * s;
    }
    let r = if a > 10.0 { 1.0 } else { 1.0 - erfc_f(a) };
    if x < 0.0 {
        -r
    } else {
        r
    }
}

#[inline(always)]
fn sign_f(v: f32) -> f32 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v // 0, -0 and NaN stay themselves (numpy)
    }
}

#[inline(always)]
fn d_selu(v: f32) -> f32 {
    // JAX / Keras 3: selu = scale * elu(x, alpha) with elu's `x > 0` branch strict, so
    // selu'(0) = scale * alpha.
    if v <= 0.0 {
        SELU_SCALE * SELU_ALPHA * exp_f(v)
    } else {
        SELU_SCALE
    }
}

#[inline(always)]
fn d_softsign(v: f32) -> f32 {
    let d = 1.0 + v.abs();
    1.0 / (d * d)
}

/// `y = op(x)`.
pub fn forward(op: UnaryOp, x: &[f32]) -> Result<Vec<f32>> {
    let mut y = alloc_f32(x.len())?;
    forward_into(op, x, &mut y);
    Ok(y)
}

pub fn forward_into(op: UnaryOp, x: &[f32], y: &mut [f32]) {
    match op {
        UnaryOp::Neg => zip_map(y, x, |v| -v),
        UnaryOp::Abs => zip_map(y, x, f32::abs),
        UnaryOp::Exp => zip_map(y, x, f32::exp),
        UnaryOp::Log => zip_map(y, x, f32::ln),
        UnaryOp::Sqrt => zip_map(y, x, f32::sqrt),
        UnaryOp::Square => zip_map(y, x, |v| v * v),
        // `v > 0 ? v : 0` rather than `max`, so NaN propagates as in numpy/PyTorch.
        UnaryOp::Relu => zip_map(y, x, |v| if v > 0.0 || v.is_nan() { v } else { 0.0 }),
        UnaryOp::Sigmoid => zip_map(y, x, sigmoid),
        UnaryOp::Tanh => zip_map(y, x, f32::tanh),
        UnaryOp::Relu6 => map_chunks(y, x, each!(v => relu6(v))),
        UnaryOp::HardSigmoid => map_chunks(y, x, each!(v => hard_sigmoid(v))),
        UnaryOp::Step => map_chunks(y, x, each!(v => step(v))),
        UnaryOp::LeakyRelu(a) => map_chunks(y, x, each!(v => leaky_relu(v, a))),
        UnaryOp::Elu(a) => map_chunks(y, x, each!(v => elu(v, a))),
        UnaryOp::Selu => map_chunks(y, x, each!(v => selu(v))),
        UnaryOp::Gelu => map_chunks(y, x, each!(v => gelu(v))),
        UnaryOp::GeluTanh => map_chunks(y, x, each!(v => gelu_tanh(v))),
        UnaryOp::Silu => map_chunks(y, x, each!(v => silu(v))),
        UnaryOp::Softplus => map_chunks(y, x, each!(v => softplus(v))),
        UnaryOp::Softsign => map_chunks(y, x, each!(v => softsign(v))),
        UnaryOp::Mish => map_chunks(y, x, each!(v => mish(v))),
        UnaryOp::Log1p => zip_map(y, x, f32::ln_1p),
        UnaryOp::Expm1 => zip_map(y, x, f32::exp_m1),
        UnaryOp::Erf => zip_map(y, x, erf_f),
        UnaryOp::Rsqrt => zip_map(y, x, |v| 1.0 / v.sqrt()),
        UnaryOp::Floor => zip_map(y, x, f32::floor),
        UnaryOp::Ceil => zip_map(y, x, f32::ceil),
        UnaryOp::Round => zip_map(y, x, f32::round_ties_even),
        UnaryOp::Sign => zip_map(y, x, sign_f),
    }
}

/// `dx = dy * op'(x)`, using whichever of `x` and `y = op(x)` is cheaper and stabler.
/// At kinks the derivative follows Keras 3 on JAX (relu'(0) = 0, abs'(0) = 0,
/// relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = 1 (jnp.where(x >= 0, ...)), elu'(0) = alpha,
/// selu'(0) = scale * alpha);
/// step has a zero gradient everywhere.
pub fn backward(op: UnaryOp, x: &[f32], y: &[f32], gy: &[f32]) -> Result<Vec<f32>> {
    let mut gx = alloc_f32(x.len())?;
    match op {
        UnaryOp::Neg => zip_map3(&mut gx, x, y, gy, |_, _, g| -g),
        UnaryOp::Abs => zip_map3(&mut gx, x, y, gy, |x, _, g| {
            if x > 0.0 {
                g
            } else if x < 0.0 {
                -g
            } else {
                0.0
            }
        }),
        UnaryOp::Exp => zip_map3(&mut gx, x, y, gy, |_, y, g| g * y),
        UnaryOp::Log => zip_map3(&mut gx, x, y, gy, |x, _, g| g / x),
        UnaryOp::Sqrt => zip_map3(&mut gx, x, y, gy, |_, y, g| g * 0.5 / y),
        UnaryOp::Square => zip_map3(&mut gx, x, y, gy, |x, _, g| 2.0 * x * g),
        UnaryOp::Relu => zip_map3(&mut gx, x, y, gy, |x, _, g| if x > 0.0 { g } else { 0.0 }),
        UnaryOp::Sigmoid => zip_map3(&mut gx, x, y, gy, |_, y, g| g * y * (1.0 - y)),
        UnaryOp::Tanh => zip_map3(&mut gx, x, y, gy, |_, y, g| g * (1.0 - y * y)),
        UnaryOp::Relu6 => map2_chunks(&mut gx, x, gy, each!(x, g => if x > 0.0 && x < 6.0 { g } else { 0.0 })),
        UnaryOp::HardSigmoid => map2_chunks(&mut gx, x, gy, each!(x, g => {
            let z = x + 3.0;
            if z > 0.0 && z < 6.0 {
                g / 6.0
            } else {
                0.0
            }
        })),
        UnaryOp::Step => gx.fill(0.0),
        UnaryOp::LeakyRelu(a) => map2_chunks(&mut gx, x, gy, each!(x, g => if x >= 0.0 { g } else { a * g })),
        UnaryOp::Elu(a) => map2_chunks(&mut gx, x, gy, each!(x, g => if x > 0.0 { g } else { g * a * exp_f(x) })),
        UnaryOp::Selu => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_selu(x))),
        UnaryOp::Gelu => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_gelu(x))),
        UnaryOp::GeluTanh => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_gelu_tanh(x))),
        UnaryOp::Silu => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_silu(x))),
        UnaryOp::Softplus => map2_chunks(&mut gx, x, gy, each!(x, g => g / (1.0 + exp_f(-x)))),
        UnaryOp::Softsign => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_softsign(x))),
        UnaryOp::Mish => map2_chunks(&mut gx, x, gy, each!(x, g => g * d_mish(x))),
        UnaryOp::Log1p => zip_map3(&mut gx, x, y, gy, |x, _, g| g / (1.0 + x)),
        UnaryOp::Expm1 => zip_map3(&mut gx, x, y, gy, |_, y, g| g * (y + 1.0)),
        UnaryOp::Erf => zip_map3(&mut gx, x, y, gy, |x, _, g| g * std::f32::consts::FRAC_2_SQRT_PI * (-x * x).exp()),
        UnaryOp::Rsqrt => zip_map3(&mut gx, x, y, gy, |_, y, g| -0.5 * g * y * y * y),
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Sign => gx.fill(0.0),
    }
    Ok(gx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_extremes() {
        let y = forward(UnaryOp::Sigmoid, &[-1000.0, 1000.0, 0.0]).unwrap();
        assert_eq!(y, vec![0.0, 1.0, 0.5]);
        let t = forward(UnaryOp::Tanh, &[-1000.0, 1000.0]).unwrap();
        assert_eq!(t, vec![-1.0, 1.0]);
    }

    #[test]
    fn unknown_op_lists_valid_ones() {
        let e = UnaryOp::parse("sine").unwrap_err();
        assert!(e.message.contains("relu"));
    }

    #[test]
    fn relu_backward_is_zero_at_kink() {
        let g = backward(UnaryOp::Relu, &[-1.0, 0.0, 2.0], &[0.0, 0.0, 2.0], &[1.0, 1.0, 1.0]).unwrap();
        assert_eq!(g, vec![0.0, 0.0, 1.0]);
        // Keras 3 / JAX at 0: leaky_relu' = 1, elu' = alpha, selu' = scale * alpha.
        assert_eq!(backward(UnaryOp::LeakyRelu(0.2), &[0.0], &[0.0], &[1.0]).unwrap(), vec![1.0]);
        assert_eq!(backward(UnaryOp::Elu(0.5), &[0.0], &[0.0], &[1.0]).unwrap(), vec![0.5]);
        assert_eq!(backward(UnaryOp::Selu, &[0.0], &[0.0], &[1.0]).unwrap(), vec![SELU_SCALE * SELU_ALPHA]);
    }

    #[test]
    fn erf_is_precise_near_zero_and_saturates() {
        for (x, want) in [(1e-6f32, 1.128_379_167_095_512_6e-6f64), (0.3, 0.328_626_759_459_127_4), (1.0, 0.842_700_792_949_714_9), (-2.0, -0.995_322_265_018_952_7)] {
            assert!((erf_f(x) as f64 / want - 1.0).abs() < 1e-6, "erf({x}) = {}", erf_f(x));
        }
        assert_eq!(erf_f(f32::INFINITY), 1.0);
        assert_eq!(forward(UnaryOp::Round, &[0.5, 1.5, -2.5]).unwrap(), vec![0.0, 2.0, -2.0]);
    }

    #[test]
    fn every_listed_op_parses() {
        for name in UNARY_OPS {
            assert!(UnaryOp::parse(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn alpha_only_for_parametric_ops() {
        assert_eq!(UnaryOp::parse_with("leaky_relu", None).unwrap(), UnaryOp::LeakyRelu(0.2));
        assert_eq!(UnaryOp::parse_with("elu", Some(0.5)).unwrap(), UnaryOp::Elu(0.5));
        assert!(UnaryOp::parse_with("relu", Some(0.5)).unwrap_err().message.contains("no parameter"));
        assert!(UnaryOp::parse_with("elu", Some(f32::NAN)).is_err());
    }

    #[test]
    fn erfc_matches_known_values() {
        // erfc(0.5), erfc(1), erfc(3) to 16 digits.
        for (z, want) in [(0.5f32, 0.479_500_122_186_953_5f64), (1.0, 0.157_299_207_050_285_13), (3.0, 2.209_049_699_858_544e-5)] {
            assert!((erfc_f(z) as f64 / want - 1.0).abs() < 5e-7, "erfc({z})");
        }
    }

    #[test]
    fn exp_is_accurate_and_saturates() {
        for i in -870..=887 {
            let x = i as f32 * 0.1;
            let want = (x as f64).exp();
            assert!((exp_f(x) as f64 / want - 1.0).abs() < 3e-7, "exp({x}) = {} vs {want}", exp_f(x));
        }
        assert_eq!(exp_f(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp_f(-100.0), 0.0);
        assert_eq!(exp_f(f32::INFINITY), f32::INFINITY);
        assert_eq!(exp_f(100.0), f32::INFINITY);
        assert!(exp_f(f32::NAN).is_nan());
        assert_eq!(exp_f(0.0), 1.0);
    }

    #[test]
    fn infinite_inputs_give_limits() {
        let x = [f32::NEG_INFINITY, f32::INFINITY];
        assert_eq!(forward(UnaryOp::Silu, &x).unwrap(), vec![0.0, f32::INFINITY]);
        assert_eq!(forward(UnaryOp::Mish, &x).unwrap(), vec![0.0, f32::INFINITY]);
        assert_eq!(forward(UnaryOp::Gelu, &x).unwrap(), vec![0.0, f32::INFINITY]);
        assert_eq!(forward(UnaryOp::Softsign, &x).unwrap(), vec![-1.0, 1.0]);
        assert_eq!(forward(UnaryOp::Softplus, &x).unwrap(), vec![0.0, f32::INFINITY]);
        let g = backward(UnaryOp::Mish, &x, &x, &[1.0, 1.0]).unwrap();
        assert_eq!(g, vec![0.0, 1.0]);
    }
}

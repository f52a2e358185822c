//! Elementwise unary ops and their backward passes: the arithmetic ones and the
//! activation catalogue (one name per op across the stack, as `UNARY_OPS` lists them).
//!
//! Numerically stable forms: `sigmoid` never evaluates `exp` of a positive number, so
//! it neither overflows nor loses the tail at |x| = 1000; `tanh` saturates exactly;
//! `softplus` is `max(x, 0) + log1p(exp(-|x|))`; `elu`/`selu` use `expm1`; `gelu` is
//! `x * Phi(x)` with `Phi` from a complementary error function accurate to about 1.2e-7
//! relative (so the left tail keeps its relative precision); `gelu_tanh` is written as
//! `x * sigmoid(2u)`, which equals `0.5 x (1 + tanh(u))` without the cancellation.
//! Smooth activations are evaluated in f64 and rounded once.
//!
//! Infinite inputs give the limits (`silu(-inf) = mish(-inf) = gelu(-inf) = 0`,
//! `softsign(+-inf) = +-1`), NaN propagates, and gradients at +-inf are the limits of
//! the derivative rather than `inf * 0`.

use crate::error::{Error, Result};
use crate::memory::alloc_f32;

use super::strided::{zip_map, zip_map3};

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
}

pub const UNARY_OPS: &[&str] = &[
    "neg", "abs", "exp", "log", "sqrt", "square", "relu", "sigmoid", "tanh", "relu6", "hard_sigmoid", "step",
    "leaky_relu", "elu", "selu", "gelu", "gelu_tanh", "silu", "softplus", "softsign", "mish",
];

/// Keras' default slope of `keras.activations.leaky_relu` / `keras.ops.leaky_relu`.
pub const LEAKY_RELU_DEFAULT_SLOPE: f32 = 0.2;
/// Keras' default `alpha` of `elu`.
pub const ELU_DEFAULT_ALPHA: f32 = 1.0;
pub const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
pub const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
const GELU_TANH_COEF: f64 = 0.044_715;
const FRAC_1_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

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

#[inline]
fn sigmoid64(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// erfc(z) for z >= 0 with relative error below 1.2e-7 (the Chebyshev fit of Numerical
/// Recipes, `erfcc`); the WGSL prelude uses the same formula.
#[inline]
fn erfc_pos(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let p = -1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    t * (-z * z + p).exp()
}

/// The standard normal CDF, accurate in both tails (no `1 + erf` cancellation).
#[inline]
fn normal_cdf(x: f64) -> f64 {
    let c = 0.5 * erfc_pos(x.abs() * std::f64::consts::FRAC_1_SQRT_2);
    if x >= 0.0 {
        1.0 - c
    } else {
        c
    }
}

#[inline]
fn softplus64(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[inline]
pub fn relu6(v: f32) -> f32 {
    if v.is_nan() {
        v
    } else {
        v.clamp(0.0, 6.0)
    }
}

#[inline]
pub fn hard_sigmoid(v: f32) -> f32 {
    relu6(v + 3.0) / 6.0
}

#[inline]
pub fn step(v: f32) -> f32 {
    if v.is_nan() {
        v
    } else if v >= 0.0 {
        1.0
    } else {
        0.0
    }
}

#[inline]
pub fn leaky_relu(v: f32, slope: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        slope * v
    }
}

#[inline]
pub fn elu(v: f32, alpha: f32) -> f32 {
    if v > 0.0 {
        v
    } else {
        alpha * v.exp_m1()
    }
}

#[inline]
pub fn selu(v: f32) -> f32 {
    let x = v as f64;
    (SELU_SCALE * if x > 0.0 { x } else { SELU_ALPHA * x.exp_m1() }) as f32
}

#[inline]
pub fn gelu(v: f32) -> f32 {
    if v == f32::NEG_INFINITY {
        return -0.0;
    }
    let x = v as f64;
    (x * normal_cdf(x)) as f32
}

#[inline]
pub fn gelu_tanh(v: f32) -> f32 {
    if v == f32::NEG_INFINITY {
        return -0.0;
    }
    let x = v as f64;
    let u = SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
    (x * sigmoid64(2.0 * u)) as f32
}

#[inline]
pub fn silu(v: f32) -> f32 {
    if v == f32::NEG_INFINITY {
        return -0.0;
    }
    let x = v as f64;
    (x * sigmoid64(x)) as f32
}

#[inline]
pub fn softplus(v: f32) -> f32 {
    if v.is_nan() {
        v
    } else {
        softplus64(v as f64) as f32
    }
}

#[inline]
pub fn softsign(v: f32) -> f32 {
    if v.is_infinite() {
        v.signum()
    } else {
        v / (1.0 + v.abs())
    }
}

#[inline]
pub fn mish(v: f32) -> f32 {
    if v == f32::NEG_INFINITY {
        return -0.0;
    }
    if v.is_nan() {
        return v;
    }
    let x = v as f64;
    (x * softplus64(x).tanh()) as f32
}

/// `d/dx gelu(x) = Phi(x) + x phi(x)`.
#[inline]
fn d_gelu(v: f32) -> f32 {
    if v.is_infinite() {
        return if v > 0.0 { 1.0 } else { 0.0 };
    }
    let x = v as f64;
    (normal_cdf(x) + x * FRAC_1_SQRT_2PI * (-0.5 * x * x).exp()) as f32
}

/// With `u = sqrt(2/pi) (x + c x^3)` and `s = sigmoid(2u)`: `s + 2 x s (1 - s) u'`.
#[inline]
fn d_gelu_tanh(v: f32) -> f32 {
    if v.is_infinite() {
        return if v > 0.0 { 1.0 } else { 0.0 };
    }
    let x = v as f64;
    let u = SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
    let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_TANH_COEF * x * x);
    (sigmoid64(2.0 * u) + 2.0 * x * sigmoid64(2.0 * u) * sigmoid64(-2.0 * u) * du) as f32
}

/// `s (1 + x (1 - s))` with `1 - s = sigmoid(-x)`.
#[inline]
fn d_silu(v: f32) -> f32 {
    if v.is_infinite() {
        return if v > 0.0 { 1.0 } else { 0.0 };
    }
    let x = v as f64;
    (sigmoid64(x) * (1.0 + x * sigmoid64(-x))) as f32
}

/// `tanh(sp) + x sigmoid(x) sech^2(sp)` with `sp = softplus(x)`; `sech^2` written as
/// `4e / (1 + e)^2`, `e = exp(-2 sp)`, so it keeps its precision where `tanh` is near 1.
#[inline]
fn d_mish(v: f32) -> f32 {
    if v.is_infinite() {
        return if v > 0.0 { 1.0 } else { 0.0 };
    }
    let x = v as f64;
    let sp = softplus64(x);
    let e = (-2.0 * sp).exp();
    let sech2 = 4.0 * e / ((1.0 + e) * (1.0 + e));
    (sp.tanh() + x * sigmoid64(x) * sech2) as f32
}

#[inline]
fn d_selu(v: f32) -> f32 {
    // TensorFlow's SeluGrad: the `x < 0` branch is strict, so selu'(0) = scale.
    let x = v as f64;
    (if x < 0.0 { SELU_SCALE * SELU_ALPHA * x.exp() } else { SELU_SCALE }) as f32
}

#[inline]
fn d_softsign(v: f32) -> f32 {
    let d = 1.0 + (v as f64).abs();
    (1.0 / (d * d)) as f32
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
        UnaryOp::Relu6 => zip_map(y, x, relu6),
        UnaryOp::HardSigmoid => zip_map(y, x, hard_sigmoid),
        UnaryOp::Step => zip_map(y, x, step),
        UnaryOp::LeakyRelu(a) => zip_map(y, x, |v| leaky_relu(v, a)),
        UnaryOp::Elu(a) => zip_map(y, x, |v| elu(v, a)),
        UnaryOp::Selu => zip_map(y, x, selu),
        UnaryOp::Gelu => zip_map(y, x, gelu),
        UnaryOp::GeluTanh => zip_map(y, x, gelu_tanh),
        UnaryOp::Silu => zip_map(y, x, silu),
        UnaryOp::Softplus => zip_map(y, x, softplus),
        UnaryOp::Softsign => zip_map(y, x, softsign),
        UnaryOp::Mish => zip_map(y, x, mish),
    }
}

/// `dx = dy * op'(x)`, using whichever of `x` and `y = op(x)` is cheaper and stabler.
/// At kinks the derivative follows TensorFlow (relu'(0) = 0, abs'(0) = 0,
/// relu6'(0) = relu6'(6) = 0, leaky_relu'(0) = slope, elu'(0) = alpha, selu'(0) = scale);
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
        UnaryOp::Relu6 => zip_map3(&mut gx, x, y, gy, |x, _, g| if x > 0.0 && x < 6.0 { g } else { 0.0 }),
        UnaryOp::HardSigmoid => zip_map3(&mut gx, x, y, gy, |x, _, g| {
            let z = x + 3.0;
            if z > 0.0 && z < 6.0 {
                g / 6.0
            } else {
                0.0
            }
        }),
        UnaryOp::Step => zip_map3(&mut gx, x, y, gy, |_, _, _| 0.0),
        UnaryOp::LeakyRelu(a) => zip_map3(&mut gx, x, y, gy, |x, _, g| if x > 0.0 { g } else { a * g }),
        UnaryOp::Elu(a) => zip_map3(&mut gx, x, y, gy, |x, _, g| if x > 0.0 { g } else { g * a * x.exp() }),
        UnaryOp::Selu => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_selu(x)),
        UnaryOp::Gelu => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_gelu(x)),
        UnaryOp::GeluTanh => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_gelu_tanh(x)),
        UnaryOp::Silu => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_silu(x)),
        UnaryOp::Softplus => zip_map3(&mut gx, x, y, gy, |x, _, g| g * sigmoid(x)),
        UnaryOp::Softsign => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_softsign(x)),
        UnaryOp::Mish => zip_map3(&mut gx, x, y, gy, |x, _, g| g * d_mish(x)),
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
        for (z, want) in [(0.5, 0.479_500_122_186_953_5), (1.0, 0.157_299_207_050_285_13), (3.0, 2.209_049_699_858_544e-5)] {
            assert!((erfc_pos(z) / want - 1.0).abs() < 1.3e-7, "erfc({z})");
        }
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

//! Elementwise unary ops and their backward passes.
//!
//! Numerically stable forms: `sigmoid` never evaluates `exp` of a positive number, so
//! it neither overflows nor loses the tail at |x| = 1000; `tanh` saturates exactly.

use crate::error::{Error, Result};
use crate::memory::alloc_f32;

use super::strided::{zip_map, zip_map3};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
}

pub const UNARY_OPS: &[&str] = &["neg", "abs", "exp", "log", "sqrt", "square", "relu", "sigmoid", "tanh"];

impl UnaryOp {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "neg" => Self::Neg,
            "abs" => Self::Abs,
            "exp" => Self::Exp,
            "log" => Self::Log,
            "sqrt" => Self::Sqrt,
            "square" => Self::Square,
            "relu" => Self::Relu,
            "sigmoid" => Self::Sigmoid,
            "tanh" => Self::Tanh,
            _ => {
                return Err(Error::value(
                    "unary",
                    format!("unknown unary op '{name}'; valid ops: {}", UNARY_OPS.join(", ")),
                ))
            }
        })
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
    }
}

/// `dx = dy * op'(x)`, using whichever of `x` and `y = op(x)` is cheaper and stabler.
/// At kinks the derivative follows TensorFlow (relu'(0) = 0, abs'(0) = 0).
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
}

//! Elementwise binary ops with numpy broadcasting, and their backward passes, which sum
//! each operand's gradient over the axes it was broadcast along.

use crate::error::{fmt_shape, Error, Result};
use crate::memory::alloc_f32;

use super::reduce::sum_to_shape;
use super::shape::{broadcast_shapes, broadcast_strides, collapse, numel, strides_of};
use super::strided::walk;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Maximum,
    Minimum,
    Equal,
    NotEqual,
    Less,
    LessEqual,
    Greater,
    GreaterEqual,
}

pub const BINARY_OPS: &[&str] = &[
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "equal", "not_equal", "less", "less_equal",
    "greater", "greater_equal",
];

impl BinaryOp {
    pub fn parse(name: &str) -> Result<Self> {
        Ok(match name {
            "add" => Self::Add,
            "sub" => Self::Sub,
            "mul" => Self::Mul,
            "div" => Self::Div,
            "pow" => Self::Pow,
            "maximum" => Self::Maximum,
            "minimum" => Self::Minimum,
            "equal" => Self::Equal,
            "not_equal" => Self::NotEqual,
            "less" => Self::Less,
            "less_equal" => Self::LessEqual,
            "greater" => Self::Greater,
            "greater_equal" => Self::GreaterEqual,
            _ => {
                return Err(Error::value(
                    "binary",
                    format!("unknown binary op '{name}'; valid ops: {}", BINARY_OPS.join(", ")),
                ))
            }
        })
    }

    /// Comparisons have zero gradient everywhere.
    pub fn is_comparison(self) -> bool {
        !matches!(self, Self::Add | Self::Sub | Self::Mul | Self::Div | Self::Pow | Self::Maximum | Self::Minimum)
    }
}

#[inline]
fn b2f(b: bool) -> f32 {
    if b {
        1.0
    } else {
        0.0
    }
}

/// Runs `f` over the broadcast of `a` and `b`, writing a contiguous output of `out_shape`.
fn broadcast_map(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    out_shape: &[usize],
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> Result<Vec<f32>> {
    let n = numel(out_shape);
    let mut out = alloc_f32(n)?;
    if n == 0 {
        return Ok(out);
    }
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let (cs, st) = collapse(out_shape, &[sa, sb]);
    let (sa, sb) = (&st[0], &st[1]);
    let (ia, ib) = (sa[sa.len() - 1], sb[sb.len() - 1]);
    walk(&mut out, &cs, [sa.as_slice(), sb.as_slice()], |row, [oa, ob]| {
        let len = row.len();
        // Specialised inner loops for the common stride patterns (vectorisable).
        match (ia, ib) {
            (1, 1) => {
                for ((o, &x), &y) in row.iter_mut().zip(&a[oa..oa + len]).zip(&b[ob..ob + len]) {
                    *o = f(x, y);
                }
            }
            (1, 0) => {
                let y = b[ob];
                for (o, &x) in row.iter_mut().zip(&a[oa..oa + len]) {
                    *o = f(x, y);
                }
            }
            (0, 1) => {
                let x = a[oa];
                for (o, &y) in row.iter_mut().zip(&b[ob..ob + len]) {
                    *o = f(x, y);
                }
            }
            _ => {
                for (j, o) in row.iter_mut().enumerate() {
                    *o = f(a[oa + j * ia], b[ob + j * ib]);
                }
            }
        }
    });
    Ok(out)
}

/// `op(a, b)` broadcast; returns the result and its shape. Comparisons give 1.0 / 0.0.
pub fn forward(op: BinaryOp, a: &[f32], a_shape: &[usize], b: &[f32], b_shape: &[usize]) -> Result<(Vec<f32>, Vec<usize>)> {
    let name = op_name(op);
    let out_shape = broadcast_shapes(name, a_shape, b_shape)?;
    let out = match op {
        BinaryOp::Add => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| x + y),
        BinaryOp::Sub => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| x - y),
        BinaryOp::Mul => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| x * y),
        BinaryOp::Div => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| x / y),
        BinaryOp::Pow => broadcast_map(a, a_shape, b, b_shape, &out_shape, f32::powf),
        // NaN-propagating like numpy's maximum/minimum.
        BinaryOp::Maximum => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| {
            if x.is_nan() || x >= y {
                x
            } else {
                y
            }
        }),
        BinaryOp::Minimum => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| {
            if x.is_nan() || x <= y {
                x
            } else {
                y
            }
        }),
        BinaryOp::Equal => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x == y)),
        BinaryOp::NotEqual => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x != y)),
        BinaryOp::Less => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x < y)),
        BinaryOp::LessEqual => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x <= y)),
        BinaryOp::Greater => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x > y)),
        BinaryOp::GreaterEqual => broadcast_map(a, a_shape, b, b_shape, &out_shape, |x, y| b2f(x >= y)),
    }?;
    Ok((out, out_shape))
}

pub fn op_name(op: BinaryOp) -> &'static str {
    BINARY_OPS[op as usize]
}

/// A gradient over the output shape, from `f(a, b, gy)` evaluated at broadcast positions.
fn grad_map(
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    gy: &[f32],
    out_shape: &[usize],
    f: impl Fn(f32, f32, f32) -> f32 + Sync,
) -> Result<Vec<f32>> {
    let n = numel(out_shape);
    let mut out = alloc_f32(n)?;
    if n == 0 {
        return Ok(out);
    }
    let sa = broadcast_strides(a_shape, out_shape);
    let sb = broadcast_strides(b_shape, out_shape);
    let sg = strides_of(out_shape);
    let (cs, st) = collapse(out_shape, &[sa, sb, sg]);
    let (ia, ib) = (st[0][st[0].len() - 1], st[1][st[1].len() - 1]);
    walk(&mut out, &cs, [st[0].as_slice(), st[1].as_slice(), st[2].as_slice()], |row, [oa, ob, og]| {
        for (j, o) in row.iter_mut().enumerate() {
            *o = f(a[oa + j * ia], b[ob + j * ib], gy[og + j]);
        }
    });
    Ok(out)
}

/// Gradients of `op(a, b)` with respect to `a` and `b`, each reduced to its operand's
/// shape. `need` says which to compute. Ties in maximum/minimum send the whole gradient
/// to `a`, as TensorFlow does.
#[allow(clippy::too_many_arguments)]
pub fn backward(
    op: BinaryOp,
    a: &[f32],
    a_shape: &[usize],
    b: &[f32],
    b_shape: &[usize],
    gy: &[f32],
    need: (bool, bool),
) -> Result<(Option<Vec<f32>>, Option<Vec<f32>>)> {
    let name = op_name(op);
    let out_shape = broadcast_shapes(name, a_shape, b_shape)?;
    if gy.len() != numel(&out_shape) {
        return Err(Error::shape(
            name,
            format!(
                "upstream gradient holds {} values but the broadcast output of shapes {} and {} is {}",
                gy.len(),
                fmt_shape(a_shape),
                fmt_shape(b_shape),
                fmt_shape(&out_shape)
            ),
        ));
    }
    let ga_full = |f: &(dyn Fn(f32, f32, f32) -> f32 + Sync)| grad_map(a, a_shape, b, b_shape, gy, &out_shape, f);
    let (fa, fb): (Box<dyn Fn(f32, f32, f32) -> f32 + Sync>, Box<dyn Fn(f32, f32, f32) -> f32 + Sync>) = match op {
        BinaryOp::Add => (Box::new(|_, _, g| g), Box::new(|_, _, g| g)),
        BinaryOp::Sub => (Box::new(|_, _, g| g), Box::new(|_, _, g| -g)),
        BinaryOp::Mul => (Box::new(|_, y, g| g * y), Box::new(|x, _, g| g * x)),
        BinaryOp::Div => (Box::new(|_, y, g| g / y), Box::new(|x, y, g| -g * x / (y * y))),
        BinaryOp::Pow => (
            Box::new(|x, y, g| if y == 0.0 { 0.0 } else { g * y * x.powf(y - 1.0) }),
            // d/dy x^y = x^y ln x; defined as 0 at x == 0 (PyTorch's convention).
            Box::new(|x, y, g| if x == 0.0 { 0.0 } else { g * x.powf(y) * x.ln() }),
        ),
        BinaryOp::Maximum => (
            Box::new(|x, y, g| if x >= y { g } else { 0.0 }),
            Box::new(|x, y, g| if x >= y { 0.0 } else { g }),
        ),
        BinaryOp::Minimum => (
            Box::new(|x, y, g| if x <= y { g } else { 0.0 }),
            Box::new(|x, y, g| if x <= y { 0.0 } else { g }),
        ),
        _ => (Box::new(|_, _, _| 0.0), Box::new(|_, _, _| 0.0)),
    };
    let ga = if need.0 { Some(sum_to_shape(&ga_full(&*fa)?, &out_shape, a_shape)?) } else { None };
    let gb = if need.1 { Some(sum_to_shape(&ga_full(&*fb)?, &out_shape, b_shape)?) } else { None };
    Ok((ga, gb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_broadcasts_rows_and_columns() {
        let (y, s) = forward(BinaryOp::Add, &[1.0, 2.0], &[2, 1], &[10.0, 20.0, 30.0], &[3]).unwrap();
        assert_eq!(s, vec![2, 3]);
        assert_eq!(y, vec![11.0, 21.0, 31.0, 12.0, 22.0, 32.0]);
    }

    #[test]
    fn backward_reduces_over_broadcast_axes() {
        let (ga, gb) =
            backward(BinaryOp::Mul, &[1.0, 2.0], &[2, 1], &[10.0, 20.0, 30.0], &[3], &[1.0; 6], (true, true)).unwrap();
        assert_eq!(ga.unwrap(), vec![60.0, 60.0]);
        assert_eq!(gb.unwrap(), vec![3.0, 3.0, 3.0]);
    }
}

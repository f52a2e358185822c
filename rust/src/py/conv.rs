//! Bindings of the convolution and pooling kernels (kernels/conv.rs, kernels/pool.rs).
//!
//! Window arguments arrive as Python sequences of signed ints, so that a negative stride
//! or padding is an `InvalidArgumentError` from the kernel's checks rather than an
//! `OverflowError` from the conversion.

use pyo3::prelude::*;

use super::{as_f32, as_i32, f32buf, read, run, CpuBuffer};
use crate::error::{Error, Result};
use crate::kernels::conv::{self, ConvGeometry};
use crate::kernels::pool::{self, PoolGeometry};

fn pair(op: &str, what: &str, v: &[i64]) -> Result<[i64; 2]> {
    match v {
        [a, b] => Ok([*a, *b]),
        _ => Err(Error::value(op, format!("{what} must have 2 values, got {}", v.len()))),
    }
}

fn pads2(op: &str, v: &[Vec<i64>]) -> Result<[[i64; 2]; 2]> {
    match v {
        [a, b] => Ok([pair(op, "a padding pair", a)?, pair(op, "a padding pair", b)?]),
        _ => Err(Error::value(op, format!("paddings must be ((top, bottom), (left, right)), got {} pairs", v.len()))),
    }
}

#[allow(clippy::too_many_arguments)]
fn geometry(op: &str, x_shape: &[usize], w_shape: &[usize], strides: &[i64], pads: &[Vec<i64>], dilation: &[i64], groups: i64) -> Result<ConvGeometry> {
    ConvGeometry::new(op, x_shape, w_shape, pair(op, "strides", strides)?, pads2(op, pads)?, pair(op, "dilation", dilation)?, groups)
}

/// `act(conv2d(x, w) + b)`; returns (y, (N, OH, OW, O)).
#[pyfunction]
#[pyo3(signature = (x, x_shape, w, w_shape, b, strides, pads, dilation, groups, activation))]
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d(
    py: Python<'_>,
    x: &CpuBuffer,
    x_shape: Vec<usize>,
    w: &CpuBuffer,
    w_shape: Vec<usize>,
    b: Option<&CpuBuffer>,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
    dilation: Vec<i64>,
    groups: i64,
    activation: &str,
) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let op = "conv2d";
    let act = conv::parse_activation(op, activation)?;
    let g = geometry(op, &x_shape, &w_shape, &strides, &pads, &dilation, groups)?;
    let (x, w, b) = (x.shared(), w.shared(), b.map(|b| b.shared()));
    run(py, g.macs(), move || {
        let (xg, wg) = (read(&x), read(&w));
        let bg = b.as_ref().map(read);
        let bs = match &bg {
            Some(s) => Some(as_f32(op, "bias", s)?),
            None => None,
        };
        let y = conv::conv2d(as_f32(op, "input", &xg)?, as_f32(op, "kernel", &wg)?, bs, &g, act)?;
        Ok((f32buf(y), g.out_shape().to_vec()))
    })
}

/// `(gx or None, gw, gb)` of `conv2d` given its output `y` and output gradient `gy`.
#[pyfunction]
#[pyo3(signature = (x, x_shape, w, w_shape, y, gy, strides, pads, dilation, groups, activation, need_gx))]
#[allow(clippy::too_many_arguments)]
pub(super) fn conv2d_backward(
    py: Python<'_>,
    x: &CpuBuffer,
    x_shape: Vec<usize>,
    w: &CpuBuffer,
    w_shape: Vec<usize>,
    y: &CpuBuffer,
    gy: &CpuBuffer,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
    dilation: Vec<i64>,
    groups: i64,
    activation: &str,
    need_gx: bool,
) -> PyResult<(Option<CpuBuffer>, CpuBuffer, CpuBuffer)> {
    let op = "conv2d_backward";
    let act = conv::parse_activation(op, activation)?;
    let g = geometry(op, &x_shape, &w_shape, &strides, &pads, &dilation, groups)?;
    let (x, w, y, gy) = (x.shared(), w.shared(), y.shared(), gy.shared());
    run(py, g.macs() * 3, move || {
        let (xg, wg, yg, gg) = (read(&x), read(&w), read(&y), read(&gy));
        let (gx, gw, gb) = conv::conv2d_backward(
            as_f32(op, "input", &xg)?,
            as_f32(op, "kernel", &wg)?,
            as_f32(op, "output", &yg)?,
            as_f32(op, "gradient", &gg)?,
            &g,
            act,
            need_gx,
        )?;
        Ok((gx.map(f32buf), f32buf(gw), f32buf(gb)))
    })
}

fn pool_geometry(op: &str, x_shape: &[usize], pool_size: &[i64], strides: &[i64], pads: &[Vec<i64>]) -> Result<PoolGeometry> {
    PoolGeometry::new(op, x_shape, pair(op, "pool_size", pool_size)?, pair(op, "strides", strides)?, pads2(op, pads)?)
}

/// Returns (y, (N, OH, OW, C), int32 argmax or None).
#[pyfunction]
#[pyo3(signature = (x, x_shape, pool_size, strides, pads, need_argmax=false))]
pub(super) fn max_pool2d(
    py: Python<'_>,
    x: &CpuBuffer,
    x_shape: Vec<usize>,
    pool_size: Vec<i64>,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
    need_argmax: bool,
) -> PyResult<(CpuBuffer, Vec<usize>, Option<CpuBuffer>)> {
    let op = "max_pool2d";
    let g = pool_geometry(op, &x_shape, &pool_size, &strides, &pads)?;
    let x = x.shared();
    run(py, g.work(), move || {
        let (y, am) = pool::max_pool2d(as_f32(op, "input", &read(&x))?, &g, need_argmax)?;
        Ok((f32buf(y), g.out_shape().to_vec(), am.map(CpuBuffer::i32)))
    })
}

#[pyfunction]
pub(super) fn max_pool2d_backward(
    py: Python<'_>,
    argmax: &CpuBuffer,
    gy: &CpuBuffer,
    x_shape: Vec<usize>,
    pool_size: Vec<i64>,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
) -> PyResult<CpuBuffer> {
    let op = "max_pool2d_backward";
    let g = pool_geometry(op, &x_shape, &pool_size, &strides, &pads)?;
    let (am, gy) = (argmax.shared(), gy.shared());
    run(py, g.work(), move || {
        let (ag, gg) = (read(&am), read(&gy));
        Ok(f32buf(pool::max_pool2d_backward(as_i32(op, "argmax", &ag)?, as_f32(op, "gradient", &gg)?, &g)?))
    })
}

#[pyfunction]
pub(super) fn average_pool2d(
    py: Python<'_>,
    x: &CpuBuffer,
    x_shape: Vec<usize>,
    pool_size: Vec<i64>,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let op = "average_pool2d";
    let g = pool_geometry(op, &x_shape, &pool_size, &strides, &pads)?;
    let x = x.shared();
    run(py, g.work(), move || {
        let y = pool::average_pool2d(as_f32(op, "input", &read(&x))?, &g)?;
        Ok((f32buf(y), g.out_shape().to_vec()))
    })
}

#[pyfunction]
pub(super) fn average_pool2d_backward(
    py: Python<'_>,
    gy: &CpuBuffer,
    x_shape: Vec<usize>,
    pool_size: Vec<i64>,
    strides: Vec<i64>,
    pads: Vec<Vec<i64>>,
) -> PyResult<CpuBuffer> {
    let op = "average_pool2d_backward";
    let g = pool_geometry(op, &x_shape, &pool_size, &strides, &pads)?;
    let gy = gy.shared();
    run(py, g.work(), move || Ok(f32buf(pool::average_pool2d_backward(as_f32(op, "gradient", &read(&gy))?, &g)?)))
}

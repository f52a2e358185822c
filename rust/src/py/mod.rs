//! The only Rust module that imports pyo3: `ember._core`.
//!
//! Every function here is thin: take shared references to the operands' storage, release
//! the GIL, run the kernel (on Ember's thread pool when the work is large enough to pay
//! for the hand-off, inline otherwise), and map errors through `From<Error> for PyErr`.

mod buffer;
mod conv;
mod errors;
mod plan;
mod rnn;

use pyo3::prelude::*;

use crate::error::{Error, Result};
use crate::kernels::binary::{self, BinaryOp};
use crate::kernels::index::{self, Addressing, IndexDim};
use crate::kernels::layout;
use crate::kernels::matmul::{matmul as gemm_kernel, MatmulSpec};
use crate::kernels::nn::{self, DenseActivation, Labels};
use crate::kernels::normalization as norm;
use crate::kernels::optim;
use crate::kernels::parallel::{self, MIN_PARALLEL};
use crate::kernels::random as rng;
use crate::kernels::reduce::{self, ReduceOp, Reduced};
use crate::kernels::scan::{self, ScanOp};
use crate::kernels::shape::{broadcast_shapes, check_len, fmt_shape_pub, numel};
use crate::kernels::unary::{self, UnaryOp};
use crate::memory::Storage;

pub use buffer::CpuBuffer;
use buffer::{as_f32, as_i32, read, write, Shared};

/// Releases the GIL and runs `f`; work of at least `MIN_PARALLEL` element-operations goes
/// to Ember's pool (FTZ/DAZ workers), smaller work runs inline because handing a job to
/// another thread costs microseconds.
///
/// While a step is traced (`plan.rs`), the closure is also kept, with the buffers it
/// returned, to be replayed by the step's plan: it must be callable again (`Fn`) and own
/// what it captures.
fn run<T: plan::Outputs + Send + 'static>(py: Python<'_>, work: usize, f: impl Fn() -> Result<T> + Send + Sync + 'static) -> PyResult<T> {
    let r = py.detach(|| if work < MIN_PARALLEL { f() } else { parallel::run(&f).and_then(|r| r) });
    let r = r.map_err(PyErr::from)?;
    plan::record(work, f, &r);
    Ok(r)
}

fn f32buf(v: Vec<f32>) -> CpuBuffer {
    CpuBuffer::f32(v)
}

/// `alpha` is the parameter of the parametric ops (leaky_relu's slope, elu's alpha);
/// None gives their Keras default, and other ops take none.
#[pyfunction]
#[pyo3(signature = (op, x, alpha=None))]
fn unary_op(py: Python<'_>, op: &str, x: &CpuBuffer, alpha: Option<f32>) -> PyResult<CpuBuffer> {
    let op = UnaryOp::parse_with(op, alpha)?;
    let x = x.shared();
    let n = read(&x).len();
    run(py, n, move || Ok(f32buf(unary::forward(op, as_f32("unary", "input", &read(&x))?)?)))
}

#[pyfunction]
#[pyo3(signature = (op, x, y, gy, alpha=None))]
fn unary_backward(py: Python<'_>, op: &str, x: &CpuBuffer, y: &CpuBuffer, gy: &CpuBuffer, alpha: Option<f32>) -> PyResult<CpuBuffer> {
    let op = UnaryOp::parse_with(op, alpha)?;
    let (x, y, gy) = (x.shared(), y.shared(), gy.shared());
    let n = read(&x).len();
    run(py, n, move || {
        let (xg, yg, gg) = (read(&x), read(&y), read(&gy));
        let (xs, ys, gs) = (as_f32("unary_backward", "x", &xg)?, as_f32("unary_backward", "y", &yg)?, as_f32("unary_backward", "gradient", &gg)?);
        if xs.len() != ys.len() || xs.len() != gs.len() {
            return Err(Error::shape("unary_backward", "x, y and the gradient differ in size"));
        }
        Ok(f32buf(unary::backward(op, xs, ys, gs)?))
    })
}

#[pyfunction]
fn binary_op(py: Python<'_>, op: &str, a: &CpuBuffer, a_shape: Vec<usize>, b: &CpuBuffer, b_shape: Vec<usize>) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let op = BinaryOp::parse(op)?;
    let (a, b) = (a.shared(), b.shared());
    let name = binary::op_name(op);
    let work = numel(&broadcast_shapes(name, &a_shape, &b_shape)?);
    run(py, work, move || {
        let (ag, bg) = (read(&a), read(&b));
        let (av, bv) = (as_f32(name, "left operand", &ag)?, as_f32(name, "right operand", &bg)?);
        check_len(name, "left operand", av.len(), &a_shape)?;
        check_len(name, "right operand", bv.len(), &b_shape)?;
        let (out, shape) = binary::forward(op, av, &a_shape, bv, &b_shape)?;
        Ok((f32buf(out), shape))
    })
}

#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn binary_backward(
    py: Python<'_>,
    op: &str,
    a: &CpuBuffer,
    a_shape: Vec<usize>,
    b: &CpuBuffer,
    b_shape: Vec<usize>,
    gy: &CpuBuffer,
    need_a: bool,
    need_b: bool,
) -> PyResult<(Option<CpuBuffer>, Option<CpuBuffer>)> {
    let op = BinaryOp::parse(op)?;
    let (a, b, gy) = (a.shared(), b.shared(), gy.shared());
    let work = read(&gy).len();
    run(py, work, move || {
        let name = binary::op_name(op);
        let (ag, bg, gg) = (read(&a), read(&b), read(&gy));
        let (av, bv, gv) = (as_f32(name, "a", &ag)?, as_f32(name, "b", &bg)?, as_f32(name, "gradient", &gg)?);
        check_len(name, "left operand", av.len(), &a_shape)?;
        check_len(name, "right operand", bv.len(), &b_shape)?;
        let (ga, gb) = binary::backward(op, av, &a_shape, bv, &b_shape, gv, (need_a, need_b))?;
        Ok((ga.map(f32buf), gb.map(f32buf)))
    })
}

/// Returns (buffer, shape); argmax/argmin give int32 buffers.
#[pyfunction]
#[pyo3(signature = (op, x, shape, axes, keepdims))]
fn reduce_op(py: Python<'_>, op: &str, x: &CpuBuffer, shape: Vec<usize>, axes: Option<Vec<i64>>, keepdims: bool) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let op = ReduceOp::parse(op)?;
    let x = x.shared();
    let work = numel(&shape);
    run(py, work, move || {
        let g = read(&x);
        let (r, s) = reduce::reduce(op, as_f32(op.name(), "input", &g)?, &shape, axes.as_deref(), keepdims)?;
        Ok((
            match r {
                Reduced::F32(v) => CpuBuffer::f32(v),
                Reduced::I32(v) => CpuBuffer::i32(v),
            },
            s,
        ))
    })
}

#[pyfunction]
fn sum_to_shape(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, target: Vec<usize>) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape), move || {
        let g = read(&x);
        let v = as_f32("sum_to_shape", "input", &g)?;
        check_len("sum_to_shape", "input", v.len(), &shape)?;
        Ok(f32buf(reduce::sum_to_shape(v, &shape, &target)?))
    })
}

#[pyfunction]
fn broadcast_to(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, out_shape: Vec<usize>) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&out_shape), move || Ok(f32buf(layout::broadcast_to(as_f32("broadcast_to", "input", &read(&x))?, &shape, &out_shape)?)))
}

#[pyfunction]
fn transpose(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, perm: Vec<usize>) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape), move || Ok(f32buf(layout::transpose(as_f32("transpose", "input", &read(&x))?, &shape, &perm)?)))
}

/// Gathers rows (axis 0) of a buffer viewed as (n, row_len); works for both dtypes.
#[pyfunction]
fn take_rows(py: Python<'_>, x: &CpuBuffer, row_len: usize, indices: Vec<i64>) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, indices.len() * row_len, move || {
        Ok(match &*read(&x) {
            Storage::F32(v) => CpuBuffer::f32(layout::take_rows_f32(v, row_len, &indices)?),
            Storage::I32(v) => CpuBuffer::i32(layout::take_rows_i32(v, row_len, &indices)?),
        })
    })
}

#[pyfunction]
fn scatter_add_rows(py: Python<'_>, g: &CpuBuffer, row_len: usize, indices: Vec<i64>, n_rows: usize) -> PyResult<CpuBuffer> {
    let g = g.shared();
    run(py, indices.len() * row_len, move || {
        Ok(f32buf(layout::scatter_add_rows(as_f32("take_backward", "gradient", &read(&g))?, row_len, &indices, n_rows)?))
    })
}

#[pyfunction]
fn cast(py: Python<'_>, x: &CpuBuffer, dtype: &str) -> PyResult<CpuBuffer> {
    let x = x.shared();
    let dtype = dtype.to_string();
    let n = read(&x).len();
    run(py, n, move || {
        Ok(match (&*read(&x), dtype.as_str()) {
            (Storage::F32(v), "int32") => CpuBuffer::i32(layout::f32_to_i32(v)?),
            (Storage::I32(v), "float32") => CpuBuffer::f32(layout::i32_to_f32(v)?),
            (Storage::F32(v), "float32") => CpuBuffer::f32(v.clone()),
            (Storage::I32(v), "int32") => CpuBuffer::i32(v.clone()),
            (_, other) => return Err(Error::dtype("cast", format!("unsupported dtype '{other}'; supported: float32, int32"))),
        })
    })
}

#[pyfunction]
fn one_hot(py: Python<'_>, labels: &CpuBuffer, depth: usize) -> PyResult<CpuBuffer> {
    let l = labels.shared();
    let n = read(&l).len() * depth;
    run(py, n, move || Ok(f32buf(layout::one_hot(as_i32("one_hot", "labels", &read(&l))?, depth)?)))
}

// ---- views, gathers and scatters (kernels/index.rs) -------------------------------------------

fn addressing(shape: Vec<usize>, strides: Vec<i64>, offset: i64, index_strides: Vec<i64>, index_dims: Vec<(i64, usize)>) -> Addressing {
    Addressing { shape, strides, offset, idx_strides: index_strides, dims: index_dims.into_iter().map(|(stride, size)| IndexDim { stride, size }).collect() }
}

/// A contiguous copy of the view (shape, strides, offset) of `x`; both dtypes.
#[pyfunction]
fn strided_copy(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, strides: Vec<i64>, offset: i64) -> PyResult<CpuBuffer> {
    let x = x.shared();
    let ad = Addressing::view(&shape, &strides, offset);
    run(py, numel(&shape), move || {
        Ok(match &*read(&x) {
            Storage::F32(v) => CpuBuffer::f32(index::gather("strided_copy", v, &ad, &[], crate::memory::alloc_f32)?),
            Storage::I32(v) => CpuBuffer::i32(index::gather("strided_copy", v, &ad, &[], crate::memory::alloc_i32)?),
        })
    })
}

/// In place: the view (shape, strides, offset) of `dst` takes the values of `src`.
#[pyfunction]
fn strided_write(py: Python<'_>, dst: &CpuBuffer, src: &CpuBuffer, shape: Vec<usize>, strides: Vec<i64>, offset: i64) -> PyResult<()> {
    let (d, s) = (dst.shared(), src.shared());
    if std::sync::Arc::ptr_eq(&d, &s) {
        return Err(Error::value("strided_write", "source and destination must be distinct buffers").into());
    }
    let ad = Addressing::view(&shape, &strides, offset);
    run(py, numel(&shape), move || {
        let sg = read(&s);
        let mut dg = write(&d);
        match (&mut *dg, &*sg) {
            (Storage::F32(dv), Storage::F32(sv)) => index::strided_write("strided_write", dv, sv, &ad),
            (Storage::I32(dv), Storage::I32(sv)) => index::strided_write("strided_write", dv, sv, &ad),
            _ => Err(Error::dtype("strided_write", "source and destination dtypes differ")),
        }
    })
}

/// Gather through a view plus integer index arrays (numpy advanced indexing); both dtypes.
#[pyfunction]
#[pyo3(signature = (x, shape, strides, offset, indices, index_strides, index_dims, op="gather"))]
#[allow(clippy::too_many_arguments)]
fn gather(
    py: Python<'_>,
    x: &CpuBuffer,
    shape: Vec<usize>,
    strides: Vec<i64>,
    offset: i64,
    indices: &CpuBuffer,
    index_strides: Vec<i64>,
    index_dims: Vec<(i64, usize)>,
    op: &str,
) -> PyResult<CpuBuffer> {
    let (x, ib) = (x.shared(), indices.shared());
    let op = op.to_string();
    let work = numel(&shape);
    let ad = addressing(shape, strides, offset, index_strides, index_dims);
    run(py, work, move || {
        let ig = read(&ib);
        let idx = as_i32(&op, "indices", &ig)?;
        Ok(match &*read(&x) {
            Storage::F32(v) => CpuBuffer::f32(index::gather(&op, v, &ad, idx, crate::memory::alloc_f32)?),
            Storage::I32(v) => CpuBuffer::i32(index::gather(&op, v, &ad, idx, crate::memory::alloc_i32)?),
        })
    })
}

/// The adjoint of `gather` / `strided_copy`: `n` zeros, then `g` added at the addressed
/// positions (repeats accumulate).
#[pyfunction]
#[pyo3(signature = (g, n, shape, strides, offset, indices=None, index_strides=Vec::new(), index_dims=Vec::new(), op="scatter_add"))]
#[allow(clippy::too_many_arguments)]
fn scatter_add(
    py: Python<'_>,
    g: &CpuBuffer,
    n: usize,
    shape: Vec<usize>,
    strides: Vec<i64>,
    offset: i64,
    indices: Option<&CpuBuffer>,
    index_strides: Vec<i64>,
    index_dims: Vec<(i64, usize)>,
    op: &str,
) -> PyResult<CpuBuffer> {
    let (g, ib) = (g.shared(), indices.map(|b| b.shared()));
    let op = op.to_string();
    let work = numel(&shape);
    if ib.is_none() && !index_dims.is_empty() {
        return Err(Error::value(&op, "index_dims given without indices").into());
    }
    let ad = addressing(shape, strides, offset, index_strides, index_dims);
    run(py, work, move || {
        let ig = ib.as_ref().map(read);
        let idx: &[i32] = match ig.as_deref() {
            Some(s) => as_i32(&op, "indices", s)?,
            None => &[],
        };
        Ok(f32buf(index::scatter_add(&op, as_f32(&op, "gradient", &read(&g))?, n, &ad, idx)?))
    })
}

/// numpy.where(cond, x, y) with broadcasting (float32 operands; cond nonzero = true).
#[pyfunction]
#[pyo3(name = "where")]
fn where_op(py: Python<'_>, cond: &CpuBuffer, c_shape: Vec<usize>, x: &CpuBuffer, x_shape: Vec<usize>, y: &CpuBuffer, y_shape: Vec<usize>) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let (c, x, y) = (cond.shared(), x.shared(), y.shared());
    let work = numel(&x_shape).max(numel(&y_shape)).max(numel(&c_shape));
    run(py, work, move || {
        let (cg, xg, yg) = (read(&c), read(&x), read(&y));
        let (o, s) = index::r#where(as_f32("where", "condition", &cg)?, &c_shape, as_f32("where", "x", &xg)?, &x_shape, as_f32("where", "y", &yg)?, &y_shape)?;
        Ok((f32buf(o), s))
    })
}

#[pyfunction]
#[pyo3(signature = (x, shape, axis, reverse=false))]
fn cumsum(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, axis: i64, reverse: bool) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape), move || Ok(f32buf(scan::cumulative(ScanOp::Sum, as_f32("cumsum", "input", &read(&x))?, &shape, axis, reverse)?)))
}

#[pyfunction]
#[pyo3(signature = (x, shape, axis, reverse=false))]
fn cumprod(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, axis: i64, reverse: bool) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape), move || Ok(f32buf(scan::cumulative(ScanOp::Prod, as_f32("cumprod", "input", &read(&x))?, &shape, axis, reverse)?)))
}

/// Stable argsort along `axis` (int32); NaN last ascending, first descending.
#[pyfunction]
#[pyo3(signature = (x, shape, axis, descending=false))]
fn argsort(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, axis: i64, descending: bool) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape) * 8, move || Ok(CpuBuffer::i32(scan::argsort(as_f32("argsort", "input", &read(&x))?, &shape, axis, descending)?)))
}

#[pyfunction]
fn all_finite(py: Python<'_>, x: &CpuBuffer) -> PyResult<bool> {
    let x = x.shared();
    py.detach(|| match &*read(&x) {
        Storage::F32(v) => Ok(v.iter().all(|f| f.is_finite())),
        Storage::I32(_) => Ok(true),
    })
}

/// Batched matmul with numpy broadcasting of the batch dims. `a_shape` is (..., m, k)
/// (or (..., k, m) when trans_a) and `b_shape` (..., k, n) (or (..., n, k) when trans_b);
/// rank-1 operands are not accepted here (ops.matmul reshapes them as numpy does).
#[pyfunction]
fn matmul(py: Python<'_>, a: &CpuBuffer, a_shape: Vec<usize>, b: &CpuBuffer, b_shape: Vec<usize>, trans_a: bool, trans_b: bool) -> PyResult<(CpuBuffer, Vec<usize>)> {
    let op = "matmul";
    if a_shape.len() < 2 || b_shape.len() < 2 {
        return Err(Error::shape(op, format!("operands need rank >= 2, got {} and {}", fmt_shape_pub(&a_shape), fmt_shape_pub(&b_shape))).into());
    }
    let (ra, rb) = (a_shape.len(), b_shape.len());
    let (m, ka) = if trans_a { (a_shape[ra - 1], a_shape[ra - 2]) } else { (a_shape[ra - 2], a_shape[ra - 1]) };
    let (kb, n) = if trans_b { (b_shape[rb - 1], b_shape[rb - 2]) } else { (b_shape[rb - 2], b_shape[rb - 1]) };
    if ka != kb {
        return Err(Error::shape(op, format!("shapes {} and {} are not aligned ({ka} != {kb})", fmt_shape_pub(&a_shape), fmt_shape_pub(&b_shape))).into());
    }
    let batch_a = &a_shape[..ra - 2];
    let batch_b = &b_shape[..rb - 2];
    let batch_shape = broadcast_shapes(op, batch_a, batch_b)?;
    // Batch dims must be either equal to the broadcast batch or all ones (a shared matrix);
    // mixed partial broadcasting is materialised by the caller.
    let a_full = numel(batch_a) == numel(&batch_shape);
    let b_full = numel(batch_b) == numel(&batch_shape);
    if !(a_full || numel(batch_a) == 1) || !(b_full || numel(batch_b) == 1) {
        return Err(Error::shape(op, "partially broadcast batch dimensions must be expanded first").into());
    }
    let batch = numel(&batch_shape);
    let spec = MatmulSpec {
        batch,
        m,
        k: ka,
        n,
        trans_a,
        trans_b,
        a_batch_stride: if a_full && numel(batch_a) > 1 { m * ka } else { 0 },
        b_batch_stride: if b_full && numel(batch_b) > 1 { ka * n } else { 0 },
    };
    let mut out_shape = batch_shape.clone();
    out_shape.extend([m, n]);
    let (a, b) = (a.shared(), b.shared());
    let work = batch * m * n * ka.max(1);
    run(py, work, move || {
        let (ag, bg) = (read(&a), read(&b));
        let (av, bv) = (as_f32(op, "left operand", &ag)?, as_f32(op, "right operand", &bg)?);
        check_len(op, "left operand", av.len(), &a_shape)?;
        check_len(op, "right operand", bv.len(), &b_shape)?;
        let mut c = crate::memory::alloc_f32(batch * m * n)?;
        gemm_kernel(av, bv, &mut c, &spec);
        Ok((f32buf(c), out_shape.clone()))
    })
}

#[pyfunction]
fn softmax(py: Python<'_>, x: &CpuBuffer, shape: Vec<usize>, axis: i64, log: bool) -> PyResult<CpuBuffer> {
    let x = x.shared();
    run(py, numel(&shape), move || Ok(f32buf(nn::softmax(as_f32("softmax", "input", &read(&x))?, &shape, axis, log)?)))
}

#[pyfunction]
fn softmax_backward(py: Python<'_>, y: &CpuBuffer, gy: &CpuBuffer, shape: Vec<usize>, axis: i64, log: bool) -> PyResult<CpuBuffer> {
    let (y, gy) = (y.shared(), gy.shared());
    run(py, numel(&shape), move || {
        let (yg, gg) = (read(&y), read(&gy));
        Ok(f32buf(nn::softmax_backward(as_f32("softmax_backward", "y", &yg)?, as_f32("softmax_backward", "gradient", &gg)?, &shape, axis, log)?))
    })
}

/// Training-mode batch normalization of `x` viewed as (rows, channels): (y, mean, var).
#[pyfunction]
#[pyo3(signature = (x, gamma, beta, rows, channels, epsilon))]
fn batch_norm(
    py: Python<'_>,
    x: &CpuBuffer,
    gamma: Option<&CpuBuffer>,
    beta: Option<&CpuBuffer>,
    rows: usize,
    channels: usize,
    epsilon: f32,
) -> PyResult<(CpuBuffer, CpuBuffer, CpuBuffer)> {
    let op = "batch_norm";
    let (x, g, b) = (x.shared(), gamma.map(|t| t.shared()), beta.map(|t| t.shared()));
    run(py, rows * channels, move || {
        let xg = read(&x);
        let (gg, bg) = (g.as_ref().map(read), b.as_ref().map(read));
        let gs = match gg.as_deref() {
            Some(s) => Some(as_f32(op, "gamma", s)?),
            None => None,
        };
        let bs = match bg.as_deref() {
            Some(s) => Some(as_f32(op, "beta", s)?),
            None => None,
        };
        let (y, mean, var) = norm::batch_norm(as_f32(op, "input", &xg)?, gs, bs, rows, channels, epsilon)?;
        Ok((f32buf(y), f32buf(mean), f32buf(var)))
    })
}

/// Gradients (gx or None, d gamma, d beta) of `batch_norm` from its batch mean and variance.
#[pyfunction]
#[pyo3(signature = (x, gamma, mean, var, gy, rows, channels, epsilon, need_gx))]
#[allow(clippy::too_many_arguments)]
fn batch_norm_backward(
    py: Python<'_>,
    x: &CpuBuffer,
    gamma: Option<&CpuBuffer>,
    mean: &CpuBuffer,
    var: &CpuBuffer,
    gy: &CpuBuffer,
    rows: usize,
    channels: usize,
    epsilon: f32,
    need_gx: bool,
) -> PyResult<(Option<CpuBuffer>, CpuBuffer, CpuBuffer)> {
    let op = "batch_norm_backward";
    let (x, g, m, v, gy) = (x.shared(), gamma.map(|t| t.shared()), mean.shared(), var.shared(), gy.shared());
    run(py, rows * channels, move || {
        let (xg, mg, vg, gyg) = (read(&x), read(&m), read(&v), read(&gy));
        let gg = g.as_ref().map(read);
        let gs = match gg.as_deref() {
            Some(s) => Some(as_f32(op, "gamma", s)?),
            None => None,
        };
        let (gx, ggamma, gbeta) = norm::batch_norm_backward(
            as_f32(op, "input", &xg)?,
            gs,
            as_f32(op, "mean", &mg)?,
            as_f32(op, "variance", &vg)?,
            as_f32(op, "gradient", &gyg)?,
            rows,
            channels,
            epsilon,
            need_gx,
        )?;
        Ok((gx.map(f32buf), f32buf(ggamma), f32buf(gbeta)))
    })
}

fn labels_of<'a>(op: &str, s: &'a Storage) -> Labels<'a> {
    let _ = op;
    match s {
        Storage::I32(v) => Labels::Sparse(v),
        Storage::F32(v) => Labels::Dense(v),
    }
}

/// Fused softmax cross-entropy: int32 labels are class indices, float32 labels a
/// distribution per row. Returns (per-row loss, probabilities).
#[pyfunction]
fn softmax_cross_entropy(py: Python<'_>, logits: &CpuBuffer, labels: &CpuBuffer, rows: usize, classes: usize) -> PyResult<(CpuBuffer, CpuBuffer)> {
    let (z, l) = (logits.shared(), labels.shared());
    run(py, rows * classes, move || {
        let (zg, lg) = (read(&z), read(&l));
        let (loss, probs) = nn::softmax_cross_entropy(as_f32("softmax_cross_entropy", "logits", &zg)?, rows, classes, labels_of("softmax_cross_entropy", &lg))?;
        Ok((f32buf(loss), f32buf(probs)))
    })
}

#[pyfunction]
fn softmax_cross_entropy_backward(py: Python<'_>, probs: &CpuBuffer, labels: &CpuBuffer, gloss: &CpuBuffer, rows: usize, classes: usize) -> PyResult<CpuBuffer> {
    let (p, l, g) = (probs.shared(), labels.shared(), gloss.shared());
    run(py, rows * classes, move || {
        let (pg, lg, gg) = (read(&p), read(&l), read(&g));
        let op = "softmax_cross_entropy_backward";
        Ok(f32buf(nn::softmax_cross_entropy_backward(as_f32(op, "probabilities", &pg)?, rows, classes, labels_of(op, &lg), as_f32(op, "gradient", &gg)?)?))
    })
}

#[pyfunction]
fn sigmoid_bce(py: Python<'_>, z: &CpuBuffer, y: &CpuBuffer) -> PyResult<CpuBuffer> {
    let (z, y) = (z.shared(), y.shared());
    let n = read(&z).len();
    run(py, n, move || {
        let (zg, yg) = (read(&z), read(&y));
        let op = "sigmoid_binary_cross_entropy";
        Ok(f32buf(nn::sigmoid_bce(as_f32(op, "logits", &zg)?, as_f32(op, "labels", &yg)?)?))
    })
}

#[pyfunction]
fn sigmoid_bce_backward(py: Python<'_>, z: &CpuBuffer, y: &CpuBuffer, g: &CpuBuffer) -> PyResult<CpuBuffer> {
    let (z, y, g) = (z.shared(), y.shared(), g.shared());
    let n = read(&z).len();
    run(py, n, move || {
        let (zg, yg, gg) = (read(&z), read(&y), read(&g));
        let op = "sigmoid_binary_cross_entropy_backward";
        Ok(f32buf(nn::sigmoid_bce_backward(as_f32(op, "logits", &zg)?, as_f32(op, "labels", &yg)?, as_f32(op, "gradient", &gg)?)?))
    })
}

#[pyfunction]
#[pyo3(signature = (x, w, b, rows, fin, fout, activation))]
#[allow(clippy::too_many_arguments)]
fn dense(py: Python<'_>, x: &CpuBuffer, w: &CpuBuffer, b: Option<&CpuBuffer>, rows: usize, fin: usize, fout: usize, activation: &str) -> PyResult<CpuBuffer> {
    let act = DenseActivation::parse(activation)?;
    let (x, w, b) = (x.shared(), w.shared(), b.map(|b| b.shared()));
    run(py, rows * fin * fout, move || {
        let (xg, wg) = (read(&x), read(&w));
        let bg = b.as_ref().map(read);
        let bs = match &bg {
            Some(g) => Some(as_f32("dense", "bias", g)?),
            None => None,
        };
        Ok(f32buf(nn::dense(as_f32("dense", "input", &xg)?, as_f32("dense", "kernel", &wg)?, bs, rows, fin, fout, act)?))
    })
}

#[pyfunction]
#[pyo3(signature = (x, w, y, gy, rows, fin, fout, activation, need_gx, need_gb = true))]
#[allow(clippy::too_many_arguments)]
fn dense_backward(
    py: Python<'_>,
    x: &CpuBuffer,
    w: &CpuBuffer,
    y: &CpuBuffer,
    gy: &CpuBuffer,
    rows: usize,
    fin: usize,
    fout: usize,
    activation: &str,
    need_gx: bool,
    need_gb: bool,
) -> PyResult<(Option<CpuBuffer>, CpuBuffer, Option<CpuBuffer>)> {
    let act = DenseActivation::parse(activation)?;
    let (x, w, y, gy) = (x.shared(), w.shared(), y.shared(), gy.shared());
    run(py, rows * fin * fout, move || {
        let (xg, wg, yg, gg) = (read(&x), read(&w), read(&y), read(&gy));
        let op = "dense_backward";
        let (gx, gw, gb) = nn::dense_backward(
            as_f32(op, "input", &xg)?,
            as_f32(op, "kernel", &wg)?,
            as_f32(op, "output", &yg)?,
            as_f32(op, "gradient", &gg)?,
            rows,
            fin,
            fout,
            act,
            need_gx,
            need_gb,
        )?;
        Ok((gx.map(f32buf), f32buf(gw), gb.map(f32buf)))
    })
}

/// Philox draws. `kind` is uniform | normal | truncated_normal | bernoulli; `a`, `b` are
/// (low, high), (mean, stddev) or (keep probability, scale).
#[pyfunction]
fn random(py: Python<'_>, kind: &str, n: usize, seed: u64, offset: u64, a: f32, b: f32) -> PyResult<CpuBuffer> {
    let kind = kind.to_string();
    // The seed and the counter change every step of a compiled plan.
    let (seed, offset) = (plan::param("seed", seed), plan::param("offset", offset));
    let (a, b) = (plan::param("a", a), plan::param("b", b));
    run(py, n * 8, move || {
        let (seed, offset, a, b) = (seed.get()?, offset.get()?, a.get()?, b.get()?);
        Ok(f32buf(match kind.as_str() {
            "uniform" => rng::uniform(n, seed, offset, a, b)?,
            "normal" => rng::normal(n, seed, offset, a, b)?,
            "truncated_normal" => rng::truncated_normal(n, seed, offset, a, b)?,
            "bernoulli" => rng::bernoulli_mask(n, seed, offset, a, b)?,
            other => {
                return Err(Error::value("random", format!("unknown distribution '{other}'; valid: uniform, normal, truncated_normal, bernoulli")))
            }
        }))
    })
}

#[pyfunction]
fn philox_bits(n: usize, seed: u64, offset: u64) -> Vec<u32> {
    rng::bits(n, seed, offset)
}

/// Counter blocks consumed by a draw of n values (the generator advances by this).
#[pyfunction]
fn random_blocks(n: usize) -> u64 {
    rng::blocks_for(n)
}

fn f32_mut<'a>(op: &str, what: &str, s: &'a mut Storage) -> Result<&'a mut [f32]> {
    match s {
        Storage::F32(v) => Ok(v.as_mut_slice()),
        Storage::I32(_) => Err(Error::dtype(op, format!("{what} must be float32"))),
    }
}

/// The boundary every fused optimizer update shares: the parameter, the gradient and the
/// optimizer slots (`None` for a slot the variant does without) must be distinct float32
/// buffers; they are locked and `update(param, grad, slots)` runs without the GIL.
/// `cost` is the work per element (for the serial/parallel choice).
fn optimizer_update<const K: usize>(
    py: Python<'_>,
    op: &'static str,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    slots: [(Option<&CpuBuffer>, &'static str); K],
    cost: usize,
    update: impl Fn(&mut [f32], &[f32], [Option<&mut [f32]>; K]) -> Result<()> + Send + Sync + 'static,
) -> PyResult<()> {
    let (p, g) = (param.shared(), grad.shared());
    let shared: Vec<(Option<Shared>, &'static str)> = slots.iter().map(|(b, name)| (b.map(|b| b.shared()), *name)).collect();
    let mut all = vec![&p, &g];
    all.extend(shared.iter().filter_map(|(s, _)| s.as_ref()));
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            if std::sync::Arc::ptr_eq(all[i], all[j]) {
                return Err(Error::value(op, "the parameter, gradient and optimizer slots must be distinct buffers").into());
            }
        }
    }
    let n = read(&p).len();
    run(py, n * cost, move || {
        let gg = read(&g);
        let gs = as_f32(op, "gradient", &gg)?;
        let mut pg = write(&p);
        let ps = f32_mut(op, "parameter", &mut pg)?;
        let mut guards: Vec<_> = shared.iter().map(|(s, name)| (s.as_ref().map(write), *name)).collect();
        let mut views = Vec::with_capacity(K);
        for (guard, name) in guards.iter_mut() {
            views.push(match guard.as_deref_mut() {
                Some(s) => Some(f32_mut(op, name, s)?),
                None => None,
            });
        }
        let views: [Option<&mut [f32]>; K] = views.try_into().map_err(|_| Error::value(op, "internal: slot count"))?;
        update(ps, gs, views)
    })
}

/// A slot the optimizer variant requires (always given by the wrappers below).
fn required<'a>(op: &str, slot: Option<&'a mut [f32]>) -> Result<&'a mut [f32]> {
    slot.ok_or_else(|| Error::value(op, "a required optimizer slot is missing"))
}

#[pyfunction]
#[pyo3(signature = (param, grad, velocity, lr, momentum, nesterov, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn sgd_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    velocity: Option<&CpuBuffer>,
    lr: f32,
    momentum: f32,
    nesterov: bool,
    decay: f32,
) -> PyResult<()> {
    let lr = plan::param("lr", lr);
    let momentum = plan::param("momentum", momentum);
    let decay = plan::param("decay", decay);
    optimizer_update(py, "sgd_update", param, grad, [(velocity, "velocity")], 4, move |p, g, [v]| {
        optim::sgd(p, g, v, lr.get()?, momentum.get()?, nesterov, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, m, v, lr, beta_1, beta_2, epsilon, step, vhat=None, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn adam_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    m: &CpuBuffer,
    v: &CpuBuffer,
    lr: f32,
    beta_1: f64,
    beta_2: f64,
    epsilon: f32,
    step: u64,
    vhat: Option<&CpuBuffer>,
    decay: f32,
) -> PyResult<()> {
    let op = "adam_update";
    let slots = [(Some(m), "first moment"), (Some(v), "second moment"), (vhat, "vhat")];
    let lr = plan::param("lr", lr);
    let beta_1 = plan::param("beta_1", beta_1);
    let beta_2 = plan::param("beta_2", beta_2);
    let epsilon = plan::param("epsilon", epsilon);
    let step = plan::param("step", step);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, slots, 10, move |p, g, [m, v, vhat]| {
        optim::adam(p, g, required(op, m)?, required(op, v)?, vhat, lr.get()?, beta_1.get()?, beta_2.get()?, epsilon.get()?, step.get()?, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, velocity, average_gradient, momentum_slot, lr, rho, momentum, epsilon, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn rmsprop_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    velocity: &CpuBuffer,
    average_gradient: Option<&CpuBuffer>,
    momentum_slot: Option<&CpuBuffer>,
    lr: f32,
    rho: f64,
    momentum: f32,
    epsilon: f32,
    decay: f32,
) -> PyResult<()> {
    let op = "rmsprop_update";
    let slots = [(Some(velocity), "velocity"), (average_gradient, "average gradient"), (momentum_slot, "momentum")];
    let lr = plan::param("lr", lr);
    let rho = plan::param("rho", rho);
    let momentum = plan::param("momentum", momentum);
    let epsilon = plan::param("epsilon", epsilon);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, slots, 10, move |p, g, [v, a, m]| {
        optim::rmsprop(p, g, required(op, v)?, a, m, lr.get()?, rho.get()?, momentum.get()?, epsilon.get()?, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, accumulator, lr, epsilon, decay=0.0))]
fn adagrad_update(py: Python<'_>, param: &CpuBuffer, grad: &CpuBuffer, accumulator: &CpuBuffer, lr: f32, epsilon: f32, decay: f32) -> PyResult<()> {
    let op = "adagrad_update";
    let lr = plan::param("lr", lr);
    let epsilon = plan::param("epsilon", epsilon);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, [(Some(accumulator), "accumulator")], 6, move |p, g, [a]| {
        optim::adagrad(p, g, required(op, a)?, lr.get()?, epsilon.get()?, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, accumulated_grad, accumulated_delta, lr, rho, epsilon, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn adadelta_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    accumulated_grad: &CpuBuffer,
    accumulated_delta: &CpuBuffer,
    lr: f32,
    rho: f64,
    epsilon: f32,
    decay: f32,
) -> PyResult<()> {
    let op = "adadelta_update";
    let slots = [(Some(accumulated_grad), "accumulated gradient"), (Some(accumulated_delta), "accumulated delta")];
    let lr = plan::param("lr", lr);
    let rho = plan::param("rho", rho);
    let epsilon = plan::param("epsilon", epsilon);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, slots, 10, move |p, g, [eg, ed]| {
        optim::adadelta(p, g, required(op, eg)?, required(op, ed)?, lr.get()?, rho.get()?, epsilon.get()?, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, m, u, lr, beta_1, beta_2, epsilon, step, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn adamax_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    m: &CpuBuffer,
    u: &CpuBuffer,
    lr: f32,
    beta_1: f64,
    beta_2: f64,
    epsilon: f32,
    step: u64,
    decay: f32,
) -> PyResult<()> {
    let op = "adamax_update";
    let lr = plan::param("lr", lr);
    let beta_1 = plan::param("beta_1", beta_1);
    let beta_2 = plan::param("beta_2", beta_2);
    let epsilon = plan::param("epsilon", epsilon);
    let step = plan::param("step", step);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, [(Some(m), "first moment"), (Some(u), "norm")], 8, move |p, g, [m, u]| {
        optim::adamax(p, g, required(op, m)?, required(op, u)?, lr.get()?, beta_1.get()?, beta_2.get()?, epsilon.get()?, step.get()?, decay.get()?)
    })
}

#[pyfunction]
#[pyo3(signature = (param, grad, m, v, lr, beta_1, beta_2, epsilon, step, u_product, decay=0.0))]
#[allow(clippy::too_many_arguments)]
fn nadam_update(
    py: Python<'_>,
    param: &CpuBuffer,
    grad: &CpuBuffer,
    m: &CpuBuffer,
    v: &CpuBuffer,
    lr: f32,
    beta_1: f64,
    beta_2: f64,
    epsilon: f32,
    step: u64,
    u_product: f64,
    decay: f32,
) -> PyResult<()> {
    let op = "nadam_update";
    let lr = plan::param("lr", lr);
    let beta_1 = plan::param("beta_1", beta_1);
    let beta_2 = plan::param("beta_2", beta_2);
    let epsilon = plan::param("epsilon", epsilon);
    let step = plan::param("step", step);
    let u_product = plan::param("u_product", u_product);
    let decay = plan::param("decay", decay);
    optimizer_update(py, op, param, grad, [(Some(m), "first moment"), (Some(v), "second moment")], 10, move |p, g, [m, v]| {
        optim::nadam(p, g, required(op, m)?, required(op, v)?, lr.get()?, beta_1.get()?, beta_2.get()?, epsilon.get()?, step.get()?, u_product.get()?, decay.get()?)
    })
}

/// The most CPU kernel threads `set_num_threads` accepts: 4 per core (oversubscribing
/// further only adds scheduling cost), and at least 64. Asking for more is refused before
/// any thread starts: rayon would otherwise start them one by one until the OS says no.
fn max_num_threads() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    (4 * cores).max(64)
}

#[pyfunction]
fn set_num_threads(n: usize) -> PyResult<()> {
    let cap = max_num_threads();
    if n > cap {
        return Err(crate::error::Error::value(
            "set_num_threads",
            format!("n must be at most {cap} (4 threads per core, at least 64), got {n}"),
        )
        .into());
    }
    Ok(parallel::set_num_threads(n)?)
}

#[pyfunction]
fn _max_num_threads() -> usize {
    max_num_threads()
}

#[pyfunction]
fn get_num_threads() -> usize {
    parallel::num_threads()
}

/// Registered with `os.register_at_fork(after_in_child=...)` by `ember/config.py`.
#[pyfunction]
fn _after_fork() {
    parallel::after_fork();
}

/// The instruction-set extensions the CPU kernels detected at run time.
#[pyfunction]
fn cpu_features() -> Vec<&'static str> {
    crate::kernels::cpu_features::cpu_features()
}

/// The GEMM kernel family in use: `avx512`, `avx2`, `neon` or `scalar`.
#[pyfunction]
#[pyo3(name = "gemm_kernel")]
fn gemm_kernel_name() -> &'static str {
    crate::kernels::cpu_features::gemm_kernel().name()
}

/// Test hook: forces the GEMM onto a narrower family (`None` or "auto": automatic).
#[pyfunction]
#[pyo3(signature = (name=None))]
fn _force_gemm_kernel(name: Option<&str>) -> PyResult<()> {
    crate::kernels::cpu_features::force_gemm_kernel(name).map_err(PyErr::from)
}

/// Whether Ember's pool workers run with flush-to-zero / denormals-are-zero.
#[pyfunction]
fn workers_flush_denormals() -> PyResult<bool> {
    Ok(parallel::run(parallel::denormals_flushed)?)
}

/// WGSL source of a shader family (the shared prelude followed by the family file).
#[pyfunction]
fn shader_source(name: &str) -> PyResult<String> {
    crate::shaders::source(name).ok_or_else(|| {
        Error::value("shader_source", format!("unknown shader '{name}'; known: {}", crate::shaders::names().join(", "))).into()
    })
}

/// Names of the embedded shader families.
#[pyfunction]
fn shader_names() -> Vec<&'static str> {
    crate::shaders::names()
}

#[pyfunction]
fn clear_pool() {
    crate::memory::clear_pool();
}

#[pyfunction]
fn pooled_bytes() -> usize {
    crate::memory::pooled_bytes()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<CpuBuffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("UNARY_OPS", unary::UNARY_OPS.to_vec())?;
    m.add("BINARY_OPS", binary::BINARY_OPS.to_vec())?;
    m.add("REDUCE_OPS", reduce::REDUCE_OPS.to_vec())?;
    m.add_function(wrap_pyfunction!(unary_op, m)?)?;
    m.add_function(wrap_pyfunction!(unary_backward, m)?)?;
    m.add_function(wrap_pyfunction!(binary_op, m)?)?;
    m.add_function(wrap_pyfunction!(binary_backward, m)?)?;
    m.add_function(wrap_pyfunction!(reduce_op, m)?)?;
    m.add_function(wrap_pyfunction!(sum_to_shape, m)?)?;
    m.add_function(wrap_pyfunction!(broadcast_to, m)?)?;
    m.add_function(wrap_pyfunction!(transpose, m)?)?;
    m.add_function(wrap_pyfunction!(take_rows, m)?)?;
    m.add_function(wrap_pyfunction!(scatter_add_rows, m)?)?;
    m.add_function(wrap_pyfunction!(cast, m)?)?;
    m.add_function(wrap_pyfunction!(one_hot, m)?)?;
    m.add_function(wrap_pyfunction!(all_finite, m)?)?;
    m.add_function(wrap_pyfunction!(strided_copy, m)?)?;
    m.add_function(wrap_pyfunction!(strided_write, m)?)?;
    m.add_function(wrap_pyfunction!(gather, m)?)?;
    m.add_function(wrap_pyfunction!(scatter_add, m)?)?;
    m.add_function(wrap_pyfunction!(where_op, m)?)?;
    m.add_function(wrap_pyfunction!(cumsum, m)?)?;
    m.add_function(wrap_pyfunction!(cumprod, m)?)?;
    m.add_function(wrap_pyfunction!(argsort, m)?)?;
    m.add_function(wrap_pyfunction!(matmul, m)?)?;
    m.add_function(wrap_pyfunction!(softmax, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_backward, m)?)?;
    m.add_function(wrap_pyfunction!(batch_norm, m)?)?;
    m.add_function(wrap_pyfunction!(batch_norm_backward, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_cross_entropy, m)?)?;
    m.add_function(wrap_pyfunction!(softmax_cross_entropy_backward, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_bce, m)?)?;
    m.add_function(wrap_pyfunction!(sigmoid_bce_backward, m)?)?;
    m.add_function(wrap_pyfunction!(dense, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    m.add_function(wrap_pyfunction!(conv::conv2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::conv2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(conv::max_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::max_pool2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(conv::average_pool2d, m)?)?;
    m.add_function(wrap_pyfunction!(conv::average_pool2d_backward, m)?)?;
    m.add_function(wrap_pyfunction!(random, m)?)?;
    m.add_function(wrap_pyfunction!(philox_bits, m)?)?;
    m.add_function(wrap_pyfunction!(random_blocks, m)?)?;
    m.add_function(wrap_pyfunction!(sgd_update, m)?)?;
    m.add_function(wrap_pyfunction!(adam_update, m)?)?;
    m.add_function(wrap_pyfunction!(rmsprop_update, m)?)?;
    m.add_function(wrap_pyfunction!(adagrad_update, m)?)?;
    m.add_function(wrap_pyfunction!(adadelta_update, m)?)?;
    m.add_function(wrap_pyfunction!(adamax_update, m)?)?;
    m.add_function(wrap_pyfunction!(nadam_update, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_max_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(_after_fork, m)?)?;
    m.add_function(wrap_pyfunction!(cpu_features, m)?)?;
    m.add_function(wrap_pyfunction!(gemm_kernel_name, m)?)?;
    m.add_function(wrap_pyfunction!(_force_gemm_kernel, m)?)?;
    m.add_function(wrap_pyfunction!(workers_flush_denormals, m)?)?;
    m.add_function(wrap_pyfunction!(clear_pool, m)?)?;
    m.add_function(wrap_pyfunction!(shader_source, m)?)?;
    m.add_function(wrap_pyfunction!(shader_names, m)?)?;
    m.add_function(wrap_pyfunction!(pooled_bytes, m)?)?;
    m.add_class::<plan::Plan>()?;
    m.add_function(wrap_pyfunction!(plan::_plan_record, m)?)?;
    m.add_function(wrap_pyfunction!(plan::_plan_len, m)?)?;
    m.add_function(wrap_pyfunction!(plan::_plan_scalars, m)?)?;
    rnn::register(m)?;
    Ok(())
}

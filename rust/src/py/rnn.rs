//! Bindings of the fused recurrences (`kernels::rnn`): one call runs the whole forward
//! over the sequence, one the whole backward through time.

use pyo3::prelude::*;

use super::buffer::{as_f32, read, CpuBuffer, Shared};
use super::run;
use crate::error::Result;
use crate::kernels::rnn::{self, Activation, Cell, RnnSpec};
use crate::memory::Storage;

#[allow(clippy::too_many_arguments)]
fn spec(
    cell: &str,
    reset_after: bool,
    batch: usize,
    time: usize,
    units: usize,
    go_backwards: bool,
    activation: &str,
    recurrent_activation: &str,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> Result<RnnSpec> {
    let op = "rnn_sequence";
    Ok(RnnSpec {
        cell: Cell::parse(cell, reset_after)?,
        batch,
        time,
        units,
        go_backwards,
        activation: Activation::parse(op, activation)?,
        recurrent_activation: Activation::parse(op, recurrent_activation)?,
        zero_output_for_mask,
        return_sequences,
    })
}

/// Read guards of optional operands, and their float32 views.
fn guard(b: &Option<Shared>) -> Option<std::sync::RwLockReadGuard<'_, Storage>> {
    b.as_ref().map(read)
}

fn view<'a>(op: &str, what: &str, g: &'a Option<std::sync::RwLockReadGuard<'_, Storage>>) -> Result<Option<&'a [f32]>> {
    match g.as_deref() {
        Some(s) => Ok(Some(as_f32(op, what, s)?)),
        None => Ok(None),
    }
}

type Forward = (CpuBuffer, CpuBuffer, Option<CpuBuffer>, CpuBuffer, CpuBuffer, Option<CpuBuffer>);

/// The whole forward recurrence: (outputs, h, c or None, gates, hs, cs or None).
#[pyfunction]
#[pyo3(signature = (cell, xw, recurrent_kernel, recurrent_bias, h0, c0, mask, recurrent_dropout_mask, batch, time, units,
                    go_backwards, activation, recurrent_activation, reset_after, zero_output_for_mask, return_sequences))]
#[allow(clippy::too_many_arguments)]
pub fn rnn_sequence(
    py: Python<'_>,
    cell: &str,
    xw: &CpuBuffer,
    recurrent_kernel: &CpuBuffer,
    recurrent_bias: Option<&CpuBuffer>,
    h0: &CpuBuffer,
    c0: Option<&CpuBuffer>,
    mask: Option<&CpuBuffer>,
    recurrent_dropout_mask: Option<&CpuBuffer>,
    batch: usize,
    time: usize,
    units: usize,
    go_backwards: bool,
    activation: &str,
    recurrent_activation: &str,
    reset_after: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> PyResult<Forward> {
    let s = spec(cell, reset_after, batch, time, units, go_backwards, activation, recurrent_activation, zero_output_for_mask, return_sequences)?;
    let (xw, rk, h0) = (xw.shared(), recurrent_kernel.shared(), h0.shared());
    let (rb, c0, mask, rdm) = (recurrent_bias.map(CpuBuffer::shared), c0.map(CpuBuffer::shared), mask.map(CpuBuffer::shared), recurrent_dropout_mask.map(CpuBuffer::shared));
    let work = batch * time * units * units * s.cell.gates();
    run(py, work, move || {
        let op = "rnn_sequence";
        let (xg, rg, hg) = (read(&xw), read(&rk), read(&h0));
        let (bg, cg, mg, dg) = (guard(&rb), guard(&c0), guard(&mask), guard(&rdm));
        let f = rnn::forward(
            &s,
            as_f32(op, "xw", &xg)?,
            as_f32(op, "recurrent_kernel", &rg)?,
            view(op, "recurrent_bias", &bg)?,
            as_f32(op, "h0", &hg)?,
            view(op, "c0", &cg)?,
            view(op, "mask", &mg)?,
            view(op, "recurrent_dropout_mask", &dg)?,
        )?;
        Ok((CpuBuffer::f32(f.outputs), CpuBuffer::f32(f.h), f.c.map(CpuBuffer::f32), CpuBuffer::f32(f.gates), CpuBuffer::f32(f.hs), f.cs.map(CpuBuffer::f32)))
    })
}

type Backward = (CpuBuffer, CpuBuffer, Option<CpuBuffer>, CpuBuffer, Option<CpuBuffer>);

/// The whole backward through time: (d xw, d recurrent_kernel, d recurrent_bias or None,
/// d h0, d c0 or None).
#[pyfunction]
#[pyo3(signature = (cell, recurrent_kernel, need_bias, mask, recurrent_dropout_mask, gates, hs, cs, gy, gh, gc, batch, time,
                    units, go_backwards, activation, recurrent_activation, reset_after, zero_output_for_mask, return_sequences))]
#[allow(clippy::too_many_arguments)]
pub fn rnn_sequence_backward(
    py: Python<'_>,
    cell: &str,
    recurrent_kernel: &CpuBuffer,
    need_bias: bool,
    mask: Option<&CpuBuffer>,
    recurrent_dropout_mask: Option<&CpuBuffer>,
    gates: &CpuBuffer,
    hs: &CpuBuffer,
    cs: Option<&CpuBuffer>,
    gy: Option<&CpuBuffer>,
    gh: Option<&CpuBuffer>,
    gc: Option<&CpuBuffer>,
    batch: usize,
    time: usize,
    units: usize,
    go_backwards: bool,
    activation: &str,
    recurrent_activation: &str,
    reset_after: bool,
    zero_output_for_mask: bool,
    return_sequences: bool,
) -> PyResult<Backward> {
    let s = spec(cell, reset_after, batch, time, units, go_backwards, activation, recurrent_activation, zero_output_for_mask, return_sequences)?;
    let (rk, gates, hs) = (recurrent_kernel.shared(), gates.shared(), hs.shared());
    let sh = |b: Option<&CpuBuffer>| b.map(CpuBuffer::shared);
    let (mask, rdm, cs, gy, gh, gc) = (sh(mask), sh(recurrent_dropout_mask), sh(cs), sh(gy), sh(gh), sh(gc));
    let work = 2 * batch * time * units * units * s.cell.gates();
    run(py, work, move || {
        let op = "rnn_sequence_backward";
        let (rg, gg, hg) = (read(&rk), read(&gates), read(&hs));
        let (mg, dg, cg, yg, hgg, cgg) = (guard(&mask), guard(&rdm), guard(&cs), guard(&gy), guard(&gh), guard(&gc));
        let g = rnn::backward(
            &s,
            as_f32(op, "recurrent_kernel", &rg)?,
            need_bias,
            view(op, "mask", &mg)?,
            view(op, "recurrent_dropout_mask", &dg)?,
            as_f32(op, "gates", &gg)?,
            as_f32(op, "hs", &hg)?,
            view(op, "cs", &cg)?,
            view(op, "the outputs' gradient", &yg)?,
            view(op, "the final h's gradient", &hgg)?,
            view(op, "the final c's gradient", &cgg)?,
        )?;
        Ok((CpuBuffer::f32(g.xw), CpuBuffer::f32(g.recurrent_kernel), g.recurrent_bias.map(CpuBuffer::f32), CpuBuffer::f32(g.h0), g.c0.map(CpuBuffer::f32)))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RNN_ACTIVATIONS", rnn::RNN_ACTIVATIONS.to_vec())?;
    m.add_function(wrap_pyfunction!(rnn_sequence, m)?)?;
    m.add_function(wrap_pyfunction!(rnn_sequence_backward, m)?)?;
    Ok(())
}

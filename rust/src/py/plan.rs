//! Recorded kernel plans: the CPU replay of `ember.compiled`.
//!
//! Every kernel binding hands its work to `run` as a closure over the operands' shared
//! storage and its parsed arguments. While a step is traced (`_plan_record(True)` on the
//! tracing thread), `run` also keeps that closure and the buffers it returned. A `Plan`
//! replays the closures in order, in one call with the GIL released: each closure makes
//! fresh outputs, whose storage is moved into the buffers the trace returned, so the next
//! closure, which reads those buffers, sees this step's values. The step's inputs are
//! moved into the traced input buffers for the call (and back after it), and the
//! returned buffers leave as new `CpuBuffer`s. Since the very closures of the eager
//! calls run, on the same threads in the same order, a replay computes bit-identical
//! values; what is gone is the Python between the kernels (argument parsing, buffer
//! objects, the GIL round trip of each call).
//!
//! Per-step host values (the learning rate, the step count, random seeds and counters)
//! would be baked into the closures. The tracer names them before the call
//! (`_plan_scalars`); a binding takes such an argument through `param`, which gives a
//! cell of the plan instead of the value, and `Plan.run` fills the cells each step. An
//! argument named but not taken by the binding makes the recording unusable (the reason
//! says which), and the Python plan is used instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt};

use super::buffer::{write, CpuBuffer, Shared};
use crate::error::{Error, Result};
use crate::kernels::parallel::{self, MIN_PARALLEL};
use crate::memory::Storage;

/// A per-step host value as Python gave it.
#[derive(Clone, Copy, Debug)]
pub enum Value {
    F(f64),
    I(i128),
}

/// The per-step values of one plan, read by the closures that took them through `param`.
#[derive(Default)]
pub struct Cells(RwLock<Vec<Value>>);

impl Cells {
    fn get(&self, i: usize) -> Option<Value> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).get(i).copied()
    }
    fn set(&self, i: usize, v: Value) {
        let mut g = self.0.write().unwrap_or_else(|e| e.into_inner());
        if g.len() <= i {
            g.resize(i + 1, Value::I(0));
        }
        g[i] = v;
    }
}

/// A scalar type a binding can take per step; the conversions are PyO3's (a Python
/// float becomes f32 through f64, an int must fit).
pub trait Scalar: Copy + Send + Sync + 'static {
    fn from_value(v: Value) -> Option<Self>;
}

impl Scalar for f32 {
    fn from_value(v: Value) -> Option<Self> {
        Some(match v {
            Value::F(f) => f as f32,
            Value::I(i) => i as f64 as f32,
        })
    }
}

impl Scalar for f64 {
    fn from_value(v: Value) -> Option<Self> {
        Some(match v {
            Value::F(f) => f,
            Value::I(i) => i as f64,
        })
    }
}

macro_rules! int_scalar {
    ($($t:ty),*) => {$(
        impl Scalar for $t {
            fn from_value(v: Value) -> Option<Self> {
                match v {
                    Value::I(i) => <$t>::try_from(i).ok(),
                    Value::F(_) => None,
                }
            }
        }
    )*};
}
int_scalar!(u64, i64, i32, usize);

/// A kernel argument: the value given, or (while recording, when the tracer named it)
/// the plan's cell that holds it each step.
pub enum Param<T: Scalar> {
    Fixed(T),
    Cell(Arc<Cells>, usize, &'static str),
}

impl<T: Scalar> Param<T> {
    pub fn get(&self) -> Result<T> {
        match self {
            Param::Fixed(v) => Ok(*v),
            Param::Cell(cells, i, name) => cells
                .get(*i)
                .and_then(T::from_value)
                .ok_or_else(|| Error::value("compiled step", format!("the per-step value of '{name}' has the wrong type"))),
        }
    }
}

/// `value` as given, or the plan's cell when the tracer named `name` a per-step value.
pub fn param<T: Scalar>(name: &'static str, value: T) -> Param<T> {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut() {
            if let Some(i) = rec.pending.remove(name) {
                return Param::Cell(rec.cells.clone(), i, name);
            }
        }
        Param::Fixed(value)
    })
}

/// The buffers in a binding's result, in order (None for an absent optional one).
pub trait Outputs {
    fn buffers(&self, into: &mut Vec<Option<Shared>>);
}

impl Outputs for CpuBuffer {
    fn buffers(&self, into: &mut Vec<Option<Shared>>) {
        into.push(Some(self.shared()));
    }
}

impl Outputs for Option<CpuBuffer> {
    fn buffers(&self, into: &mut Vec<Option<Shared>>) {
        into.push(self.as_ref().map(|b| b.shared()));
    }
}

macro_rules! no_buffers {
    ($($t:ty),*) => {$( impl Outputs for $t { fn buffers(&self, _: &mut Vec<Option<Shared>>) {} } )*};
}
no_buffers!((), bool, Vec<usize>);

macro_rules! tuple_outputs {
    ($($n:ident),*) => {
        impl<$($n: Outputs),*> Outputs for ($($n,)*) {
            #[allow(non_snake_case)]
            fn buffers(&self, into: &mut Vec<Option<Shared>>) {
                let ($($n,)*) = self;
                $($n.buffers(into);)*
            }
        }
    };
}
tuple_outputs!(A, B);
tuple_outputs!(A, B, C);
tuple_outputs!(A, B, C, D);
tuple_outputs!(A, B, C, D, E);
tuple_outputs!(A, B, C, D, E, F);

type StepFn = Box<dyn Fn() -> Result<Vec<Option<Shared>>> + Send + Sync>;

struct Step {
    work: usize,
    run: StepFn,
    outs: Vec<Option<Shared>>,
}

struct Recorder {
    steps: Vec<Step>,
    pending: HashMap<String, usize>,
    cells: Arc<Cells>,
    invalid: Option<String>,
}

thread_local! {
    static RECORDER: RefCell<Option<Recorder>> = const { RefCell::new(None) };
}

/// Called by `run` after a kernel call succeeded: keeps the call when recording.
pub fn record<T: Outputs + 'static>(work: usize, f: impl Fn() -> Result<T> + Send + Sync + 'static, out: &T) {
    RECORDER.with(|r| {
        if let Some(rec) = r.borrow_mut().as_mut() {
            if !rec.pending.is_empty() && rec.invalid.is_none() {
                let mut names: Vec<_> = rec.pending.keys().cloned().collect();
                names.sort();
                rec.invalid = Some(format!("a kernel cannot take the per-step value(s) {} from a plan", names.join(", ")));
            }
            rec.pending.clear();
            let mut outs = Vec::new();
            out.buffers(&mut outs);
            let run: StepFn = Box::new(move || {
                let r = f()?;
                let mut v = Vec::new();
                r.buffers(&mut v);
                Ok(v)
            });
            rec.steps.push(Step { work, run, outs });
        }
    });
}

/// `_plan_record(True)` starts recording the kernel calls of this thread;
/// `_plan_record(False)` stops and returns (Plan, None), or (None, reason) when the
/// recording cannot be replayed.
#[pyfunction]
pub fn _plan_record(on: bool) -> (Option<Plan>, Option<String>) {
    RECORDER.with(|r| {
        let prev = r.borrow_mut().take();
        if on {
            *r.borrow_mut() = Some(Recorder { steps: Vec::new(), pending: HashMap::new(), cells: Arc::default(), invalid: None });
            return (None, None);
        }
        match prev {
            None => (None, Some("nothing was recorded".to_string())),
            Some(rec) => match rec.invalid {
                Some(why) => (None, Some(why)),
                None => (Some(Plan { steps: rec.steps, cells: rec.cells, bound: None, busy: std::sync::Mutex::new(()) }), None),
            },
        }
    })
}

/// Kernel calls recorded so far (the tracer checks that each backend call made one).
#[pyfunction]
pub fn _plan_len() -> usize {
    RECORDER.with(|r| r.borrow().as_ref().map_or(0, |rec| rec.steps.len()))
}

fn value_of(v: &Bound<'_, PyAny>) -> PyResult<Value> {
    if v.is_instance_of::<PyBool>() || v.is_instance_of::<PyInt>() {
        return Ok(Value::I(v.extract::<i128>()?));
    }
    if v.is_instance_of::<PyFloat>() {
        return Ok(Value::F(v.extract::<f64>()?));
    }
    Err(Error::value("compiled step", format!("a per-step value must be an int or a float, got {}", v.get_type().name()?)).into())
}

/// Names the arguments of the next kernel call that are per-step values: each name maps
/// to (cell index, this step's value).
#[pyfunction]
pub fn _plan_scalars(names: HashMap<String, (usize, Bound<'_, PyAny>)>) -> PyResult<()> {
    RECORDER.with(|r| -> PyResult<()> {
        if let Some(rec) = r.borrow_mut().as_mut() {
            rec.pending.clear();
            for (name, (i, v)) in names {
                rec.cells.set(i, value_of(&v)?);
                rec.pending.insert(name, i);
            }
        }
        Ok(())
    })
}

struct Binding {
    params: Vec<Shared>,
    consts: Vec<Shared>,
    outputs: Vec<Shared>,
}

/// A recorded step, replayed by `run`.
#[pyclass(module = "ember._core")]
pub struct Plan {
    steps: Vec<Step>,
    cells: Arc<Cells>,
    bound: Option<Binding>,
    /// Held by a replay: the plan's buffers and cells serve one replay at a time (two
    /// threads calling the same compiled function take turns).
    busy: std::sync::Mutex<()>,
}

fn swap(a: &Shared, b: &Shared) {
    if !Arc::ptr_eq(a, b) {
        std::mem::swap(&mut *write(a), &mut *write(b));
    }
}

impl Plan {
    fn replay(&self) -> Result<()> {
        for s in &self.steps {
            // As `run` did in the trace: small kernels inline on the calling thread, the
            // rest on the pool (whose workers flush denormals), so the values are the same.
            let fresh = if s.work < MIN_PARALLEL { (s.run)()? } else { parallel::run(|| (s.run)())?? };
            if fresh.len() != s.outs.len() {
                return Err(Error::value("compiled step", "a kernel returned another number of buffers than when traced"));
            }
            for (dst, src) in s.outs.iter().zip(fresh) {
                match (dst, src) {
                    (Some(d), Some(s)) => swap(d, &s),
                    (None, None) => {}
                    _ => return Err(Error::value("compiled step", "a kernel's optional output changed since the trace")),
                }
            }
        }
        Ok(())
    }
}

#[pymethods]
impl Plan {
    /// Kernel calls in the plan.
    fn __len__(&self) -> usize {
        self.steps.len()
    }

    /// Binds the traced step's input buffers (replaced by `run`'s each call), the buffers
    /// it read that existed before it (weights, optimizer slots: an input may not be one
    /// of them), and the buffers it returned (handed out fresh by `run`).
    fn bind(&mut self, params: Vec<PyRef<'_, CpuBuffer>>, consts: Vec<PyRef<'_, CpuBuffer>>, outputs: Vec<PyRef<'_, CpuBuffer>>) {
        self.bound = Some(Binding {
            params: params.iter().map(|b| b.shared()).collect(),
            consts: consts.iter().map(|b| b.shared()).collect(),
            outputs: outputs.iter().map(|b| b.shared()).collect(),
        });
    }

    /// One step: `params` are this call's inputs (as bound), `scalars` the per-step values
    /// by cell. Returns the step's output buffers, or None when the inputs alias each other
    /// or a buffer of the plan (the caller then replays in Python).
    fn run(&self, py: Python<'_>, params: Vec<PyRef<'_, CpuBuffer>>, scalars: Vec<Bound<'_, PyAny>>) -> PyResult<Option<Vec<CpuBuffer>>> {
        let b = self.bound.as_ref().ok_or_else(|| Error::value("compiled step", "the plan is not bound"))?;
        if params.len() != b.params.len() {
            return Err(Error::value("compiled step", format!("expected {} inputs, got {}", b.params.len(), params.len())).into());
        }
        let new: Vec<Shared> = params.iter().map(|p| p.shared()).collect();
        for (i, p) in new.iter().enumerate() {
            let clash = new[..i].iter().any(|q| Arc::ptr_eq(p, q))
                || b.params.iter().enumerate().any(|(j, q)| j != i && Arc::ptr_eq(p, q))
                || b.consts.iter().chain(&b.outputs).any(|q| Arc::ptr_eq(p, q));
            if clash {
                return Ok(None);
            }
        }
        let values = scalars.iter().map(value_of).collect::<PyResult<Vec<Value>>>()?;
        let result = py.detach(|| {
            let _turn = self.busy.lock().unwrap_or_else(|e| e.into_inner());
            for (i, v) in values.into_iter().enumerate() {
                self.cells.set(i, v);
            }
            for (t, n) in b.params.iter().zip(&new) {
                swap(t, n);
            }
            let r = self.replay();
            for (t, n) in b.params.iter().zip(&new) {
                swap(t, n);
            }
            // The returned buffers leave before the next replay may refill them.
            r.map(|()| b.outputs.iter().map(|o| CpuBuffer::from_storage(std::mem::replace(&mut *write(o), Storage::F32(Vec::new())))).collect())
        });
        Ok(Some(result?))
    }
}

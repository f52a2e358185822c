//! `CpuBuffer`: the Python handle on a tensor's memory.
//!
//! The storage sits behind `Arc<RwLock<..>>` so that a kernel can take its own reference
//! to every operand and run with the GIL released (convention 5: own the data before
//! detaching), while in-place optimizer updates take the write lock. The contents never
//! move, so the buffer protocol hands numpy a read-only view without copying.

use std::ffi::{c_int, c_void};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::error::{Error, Result};
use crate::memory::{alloc_f32, alloc_i32, DType, Storage};

#[pyclass(frozen, module = "ember._core")]
pub struct CpuBuffer {
    pub(crate) inner: Arc<RwLock<Storage>>,
}

pub type Shared = Arc<RwLock<Storage>>;

impl CpuBuffer {
    pub fn from_storage(s: Storage) -> Self {
        CpuBuffer { inner: Arc::new(RwLock::new(s)) }
    }
    pub fn f32(v: Vec<f32>) -> Self {
        Self::from_storage(Storage::F32(v))
    }
    pub fn i32(v: Vec<i32>) -> Self {
        Self::from_storage(Storage::I32(v))
    }
    pub fn shared(&self) -> Shared {
        self.inner.clone()
    }
}

pub fn read(s: &Shared) -> RwLockReadGuard<'_, Storage> {
    s.read().unwrap_or_else(|e| e.into_inner())
}

pub fn write(s: &Shared) -> RwLockWriteGuard<'_, Storage> {
    s.write().unwrap_or_else(|e| e.into_inner())
}

pub fn as_f32<'a>(op: &str, what: &str, s: &'a Storage) -> Result<&'a [f32]> {
    match s {
        Storage::F32(v) => Ok(v),
        Storage::I32(_) => Err(Error::dtype(op, format!("{what} must be float32, got int32"))),
    }
}

pub fn as_i32<'a>(op: &str, what: &str, s: &'a Storage) -> Result<&'a [i32]> {
    match s {
        Storage::I32(v) => Ok(v),
        Storage::F32(_) => Err(Error::dtype(op, format!("{what} must be int32, got float32"))),
    }
}

fn parse_dtype(name: &str) -> Result<DType> {
    match name {
        "float32" => Ok(DType::F32),
        "int32" => Ok(DType::I32),
        _ => Err(Error::dtype("buffer", format!("unsupported dtype '{name}'; supported: float32, int32"))),
    }
}

#[pymethods]
impl CpuBuffer {
    /// Copies any buffer-protocol object of float32 or int32 elements (a numpy array of
    /// any layout) into a new buffer.
    #[staticmethod]
    fn from_array(py: Python<'_>, obj: &Bound<'_, PyAny>, dtype: &str) -> PyResult<Self> {
        Ok(match parse_dtype(dtype)? {
            DType::F32 => {
                let b = PyBuffer::<f32>::get(obj)?;
                let mut v = alloc_f32(b.item_count())?;
                b.copy_to_slice(py, &mut v)?;
                Self::f32(v)
            }
            DType::I32 => {
                let b = PyBuffer::<i32>::get(obj)?;
                let mut v = alloc_i32(b.item_count())?;
                b.copy_to_slice(py, &mut v)?;
                Self::i32(v)
            }
        })
    }

    /// A buffer of `n` copies of `value`.
    #[staticmethod]
    fn full(py: Python<'_>, n: usize, value: f64, dtype: &str) -> PyResult<Self> {
        let dt = parse_dtype(dtype)?;
        // Work 0: inline on the calling thread, as before plans recorded it.
        super::run(py, 0, move || -> Result<Self> {
            Ok(match dt {
                DType::F32 => {
                    let mut v = alloc_f32(n)?;
                    v.fill(value as f32);
                    Self::f32(v)
                }
                DType::I32 => {
                    let mut v = alloc_i32(n)?;
                    v.fill(value as i32);
                    Self::i32(v)
                }
            })
        })
    }

    #[getter]
    fn dtype(&self) -> &'static str {
        read(&self.inner).dtype().name()
    }

    fn __len__(&self) -> usize {
        read(&self.inner).len()
    }

    /// A deep copy (new memory).
    fn copy(&self, py: Python<'_>) -> PyResult<Self> {
        let s = self.shared();
        super::run(py, 0, move || -> Result<Self> {
            Ok(match &*read(&s) {
                Storage::F32(v) => {
                    let mut o = alloc_f32(v.len())?;
                    o.copy_from_slice(v);
                    Self::f32(o)
                }
                Storage::I32(v) => {
                    let mut o = alloc_i32(v.len())?;
                    o.copy_from_slice(v);
                    Self::i32(o)
                }
            })
        })
    }

    /// Overwrites this buffer's contents with `src`'s (same dtype and length): the
    /// in-place `Variable.assign`.
    fn assign(&self, py: Python<'_>, src: &CpuBuffer) -> PyResult<()> {
        let (dst, src) = (self.shared(), src.shared());
        super::run(py, 0, move || {
            if Arc::ptr_eq(&dst, &src) {
                return Ok(());
            }
            let s = read(&src);
            let mut d = write(&dst);
            match (&mut *d, &*s) {
                (Storage::F32(d), Storage::F32(s)) if d.len() == s.len() => d.copy_from_slice(s),
                (Storage::I32(d), Storage::I32(s)) if d.len() == s.len() => d.copy_from_slice(s),
                (d, s) => {
                    return Err(Error::shape(
                        "assign",
                        format!(
                            "cannot assign {} {} values to a buffer of {} {} values",
                            s.len(),
                            s.dtype().name(),
                            d.len(),
                            d.dtype().name()
                        ),
                    ))
                }
            }
            Ok(())
        })
    }

    /// Raw bytes, read-only, without copying (numpy: `np.frombuffer(buf, np.float32)`).
    unsafe fn __getbuffer__(slf: Bound<'_, Self>, view: *mut ffi::Py_buffer, flags: c_int) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("View is null"));
        }
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("ember buffers are exposed read-only"));
        }
        let (ptr, nbytes) = {
            let g = read(&slf.get().inner);
            match &*g {
                Storage::F32(v) => (v.as_ptr() as *mut c_void, v.len() * 4),
                Storage::I32(v) => (v.as_ptr() as *mut c_void, v.len() * 4),
            }
        };
        // SAFETY: `view` is non-null and owned by the caller for the duration of the
        // export; the storage never reallocates and `obj` keeps its owner alive.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr;
            (*view).len = nbytes as isize;
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                c"B".as_ptr() as *mut _
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND { &mut (*view).len } else { std::ptr::null_mut() };
            (*view).strides =
                if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES { &mut (*view).itemsize } else { std::ptr::null_mut() };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    fn __repr__(&self) -> String {
        let g = read(&self.inner);
        format!("CpuBuffer(dtype={}, len={})", g.dtype().name(), g.len())
    }
}

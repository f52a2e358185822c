//! Tensor memory: typed storage and a size-keyed pool of freed buffers.
//!
//! A training step allocates the same shapes every time. Fresh multi-megabyte
//! allocations come from `mmap` and are page-faulted in on first touch, which costs
//! more than many kernels; so buffers of at least `MIN_POOLED` elements go back to a
//! pool on drop and are handed out again for the same length. Pooled buffers are
//! *not* cleared: every kernel writing into `alloc_*` output must overwrite it fully.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::error::{Error, Result};

const MIN_POOLED: usize = 1024;
const MAX_POOLED_BYTES: usize = 512 << 20;
const MAX_PER_SIZE: usize = 16;

#[derive(Default)]
struct Pool {
    f32s: HashMap<usize, Vec<Vec<f32>>>,
    i32s: HashMap<usize, Vec<Vec<i32>>>,
    bytes: usize,
}

static POOL: Mutex<Option<Pool>> = Mutex::new(None);

fn with_pool<R>(f: impl FnOnce(&mut Pool) -> R) -> Option<R> {
    // A poisoned lock only means another thread panicked while holding it; the pool
    // is a cache, so recover its contents rather than propagate.
    let mut guard = match POOL.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    };
    Some(f(guard.get_or_insert_with(Pool::default)))
}

/// A zeroed vector of `len` elements, or an error (not an abort) when the memory
/// cannot be had: a typo'd shape must raise in Python, not kill the interpreter.
fn zeroed<T: Clone + Default>(len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    if v.try_reserve_exact(len).is_err() {
        let bytes = (len as u128) * (std::mem::size_of::<T>() as u128);
        return Err(Error::out_of_memory("alloc", format!("cannot allocate {len} elements ({bytes} bytes): out of memory")));
    }
    v.resize(len, T::default());
    Ok(v)
}

/// A float32 buffer of `len` elements with unspecified contents.
pub fn alloc_f32(len: usize) -> Result<Vec<f32>> {
    if len >= MIN_POOLED {
        if let Some(Some(v)) = with_pool(|p| {
            let v = p.f32s.get_mut(&len).and_then(|l| l.pop());
            if v.is_some() {
                p.bytes -= len * 4;
            }
            v
        }) {
            return Ok(v);
        }
    }
    zeroed(len)
}

/// An int32 buffer of `len` elements with unspecified contents.
pub fn alloc_i32(len: usize) -> Result<Vec<i32>> {
    if len >= MIN_POOLED {
        if let Some(Some(v)) = with_pool(|p| {
            let v = p.i32s.get_mut(&len).and_then(|l| l.pop());
            if v.is_some() {
                p.bytes -= len * 4;
            }
            v
        }) {
            return Ok(v);
        }
    }
    zeroed(len)
}

fn recycle_f32(v: Vec<f32>) {
    let len = v.len();
    if len < MIN_POOLED || len != v.capacity() {
        return;
    }
    with_pool(|p| {
        let list = p.f32s.entry(len).or_default();
        if list.len() < MAX_PER_SIZE && p.bytes + len * 4 <= MAX_POOLED_BYTES {
            p.bytes += len * 4;
            list.push(v);
        }
    });
}

fn recycle_i32(v: Vec<i32>) {
    let len = v.len();
    if len < MIN_POOLED || len != v.capacity() {
        return;
    }
    with_pool(|p| {
        let list = p.i32s.entry(len).or_default();
        if list.len() < MAX_PER_SIZE && p.bytes + len * 4 <= MAX_POOLED_BYTES {
            p.bytes += len * 4;
            list.push(v);
        }
    });
}

/// Drops every pooled buffer (used by tests and by `ember._core.clear_pool`).
pub fn clear_pool() {
    with_pool(|p| *p = Pool::default());
}

/// Bytes currently held by the pool.
pub fn pooled_bytes() -> usize {
    with_pool(|p| p.bytes).unwrap_or(0)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DType {
    F32,
    I32,
}

impl DType {
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I32 => "int32",
        }
    }
}

/// The memory of one tensor. Contents never move after creation (no resizing), so a
/// numpy view of it stays valid for as long as the owner lives.
#[derive(Debug)]
pub enum Storage {
    F32(Vec<f32>),
    I32(Vec<i32>),
}

impl Storage {
    pub fn dtype(&self) -> DType {
        match self {
            Storage::F32(_) => DType::F32,
            Storage::I32(_) => DType::I32,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Storage::F32(v) => v.len(),
            Storage::I32(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Storage {
    fn drop(&mut self) {
        match self {
            Storage::F32(v) => recycle_f32(std::mem::take(v)),
            Storage::I32(v) => recycle_i32(std::mem::take(v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_reuses_dropped_buffers() {
        // A length no other test uses, so parallel tests cannot take this buffer.
        let v = alloc_f32(12_347).unwrap();
        let ptr = v.as_ptr();
        drop(Storage::F32(v));
        let w = alloc_f32(12_347).unwrap();
        assert_eq!(w.as_ptr(), ptr);
    }

    #[test]
    fn impossible_allocations_are_errors() {
        assert!(alloc_f32(1 << 60).is_err());
        assert!(alloc_i32(usize::MAX).is_err());
    }
}

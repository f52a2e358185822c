//! Ember's native core.
//!
//! `kernels/` and `memory` are pure Rust (no pyo3), so `cargo test` and `cargo bench`
//! run without Python. `py/` is the only module that touches pyo3; it is compiled
//! with the `python` feature, which maturin turns on.

pub mod error;
pub mod kernels;
pub mod memory;
pub mod shaders;

#[cfg(feature = "python")]
mod py;

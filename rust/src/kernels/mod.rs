//! Pure-Rust CPU kernels. Nothing here imports pyo3: inputs are slices and shapes,
//! outputs are freshly pooled `Vec`s or in-place writes. Shapes are validated here
//! (returning `error::Error`) so that the bindings stay thin.

pub mod binary;
pub mod conv;
pub mod cpu_features;
pub mod index;
pub mod layout;
pub mod matmul;
pub mod nn;
pub mod normalization;
pub mod optim;
pub mod parallel;
pub mod pool;
pub mod random;
pub mod reduce;
pub mod rnn;
pub mod scan;
pub mod shape;
pub mod strided;
pub mod unary;

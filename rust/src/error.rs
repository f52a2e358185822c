//! The crate's one error type. `py/errors.rs` maps each kind onto the Python class of
//! the same name in `ember.errors`, so Rust never decides Python's hierarchy.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Operand shapes do not fit the op (-> `ember.errors.ShapeError`, a `ValueError`).
    Shape,
    /// Wrong element type (-> `ember.errors.DTypeError`, a `TypeError`).
    DType,
    /// A value is out of range: a label >= depth, a bad axis, an unknown op name
    /// (-> `ember.errors.InvalidArgumentError`, a `ValueError`).
    Value,
    /// Memory could not be had (-> `ember.errors.OutOfMemoryError`, a `MemoryError`).
    OutOfMemory,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub op: String,
    pub message: String,
}

impl Error {
    pub fn new(kind: ErrorKind, op: &str, message: impl Into<String>) -> Self {
        Error { kind, op: op.to_string(), message: message.into() }
    }
    pub fn shape(op: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Shape, op, message)
    }
    pub fn dtype(op: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::DType, op, message)
    }
    pub fn value(op: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Value, op, message)
    }
    pub fn out_of_memory(op: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::OutOfMemory, op, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Formats a shape the way numpy prints it: `(2, 3)`, `(5,)`, `()`.
pub fn fmt_shape(shape: &[usize]) -> String {
    match shape.len() {
        0 => "()".to_string(),
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

//! The one conversion from the crate's `Error` into Python exceptions. The classes live
//! in `ember/errors.py` (the hierarchy is defined once, in Python); this looks them up
//! by name so that `except ember.errors.ShapeError` and `except ValueError` both work.

use pyo3::exceptions::{PyMemoryError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;

use crate::error::{Error, ErrorKind};

fn class_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Shape => "ShapeError",
        ErrorKind::DType => "DTypeError",
        ErrorKind::Value => "InvalidArgumentError",
        ErrorKind::OutOfMemory => "OutOfMemoryError",
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        let message = e.to_string();
        Python::attach(|py| {
            let made = py
                .import("ember.errors")
                .and_then(|m| m.getattr(class_name(e.kind)))
                .and_then(|cls| cls.call1((message.clone(),)));
            match made {
                Ok(exc) => PyErr::from_value(exc),
                // ember.errors missing means a broken install; still never panic.
                Err(_) if e.kind == ErrorKind::Value => PyValueError::new_err(message),
                Err(_) if e.kind == ErrorKind::OutOfMemory => PyMemoryError::new_err(message),
                Err(_) => PyRuntimeError::new_err(message),
            }
        })
    }
}

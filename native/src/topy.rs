//! Columns to Python objects: numbers as raw bytes numpy reads, one Python string per distinct text.

use std::collections::HashMap;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList, PyString, PyTuple};

use crate::columns::{Col, Table};

/// Numbers whose bytes are their value: no padding, every bit pattern valid.
pub(crate) trait Plain: Copy {}
impl Plain for i64 {}
impl Plain for f64 {}
impl Plain for u8 {}
impl Plain for i32 {}
impl Plain for u64 {}

pub(crate) fn raw_bytes<'py, T: Plain>(py: Python<'py>, values: &[T]) -> Bound<'py, PyByteArray> {
    // SAFETY: T is i64, i32, f64 or u8 (Plain): no padding; numpy.frombuffer reads them in native byte order.
    let bytes = unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(values)) };
    PyByteArray::new(py, bytes)
}

/// `streamdrift.columns.Kind`: MISSING, INTEGRAL, FRACTIONAL, STRING (a double here is always finite).
const MISSING: u8 = 0;
const INTEGRAL: u8 = 1;
const FRACTIONAL: u8 = 2;
const STRING: u8 = 3;

/// `x == floor(x)` for a finite double, without a libm call: every double of magnitude 2^52 or more is an integer.
fn is_integral(x: f64) -> bool {
    x.abs() >= 4_503_599_627_370_496.0 || (x as i64) as f64 == x
}

/// One Python string per distinct text: a repeated category (or a poll's model id) is one object, found without
/// hashing when it repeats the text before it.
pub(crate) struct Interner<'py, 's> {
    py: Python<'py>,
    seen: HashMap<&'s str, (i64, Bound<'py, PyString>)>,
    previous: Option<(&'s str, i64, Bound<'py, PyString>)>,
    /// the distinct texts in first-seen order (a text's code is its index here)
    values: Bound<'py, PyList>,
}

impl<'py, 's> Interner<'py, 's> {
    pub(crate) fn new(py: Python<'py>) -> Self {
        Interner {
            py,
            seen: HashMap::new(),
            previous: None,
            values: PyList::empty(py),
        }
    }

    /// The text's Python string and code.
    pub(crate) fn get(&mut self, text: &'s str) -> PyResult<(Bound<'py, PyString>, i64)> {
        if let Some((p, code, obj)) = &self.previous {
            if *p == text {
                return Ok((obj.clone(), *code));
            }
        }
        let (code, obj) = match self.seen.get(text) {
            Some((code, obj)) => (*code, obj.clone()),
            None => {
                let obj = PyString::new(self.py, text);
                let code = self.values.len() as i64;
                self.values.append(&obj)?;
                self.seen.insert(text, (code, obj.clone()));
                (code, obj)
            }
        };
        self.previous = Some((text, code, obj.clone()));
        Ok((obj, code))
    }
}

/// (float64 bytes, kind bytes, [str | None] or None, (int64 code bytes, [str]) or None): the numbers (NaN where
/// not a number), the kind of each row as `streamdrift.columns.classify_numbers` gives it, the text rows (None
/// when the column has none; a text value repeated in the column is one Python string), and for a text column
/// each row's code (-1 where missing) into its distinct texts in first-seen order.
pub(crate) fn column_to_py<'py>(py: Python<'py>, col: &Col<'_>) -> PyResult<Bound<'py, PyTuple>> {
    let Some(strings) = &col.strings else {
        let kinds: Vec<u8> = col
            .numbers
            .iter()
            .map(|&x| {
                if x.is_nan() {
                    MISSING
                } else if is_integral(x) {
                    INTEGRAL
                } else {
                    FRACTIONAL
                }
            })
            .collect();
        return PyTuple::new(
            py,
            [
                raw_bytes(py, &col.numbers).into_any(),
                raw_bytes(py, &kinds).into_any(),
                py.None().into_bound(py),
                py.None().into_bound(py),
            ],
        );
    };
    let mut interner = Interner::new(py);
    let mut kinds: Vec<u8> = Vec::with_capacity(strings.len());
    let mut codes: Vec<i64> = Vec::with_capacity(strings.len());
    let items = PyList::empty(py);
    for s in strings {
        let Some(text) = s else {
            kinds.push(MISSING);
            codes.push(-1);
            items.append(py.None())?;
            continue;
        };
        kinds.push(STRING);
        let (obj, code) = interner.get(text)?;
        codes.push(code);
        items.append(obj)?;
    }
    let numbers = vec![f64::NAN; strings.len()];
    let categories = PyTuple::new(py, [raw_bytes(py, &codes).into_any(), interner.values.into_any()])?;
    PyTuple::new(
        py,
        [
            raw_bytes(py, &numbers).into_any(),
            raw_bytes(py, &kinds).into_any(),
            items.into_any(),
            categories.into_any(),
        ],
    )
}

pub(crate) fn table_to_py<'py>(py: Python<'py>, table: &Table<'_>) -> PyResult<Bound<'py, PyTuple>> {
    let names = PyList::empty(py);
    for name in &table.names {
        names.append(PyString::new(py, name))?;
    }
    let cols = PyList::empty(py);
    for col in &table.cols {
        cols.append(column_to_py(py, col)?)?;
    }
    PyTuple::new(py, [names.into_any(), cols.into_any()])
}

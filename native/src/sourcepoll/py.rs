//! The Python side of [`read_source_poll`](super::read_source_poll): the poll's paths read (its parent module),
//! their values handed to Python column-wise (float64 bytes, or object lists when they are not all numbers).

use super::*;

/// Per-row scalars as float64 when there are some and every one is a number (not a boolean): what
/// `array("d", ...)` makes of their Python ints and floats (each rounded to the nearest double), so the caller
/// builds their column without an object per row.
fn numbers_of(scalars: &[Scalar]) -> Option<Vec<f64>> {
    if scalars.is_empty() {
        return None;
    }
    scalars
        .iter()
        .map(|s| match *s {
            Scalar::Int(i) => Some(i as f64),
            Scalar::UInt(u) => Some(u as f64),
            Scalar::Float(f) => Some(f),
            _ => None,
        })
        .collect()
}

/// The scalars as Python objects; a text equal to the one before is the same object (a model id or version
/// repeats from message to message: one string for the run of them).
fn objects<'py>(py: Python<'py>, scalars: &[Scalar], absent: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
    let mut last: Option<(&str, Bound<'py, PyAny>)> = None;
    PyList::new(
        py,
        scalars.iter().map(|s| {
            if let Scalar::Str(t) = s {
                if let Some((text, obj)) = &last {
                    if *text == t.as_str() {
                        return obj.clone();
                    }
                }
                let obj = scalar_to_py(py, s, absent);
                last = Some((t.as_str(), obj.clone()));
                return obj;
            }
            scalar_to_py(py, s, absent)
        }),
    )
}

fn scalar_to_py<'py>(py: Python<'py>, s: &Scalar, absent: &Bound<'py, PyAny>) -> Bound<'py, PyAny> {
    match s {
        Scalar::Null => py.None().into_bound(py),
        Scalar::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Scalar::Int(i) => PyInt::new(py, *i).into_any(),
        Scalar::UInt(u) => PyInt::new(py, *u).into_any(),
        Scalar::Float(f) => PyFloat::new(py, *f).into_any(),
        Scalar::Str(t) => PyString::new(py, t).into_any(),
        Scalar::Absent => absent.clone(),
    }
}

/// The columns of a `FIELDS` path as one float64 buffer, (fields x rows) row-major.
fn fields_bytes<'py>(py: Python<'py>, columns: &[Vec<f64>]) -> PyResult<Bound<'py, PyByteArray>> {
    let size = columns.iter().map(|c| std::mem::size_of_val(c.as_slice())).sum();
    PyByteArray::new_with(py, size, |buf| {
        let mut chunks = buf.chunks_exact_mut(8);
        for (dst, x) in chunks.by_ref().zip(columns.iter().flatten()) {
            dst.copy_from_slice(&x.to_ne_bytes());
        }
        Ok(())
    })
}

/// The values of `paths` (each `(steps, kind, width)`, a step `(token, index or -1, named)`) in every message of
/// a poll, one item per path (see the kinds above; a `FIELDS` path reads the paths of `fields`, its own steps
/// unused); None when the fast path does not take the poll (an empty poll, a message longer than
/// `max_message_bytes`, more than `max_total_bytes` in all, or anything unexpected).
#[pyfunction]
#[pyo3(signature = (values, paths, absent, max_message_bytes, max_total_bytes, fields = Vec::new()))]
pub fn read_source_poll<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    paths: Vec<PathArg>,
    absent: &Bound<'py, PyAny>,
    max_message_bytes: usize,
    max_total_bytes: usize,
    fields: Vec<StepsArg>,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let Some(held) = crate::poll_bytes(values, max_message_bytes, max_total_bytes) else {
        return Ok(None);
    };
    let fields: Vec<Vec<Step>> = fields.into_iter().map(steps_of).collect();
    if fields.is_empty() && paths.iter().any(|p| p.1 == FIELDS) {
        return Ok(None);
    }
    let specs: Vec<PathSpec> = paths
        .into_iter()
        .map(|(steps, kind, width)| PathSpec {
            steps: steps_of(steps),
            kind,
            width,
            fields: if kind == FIELDS { fields.clone() } else { Vec::new() },
            shared: kind == FIELDS && shared_named(&fields),
        })
        .collect();
    let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
    // no Python object is touched while parsing (the bytes are held above and immutable)
    let Some(outs) = py.detach(|| read_all(&slices, &specs)) else {
        return Ok(None);
    };
    let result = PyList::empty(py);
    for (spec, out) in specs.iter().zip(outs.iter()) {
        let item = match spec.kind {
            FIELDS => PyTuple::new(
                py,
                [
                    fields_bytes(py, &out.columns)?.into_any(),
                    crate::raw_bytes(py, &out.counts).into_any(),
                ],
            )?
            .into_any(),
            TENSOR | FLAT => PyTuple::new(
                py,
                [
                    crate::raw_bytes(py, &out.numbers).into_any(),
                    crate::raw_bytes(py, &out.counts).into_any(),
                ],
            )?
            .into_any(),
            SCALARS => {
                let values = match numbers_of(&out.scalars) {
                    Some(numbers) => crate::raw_bytes(py, &numbers).into_any(),
                    None => objects(py, &out.scalars, absent)?.into_any(),
                };
                PyTuple::new(py, [values, crate::raw_bytes(py, &out.counts).into_any()])?.into_any()
            }
            VALUE => objects(py, &out.scalars, absent)?.into_any(),
            _ => crate::raw_bytes(py, &out.counts).into_any(),
        };
        result.append(item)?;
    }
    Ok(Some(result))
}

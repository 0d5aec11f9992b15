//! A poll of a mapped source's JSON messages (docs/sources.md) read column-wise: each message parsed by serde_json
//! once, the mapping's paths followed in Rust, and the values of every path returned for the whole poll at once
//! (feature values as one float64 buffer), without a Python object per feature value.
//!
//! It answers None whenever a message is not what the common case expects (not JSON, a path that leads nowhere
//! or to something of another shape, a boolean among numbers, ...): the caller then reads the poll through the
//! Python paths, which name the dead letters. So this module never decides that input is bad.
//! `tests/unit/ingest/sources/test_nativepoll.py` checks that both give the same batches.

use std::borrow::Cow;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON number as serde_json gives it.
#[derive(Clone, Copy)]
pub(crate) enum Number {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl Number {
    fn as_f64(&self) -> Option<f64> {
        Some(match *self {
            Number::Int(i) => i as f64,
            Number::UInt(u) => u as f64,
            Number::Float(f) => f,
        })
    }
}

/// A parsed message: serde_json's `Value` without its allocations per key (keys borrow from the message when
/// they have no escapes, objects are lists of members: small, read by a linear scan).
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

impl<'a> Value<'a> {
    fn is_object(&self) -> bool {
        matches!(self, Value::Object(_))
    }
}

/// An object's member (the last of a repeated key, as orjson keeps).
fn member<'v, 'a>(members: &'v [(Cow<'a, str>, Value<'a>)], key: &str) -> Option<&'v Value<'a>> {
    members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::UInt(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::Float(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value<'de>>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(crate::Text(key)) = map.next_key::<crate::Text<'de>>()? {
            members.push((key, map.next_value::<Value<'de>>()?));
        }
        Ok(Value::Object(members))
    }
}

impl<'de> de::Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

/// What a path's value must be, and what is returned for it.
const TENSOR: u8 = 0; // feature rows of `width` numbers: (float64 bytes, int64 rows per message, -1 absent)
const FLAT: u8 = 1; // numbers (a scalar is one): (float64 bytes, int64 count per message, -1 absent)
const SCALARS: u8 = 2; // scalars (a scalar is one): ([object], int64 count per message, -1 absent)
const VALUE: u8 = 3; // one scalar per message: [object | absent]
const TENSORS: u8 = 4; // absent, or an array of tensors `{"name": text, ...}`: int64 0 / 1 per message

/// One step of a path: an object's key (an array's index when `index >= 0` and the value is an array), or, when
/// `named`, the element of an array of tensors `{"name": ..., ...}` with that name.
struct Step {
    token: String,
    index: i64,
    named: bool,
}

/// A path as Python passes it: (steps as (token, index or -1, named), kind, width).
type PathArg = (Vec<(String, i64, bool)>, u8, usize);

struct PathSpec {
    steps: Vec<Step>,
    kind: u8,
    width: usize,
}

enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Absent,
}

#[derive(Default)]
struct Out {
    numbers: Vec<f64>,
    counts: Vec<i64>,
    scalars: Vec<Scalar>,
}

/// The value a path leads to: Ok(None) when its first key is absent (the other half's part of a pair), Err when
/// a step does not apply.
fn walk<'v, 'a>(doc: &'v Value<'a>, steps: &[Step]) -> Result<Option<&'v Value<'a>>, ()> {
    let mut at = doc;
    for (depth, step) in steps.iter().enumerate() {
        let next = match at {
            Value::Object(map) if !step.named => member(map, &step.token),
            Value::Array(items) if step.named => {
                let mut found = None;
                for item in items {
                    let Value::Object(t) = item else { return Err(()) };
                    let Some(Value::String(name)) = member(t, "name") else {
                        return Err(());
                    };
                    if *name == step.token {
                        if found.is_some() {
                            return Err(()); // a repeated name: the Python path decides which counts
                        }
                        found = Some(item);
                    }
                }
                found
            }
            Value::Array(items) if !step.named && step.index >= 0 => items.get(step.index as usize),
            _ => return Err(()),
        };
        match next {
            Some(v) => at = v,
            None if depth == 0 => return Ok(None),
            None => return Err(()),
        }
    }
    Ok(Some(at))
}

/// A feature value as float64 (serde_json reads the integer `-0` as -0.0 where orjson reads 0, which float64
/// columns hold as 0.0: equal values either way).
fn number(n: &Number) -> Result<f64, ()> {
    n.as_f64().ok_or(())
}

fn push_numbers(items: &[Value<'_>], out: &mut Vec<f64>) -> Result<(), ()> {
    for item in items {
        let Value::Number(n) = item else { return Err(()) };
        out.push(number(n)?);
    }
    Ok(())
}

fn scalar(v: &Value<'_>) -> Result<Scalar, ()> {
    Ok(match v {
        Value::Null => Scalar::Null,
        Value::Bool(b) => Scalar::Bool(*b),
        Value::Number(n) => {
            if let Number::Int(i) = n {
                Scalar::Int(*i)
            } else if let Number::UInt(u) = n {
                Scalar::UInt(*u)
            } else {
                let x = number(n)?;
                if x == 0.0 && x.is_sign_negative() {
                    return Err(()); // `-0` or `-0.0`: orjson gives int 0 for the first (a label's type)
                }
                Scalar::Float(x)
            }
        }
        Value::String(s) => Scalar::Str(s.to_string()),
        _ => return Err(()),
    })
}

/// A tensor's flat data (the `data` of `{"shape", "data"}`, or the value itself).
fn data_of<'v, 'a>(v: &'v Value<'a>) -> Result<(&'v Vec<Value<'a>>, Option<&'v Value<'a>>), ()> {
    match v {
        Value::Object(t) => match member(t, "data") {
            Some(Value::Array(d)) => Ok((d, member(t, "shape"))),
            _ => Err(()),
        },
        Value::Array(d) => Ok((d, None)),
        _ => Err(()),
    }
}

fn shape_is(shape: &Value<'_>, want: &[usize]) -> bool {
    match shape {
        Value::Array(dims) => {
            dims.len() == want.len()
                && dims
                    .iter()
                    .zip(want)
                    .all(|(d, &w)| matches!(d, Value::Number(n) if n.as_f64() == Some(w as f64)))
        }
        _ => false,
    }
}

fn read(doc: &Value<'_>, spec: &PathSpec, out: &mut Out) -> Result<(), ()> {
    let Some(v) = walk(doc, &spec.steps)? else {
        match spec.kind {
            VALUE => out.scalars.push(Scalar::Absent),
            TENSORS => out.counts.push(0),
            _ => out.counts.push(-1),
        }
        return Ok(());
    };
    match spec.kind {
        TENSOR => {
            let width = spec.width;
            let (data, shape) = data_of(v)?;
            match data.first() {
                None => return Err(()),
                Some(Value::Array(_)) => {
                    for row in data {
                        let Value::Array(cells) = row else { return Err(()) };
                        if cells.len() != width {
                            return Err(());
                        }
                        push_numbers(cells, &mut out.numbers)?;
                    }
                    out.counts.push(data.len() as i64);
                }
                Some(_) => {
                    if width == 0 || data.len() % width != 0 {
                        return Err(());
                    }
                    let rows = data.len() / width;
                    if let Some(s) = shape {
                        if !shape_is(s, &[rows, width]) && !shape_is(s, &[width]) {
                            return Err(());
                        }
                    }
                    push_numbers(data, &mut out.numbers)?;
                    out.counts.push(rows as i64);
                }
            }
        }
        FLAT | SCALARS => {
            let items: &[Value<'_>] = match v {
                Value::Object(_) | Value::Array(_) => data_of(v)?.0,
                other => std::slice::from_ref(other),
            };
            if items.is_empty() {
                return Err(());
            }
            if spec.kind == FLAT {
                push_numbers(items, &mut out.numbers)?;
            } else {
                for item in items {
                    out.scalars.push(scalar(item)?);
                }
            }
            out.counts.push(items.len() as i64);
        }
        VALUE => out.scalars.push(scalar(v)?),
        TENSORS => {
            let Value::Array(items) = v else { return Err(()) };
            for item in items {
                let Value::Object(t) = item else { return Err(()) };
                if !matches!(member(t, "name"), Some(Value::String(_))) {
                    return Err(());
                }
            }
            out.counts.push(1);
        }
        _ => return Err(()),
    }
    Ok(())
}

fn read_all(values: &[&[u8]], specs: &[PathSpec]) -> Option<Vec<Out>> {
    let mut outs: Vec<Out> = specs.iter().map(|_| Out::default()).collect();
    for value in values {
        let doc: Value<'_> = match crate::fastjson::parse(value) {
            Some(doc) => doc,
            None => serde_json::from_slice(value).ok()?, // escapes and the unusual: serde_json decides
        };
        if !doc.is_object() {
            return None;
        }
        for (spec, out) in specs.iter().zip(outs.iter_mut()) {
            read(&doc, spec, out).ok()?;
        }
    }
    Some(outs)
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

/// The values of `paths` (each `(steps, kind, width)`, a step `(token, index or -1, named)`) in every message of
/// a poll, one item per path (see the kinds above); None when the fast path does not take the poll (an empty
/// poll, a message longer than `max_message_bytes`, more than `max_total_bytes` in all, or anything unexpected).
#[pyfunction]
pub fn read_source_poll<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    paths: Vec<PathArg>,
    absent: &Bound<'py, PyAny>,
    max_message_bytes: usize,
    max_total_bytes: usize,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let Some(held) = crate::poll_bytes(values, max_message_bytes, max_total_bytes) else {
        return Ok(None);
    };
    let specs: Vec<PathSpec> = paths
        .into_iter()
        .map(|(steps, kind, width)| PathSpec {
            steps: steps
                .into_iter()
                .map(|(token, index, named)| Step { token, index, named })
                .collect(),
            kind,
            width,
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
            TENSOR | FLAT => PyTuple::new(
                py,
                [
                    crate::raw_bytes(py, &out.numbers).into_any(),
                    crate::raw_bytes(py, &out.counts).into_any(),
                ],
            )?
            .into_any(),
            SCALARS => {
                let objs = PyList::new(py, out.scalars.iter().map(|s| scalar_to_py(py, s, absent)))?;
                PyTuple::new(py, [objs.into_any(), crate::raw_bytes(py, &out.counts).into_any()])?.into_any()
            }
            VALUE => PyList::new(py, out.scalars.iter().map(|s| scalar_to_py(py, s, absent)))?.into_any(),
            _ => crate::raw_bytes(py, &out.counts).into_any(),
        };
        result.append(item)?;
    }
    Ok(Some(result))
}

//! A poll of a mapped source's JSON messages (docs/sources.md) read column-wise: each message parsed once onto a
//! tape (`Node`s, reused from message to message: no allocation per array or object), the mapping's paths followed
//! in Rust, and the values of every path returned for the whole poll at once (feature values as one float64
//! buffer, per-row predictions and scores too when they are all numbers), without a Python object per value.
//!
//! It answers None whenever a message is not what the common case expects (not JSON, a path that leads nowhere
//! or to something of another shape, a boolean among numbers, ...): the caller then reads the poll through the
//! Python paths, which name the dead letters. So this module never decides that input is bad.
//! `tests/unit/ingest/sources/test_nativepoll.py` checks that both give the same batches.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyByteArray, PyFloat, PyInt, PyList, PyString, PyTuple};

use crate::sourcevalue::{flatten, Value};

mod py;
pub use py::read_source_poll;

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

/// One value of a parsed message on its tape: an array's items follow it, an object's members follow it as key
/// (a `String`) then value; `end` is the index past its last item, `len` the number of items (members).
pub(crate) enum Node<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array { len: u32, end: u32 },
    Object { len: u32, end: u32 },
}

/// The index past the value at `i`.
fn skip(tape: &[Node<'_>], i: usize) -> usize {
    match tape[i] {
        Node::Array { end, .. } | Node::Object { end, .. } => end as usize,
        _ => i + 1,
    }
}

/// The indices of the items of the array at `i` (none when it is not an array).
fn items<'t>(tape: &'t [Node<'_>], i: usize) -> impl Iterator<Item = usize> + 't {
    let len = match tape[i] {
        Node::Array { len, .. } => len as usize,
        _ => 0,
    };
    let mut at = i + 1;
    (0..len).map(move |_| {
        let here = at;
        at = skip(tape, at);
        here
    })
}

/// The value of an object's member (the last of a repeated key, as orjson keeps); None when `i` is not an object.
fn member(tape: &[Node<'_>], i: usize, key: &str) -> Option<usize> {
    let Node::Object { len, .. } = tape[i] else { return None };
    let mut at = i + 1;
    let mut found = None;
    for _ in 0..len {
        let value = at + 1;
        if matches!(&tape[at], Node::String(k) if k == key) {
            found = Some(value);
        }
        at = skip(tape, value);
    }
    found
}

/// The text of an object's `name` member, when it is a string.
fn name_of<'t>(tape: &'t [Node<'_>], i: usize) -> Option<&'t str> {
    match member(tape, i, "name").map(|m| &tape[m]) {
        Some(Node::String(name)) => Some(name),
        _ => None,
    }
}

/// What a path's value must be, and what is returned for it.
const TENSOR: u8 = 0; // feature rows of `width` numbers: (float64 bytes, int64 rows per message, -1 absent)
const FLAT: u8 = 1; // numbers (a scalar is one): (float64 bytes, int64 count per message, -1 absent)
const SCALARS: u8 = 2; // scalars (a scalar is one): ([object] or, all numbers, float64 bytes; int64 counts as FLAT)
const VALUE: u8 = 3; // one scalar per message: [object | absent]
const TENSORS: u8 = 4; // absent, or an array of tensors `{"name": text, ...}`: int64 0 / 1 per message
/// Named fields, each read as `FLAT` (its path in `fields`): (float64 bytes of the (fields x rows) matrix, each
/// field's rows in turn, int64 rows per message: -1 when every field is absent from the message, -2 when some are
/// absent or they hold different numbers of values, those messages' values left out).
const FIELDS: u8 = 5;

/// One step of a path: an object's key (an array's index when `index >= 0` and the value is an array), or, when
/// `named`, the element of an array of tensors `{"name": ..., ...}` with that name.
#[derive(Clone)]
struct Step {
    token: String,
    index: i64,
    named: bool,
}

/// A path as Python passes it: (steps as (token, index or -1, named), kind, width).
type PathArg = (StepsArg, u8, usize);

/// A path's steps as Python passes them.
type StepsArg = Vec<(String, i64, bool)>;

struct PathSpec {
    steps: Vec<Step>,
    kind: u8,
    width: usize,
    fields: Vec<Vec<Step>>, // FIELDS: each field's path
    shared: bool,           // FIELDS: every field is `/<key>/<name>/..`, one key (oip-v2's `/inputs/<name>`)
}

/// Whether every field's path starts with the same key, then a tensor's name.
fn shared_named(fields: &[Vec<Step>]) -> bool {
    let Some(first) = fields.first() else { return false };
    fields.iter().all(|f| {
        f.len() >= 2 && !f[0].named && f[1].named && f[0].token == first[0].token && f[0].index == first[0].index
    })
}

fn steps_of(steps: StepsArg) -> Vec<Step> {
    steps
        .into_iter()
        .map(|(token, index, named)| Step { token, index, named })
        .collect()
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
    columns: Vec<Vec<f64>>, // FIELDS: one per field
}

/// The node a path leads to: Ok(None) when its first key is absent (the other half's part of a pair), Err when a
/// step does not apply.
fn walk(tape: &[Node<'_>], steps: &[Step]) -> Result<Option<usize>, ()> {
    walk_from(tape, 0, steps, 0)
}

/// `walk` from the node `at`, reached by the path's first `depth` steps.
fn walk_from(tape: &[Node<'_>], mut at: usize, steps: &[Step], depth: usize) -> Result<Option<usize>, ()> {
    for (depth, step) in steps.iter().enumerate().map(|(i, s)| (depth + i, s)) {
        let next = match tape[at] {
            Node::Object { .. } if !step.named => member(tape, at, &step.token),
            Node::Array { .. } if step.named => {
                let mut found = None;
                for item in items(tape, at) {
                    let Some(name) = name_of(tape, item) else {
                        return Err(());
                    };
                    if name == step.token {
                        if found.is_some() {
                            return Err(()); // a repeated name: the Python path decides which counts
                        }
                        found = Some(item);
                    }
                }
                found
            }
            Node::Array { .. } if !step.named && step.index >= 0 => items(tape, at).nth(step.index as usize),
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

/// The numbers of the array at `a`, appended to `out`: Err when one is not a number.
fn push_numbers(tape: &[Node<'_>], a: usize, out: &mut Vec<f64>) -> Result<(), ()> {
    let Node::Array { len, end } = tape[a] else {
        return Err(());
    };
    if end as usize != a + 1 + len as usize {
        return Err(()); // an item is an array or object
    }
    out.reserve(len as usize);
    for node in &tape[a + 1..end as usize] {
        let Node::Number(n) = node else { return Err(()) };
        out.push(number(n)?);
    }
    Ok(())
}

fn scalar(v: &Node<'_>) -> Result<Scalar, ()> {
    Ok(match v {
        Node::Null => Scalar::Null,
        Node::Bool(b) => Scalar::Bool(*b),
        Node::Number(n) => {
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
        Node::String(s) => Scalar::Str(s.to_string()),
        _ => return Err(()),
    })
}

/// A tensor's flat data (the `data` array of `{"shape", "data"}`, or the array itself) and its shape.
fn data_of(tape: &[Node<'_>], v: usize) -> Result<(usize, Option<usize>), ()> {
    match tape[v] {
        Node::Object { .. } => match member(tape, v, "data") {
            Some(d) if matches!(tape[d], Node::Array { .. }) => Ok((d, member(tape, v, "shape"))),
            _ => Err(()),
        },
        Node::Array { .. } => Ok((v, None)),
        _ => Err(()),
    }
}

fn array_len(tape: &[Node<'_>], a: usize) -> usize {
    match tape[a] {
        Node::Array { len, .. } => len as usize,
        _ => 0,
    }
}

fn shape_is(tape: &[Node<'_>], shape: usize, want: &[usize]) -> bool {
    matches!(tape[shape], Node::Array { .. })
        && array_len(tape, shape) == want.len()
        && items(tape, shape)
            .zip(want)
            .all(|(d, &w)| matches!(&tape[d], Node::Number(n) if n.as_f64() == Some(w as f64)))
}

/// The numbers of a `FLAT` value at `v` (a scalar, an array, or a tensor's `data`) appended to `out`: how many,
/// Err when one is not a number or there are none.
fn flat_numbers(tape: &[Node<'_>], v: usize, out: &mut Vec<f64>) -> Result<usize, ()> {
    match &tape[v] {
        Node::Object { .. } | Node::Array { .. } => {
            let d = data_of(tape, v)?.0;
            let n = array_len(tape, d);
            if n == 0 {
                return Err(());
            }
            push_numbers(tape, d, out)?;
            Ok(n)
        }
        Node::Number(x) => {
            out.push(number(x)?);
            Ok(1)
        }
        _ => Err(()),
    }
}

/// A message's named fields onto their columns (see `FIELDS`).
fn read_fields(tape: &[Node<'_>], spec: &PathSpec, out: &mut Out) -> Result<(), ()> {
    if out.columns.len() != spec.fields.len() {
        out.columns = spec.fields.iter().map(|_| Vec::new()).collect();
    }
    let before = out.columns.first().map_or(0, Vec::len);
    // the fields' common array of named tensors: its items' names read once a message (walking each field's path
    // would read every item's name for every field); a repeated name leaves each field to `walk`
    let mut named: Option<Vec<(&str, usize)>> = None;
    if spec.shared {
        let Some(a) = walk(tape, &spec.fields[0][..1])? else {
            out.counts.push(-1); // every field absent (the other half of a pair)
            return Ok(());
        };
        if !matches!(tape[a], Node::Array { .. }) {
            return Err(());
        }
        let names = items(tape, a)
            .map(|item| name_of(tape, item).map(|name| (name, item)))
            .collect::<Option<Vec<_>>>()
            .ok_or(())?;
        let mut sorted: Vec<&str> = names.iter().map(|&(name, _)| name).collect();
        sorted.sort_unstable();
        if sorted.windows(2).all(|w| w[0] != w[1]) {
            named = Some(names);
        }
    }
    let (mut rows, mut absent, mut uneven) = (None, false, false);
    for (j, (steps, column)) in spec.fields.iter().zip(out.columns.iter_mut()).enumerate() {
        let found = match &named {
            Some(names) => {
                let token = steps[1].token.as_str();
                let item = match names.get(j) {
                    Some(&(name, item)) if name == token => Some(item), // the fields in the tensors' order
                    _ => names.iter().find(|&&(name, _)| name == token).map(|&(_, item)| item),
                };
                walk_from(tape, item.ok_or(())?, &steps[2..], 2)?
            }
            None => walk(tape, steps)?,
        };
        match found {
            None => absent = true,
            Some(v) => {
                let n = flat_numbers(tape, v, column)?;
                uneven |= rows.is_some_and(|r| r != n);
                rows.get_or_insert(n);
            }
        }
    }
    let count = match rows {
        Some(n) if !absent && !uneven => n as i64,
        _ => {
            for column in out.columns.iter_mut() {
                column.truncate(before);
            }
            if rows.is_none() {
                -1
            } else {
                -2
            }
        }
    };
    out.counts.push(count);
    Ok(())
}

fn read(tape: &[Node<'_>], spec: &PathSpec, out: &mut Out) -> Result<(), ()> {
    if spec.kind == FIELDS {
        return read_fields(tape, spec, out);
    }
    let Some(v) = walk(tape, &spec.steps)? else {
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
            let (data, shape) = data_of(tape, v)?;
            let n = array_len(tape, data);
            match tape.get(data + 1) {
                _ if n == 0 => return Err(()),
                Some(Node::Array { .. }) => {
                    for row in items(tape, data) {
                        if !matches!(tape[row], Node::Array { .. }) || array_len(tape, row) != width {
                            return Err(());
                        }
                        push_numbers(tape, row, &mut out.numbers)?;
                    }
                    out.counts.push(n as i64);
                }
                Some(_) => {
                    if width == 0 || !n.is_multiple_of(width) {
                        return Err(());
                    }
                    let rows = n / width;
                    if let Some(s) = shape {
                        if !shape_is(tape, s, &[rows, width]) && !shape_is(tape, s, &[width]) {
                            return Err(());
                        }
                    }
                    push_numbers(tape, data, &mut out.numbers)?;
                    out.counts.push(rows as i64);
                }
                None => return Err(()),
            }
        }
        FLAT => {
            let n = flat_numbers(tape, v, &mut out.numbers)?;
            out.counts.push(n as i64);
        }
        SCALARS => {
            let (first, n) = match tape[v] {
                Node::Object { .. } | Node::Array { .. } => {
                    let d = data_of(tape, v)?.0;
                    (d + 1, array_len(tape, d))
                }
                _ => (v, 1),
            };
            if n == 0 {
                return Err(());
            }
            // each item a leaf (an array or object item is Err before the next is read)
            for node in &tape[first..first + n] {
                out.scalars.push(scalar(node)?);
            }
            out.counts.push(n as i64);
        }
        VALUE => out.scalars.push(scalar(&tape[v])?),
        TENSORS => {
            if !matches!(tape[v], Node::Array { .. }) {
                return Err(());
            }
            for item in items(tape, v) {
                if name_of(tape, item).is_none() {
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
    let mut tape: Vec<Node<'_>> = Vec::new();
    for value in values {
        if !crate::fastjson::parse(value, &mut tape) {
            // escapes and the unusual: serde_json decides
            let doc: Value<'_> = serde_json::from_slice(value).ok()?;
            tape.clear();
            flatten(doc, &mut tape);
        }
        if !matches!(tape[0], Node::Object { .. }) {
            return None;
        }
        for (spec, out) in specs.iter().zip(outs.iter_mut()) {
            read(&tape, spec, out).ok()?;
        }
    }
    Some(outs)
}

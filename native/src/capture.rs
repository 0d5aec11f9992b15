//! streamdrift's native capture-record reader: a poll of JSON capture records -> one set of columns per model,
//! without a Python object per value (serde_json into typed visitors; one Python string per id and per distinct
//! category value).
//!
//! It reads exactly the polls that `streamdrift.records` would read on its all-records fast path, and returns
//! `None` for any poll holding something else (a columnar batch, a bad or unusual record, a boolean, an integer
//! model version, a record without a timestamp, ...). The caller then takes the Python path, which handles every
//! case and names the dead-letter reasons. So this module never decides that input is bad; it only reads the
//! common, valid case faster. `tests/unit/ingest/test_native_records.py` checks that both paths give the same batches.
//!
//! The limits of `streamdrift.ingest.limits.CaptureLimits` apply here as there ([`Limits`]): a poll holding a
//! value beyond one (a long id, name or text, too many features, a timestamp out of range) is left to the
//! Python path, which dead-letters it; so whichever path reads a poll, the decisions are the same.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use serde::de::DeserializeSeed;

use crate::columns::{Col, Table};
use crate::limits::{too_long, Limits, LimitsArg};
use crate::scalars::Val;
use crate::topy::{column_to_py, raw_bytes, table_to_py};

mod record;

use record::{Prediction, Record, RecordSeed};

/// The rows of one (model id, model version) of the poll.
struct Group<'a> {
    model_id: Cow<'a, str>,
    model_version: Option<Cow<'a, str>>,
    sources: Vec<i64>,
    timestamps: Vec<i64>,
    ids: Vec<Option<Cow<'a, str>>>,
    features: Table<'a>,
    labels: Col<'a>,
    scores: Vec<f64>,
    any_score: bool,
    attributions: Table<'a>,
    any_attributions: bool,
}

impl<'a> Group<'a> {
    fn new(model_id: Cow<'a, str>, model_version: Option<Cow<'a, str>>, capacity: usize) -> Self {
        Group {
            model_id,
            model_version,
            sources: Vec::with_capacity(capacity),
            timestamps: Vec::with_capacity(capacity),
            ids: Vec::with_capacity(capacity),
            features: Table::new(capacity),
            labels: Col::with_nulls(0, capacity),
            scores: Vec::with_capacity(capacity),
            any_score: false,
            attributions: Table::new(0),
            any_attributions: false,
        }
    }
}

/// One message (one JSON document, nothing after it) through `seed`; None if it does not take it.
pub(crate) fn read_message<'a, S: DeserializeSeed<'a, Value = ()>>(value: &'a [u8], seed: S) -> Option<()> {
    // One UTF-8 check of the whole message; then serde_json reads it as text, with no check per value.
    let text = std::str::from_utf8(value).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    seed.deserialize(&mut de).ok()?;
    de.end().ok()
}

/// Parse every message; `None` at the first one the fast path does not take.
fn read_poll<'a>(values: &[&'a [u8]], limits: Limits) -> Option<Vec<Group<'a>>> {
    let mut groups: Vec<Group<'a>> = Vec::new();
    let mut last = 0usize;
    let mut features: Vec<(Cow<'a, str>, Val<'a>)> = Vec::with_capacity(64);
    let mut attributions: Vec<(Cow<'a, str>, Val<'a>)> = Vec::new();
    for (index, value) in values.iter().enumerate() {
        let mut record = Record::default();
        features.clear();
        attributions.clear();
        read_message(
            value,
            RecordSeed {
                limits,
                record: &mut record,
                features: &mut features,
                attributions: &mut attributions,
            },
        )?;
        let (model_id, timestamp) = (record.model_id?, record.timestamp?);
        if !record.has_features {
            return None;
        }
        let version = record.model_version.flatten();
        if last >= groups.len() || groups[last].model_id != model_id || groups[last].model_version != version {
            last = match groups
                .iter()
                .position(|g| g.model_id == model_id && g.model_version == version)
            {
                Some(i) => i,
                None => {
                    groups.push(Group::new(
                        model_id,
                        version,
                        if groups.is_empty() { values.len() } else { 0 },
                    ));
                    groups.len() - 1
                }
            };
        }
        let g = &mut groups[last];
        g.sources.push(index as i64);
        g.timestamps.push(timestamp);
        g.ids.push(record.inference_id.flatten());
        g.features.push_row(&mut features).ok()?;
        let (label, score) = match record.prediction.unwrap_or(Prediction::Absent) {
            Prediction::Absent => (Val::Null, None),
            Prediction::Scalar(v) => (v, None),
            Prediction::Pair(v, s) => (v, s),
        };
        if let Val::Str(text) = &label {
            if too_long(text, limits.max_value_chars) {
                return None;
            }
        }
        g.labels.push(label).ok()?;
        g.any_score |= score.is_some();
        g.scores.push(score.unwrap_or(f64::NAN));
        g.any_attributions |= record.attributions_object;
        g.attributions.push_row(&mut attributions).ok()?;
        if g.features.names.len() > limits.max_features || g.attributions.names.len() > limits.max_features {
            return None; // the Python path cuts the model's rows into batches of at most max_features names
        }
    }
    Some(groups)
}

fn text_or_none<'py>(py: Python<'py>, text: &Option<Cow<'_, str>>) -> Bound<'py, PyAny> {
    match text {
        Some(t) => PyString::new(py, t).into_any(),
        None => py.None().into_bound(py),
    }
}

fn group_to_py<'py>(py: Python<'py>, g: &Group<'_>) -> PyResult<Bound<'py, PyTuple>> {
    let ids = PyList::empty(py);
    for id in &g.ids {
        ids.append(text_or_none(py, id))?;
    }
    let none = || py.None().into_bound(py);
    let labels = if g.labels.any_value {
        column_to_py(py, &g.labels)?.into_any()
    } else {
        none()
    };
    let scores = if g.any_score {
        raw_bytes(py, &g.scores).into_any()
    } else {
        none()
    };
    let attributions = if g.any_attributions {
        table_to_py(py, &g.attributions)?.into_any()
    } else {
        none()
    };
    PyTuple::new(
        py,
        [
            PyString::new(py, &g.model_id).into_any(),
            text_or_none(py, &g.model_version),
            raw_bytes(py, &g.sources).into_any(),
            raw_bytes(py, &g.timestamps).into_any(),
            ids.into_any(),
            table_to_py(py, &g.features)?.into_any(),
            labels,
            scores,
            attributions,
        ],
    )
}

/// The poll's messages as bytes objects, or None when one is not bytes or longer than `max_message_bytes`, the
/// poll is empty, or it holds more than `max_total_bytes` in all.
pub(crate) fn poll_bytes<'py>(
    values: &Bound<'py, PyList>,
    max_message_bytes: usize,
    max_total_bytes: usize,
) -> Option<Vec<Bound<'py, PyBytes>>> {
    let mut held: Vec<Bound<'py, PyBytes>> = Vec::with_capacity(values.len());
    let mut total = 0usize;
    for item in values.iter() {
        let b = item.cast_into::<PyBytes>().ok()?;
        if b.as_bytes().len() > max_message_bytes {
            return None;
        }
        total += b.as_bytes().len();
        held.push(b);
    }
    (!held.is_empty() && total <= max_total_bytes).then_some(held)
}

/// Read a poll of JSON capture records (see the module docs). Returns a list of one tuple per (model id, model
/// version), in first-seen order: (model_id, model_version, sources, timestamps, inference_ids,
/// (feature names, feature columns), prediction column | None, scores | None, (names, columns) | None), where
/// sources / timestamps are int64 bytes, scores float64 bytes, and a column is (float64 bytes, Kind bytes,
/// [str | None] | None). None when the fast path does not take the poll (see [`poll_bytes`] for the limits).
#[pyfunction]
pub(crate) fn read_capture_records<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    max_message_bytes: usize,
    max_total_bytes: usize,
    limits: LimitsArg,
) -> PyResult<Option<Bound<'py, PyList>>> {
    let limits = Limits::from(limits);
    let Some(held) = poll_bytes(values, max_message_bytes, max_total_bytes) else {
        return Ok(None);
    };
    let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
    // The parse touches no Python object (the bytes objects are held above and immutable): other threads run
    // Python meanwhile (the data plane parses the next partition's messages while it profiles this one).
    let Some(groups) = py.detach(|| read_poll(&slices, limits)) else {
        return Ok(None);
    };
    let out = PyList::empty(py);
    for g in &groups {
        out.append(group_to_py(py, g)?)?;
    }
    Ok(Some(out))
}

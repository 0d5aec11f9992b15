//! The label-record reader: a poll of JSON label records -> rows, or None for the Python path (as
//! [`crate::capture`] for capture records).

use std::borrow::Cow;
use std::fmt;

use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::capture::{poll_bytes, read_message};
use crate::columns::Col;
use crate::limits::{too_long, Limits, LimitsArg, TimestampSeed};
use crate::scalars::{bail, once, Checked, Text, Val};
use crate::topy::{column_to_py, raw_bytes, Interner};

/// One label record: `{"model_id", "model_version"?, "inference_id", "label", "timestamp"}`, other keys ignored.
#[derive(Default)]
struct LabelRecord<'a> {
    model_id: Option<Cow<'a, str>>,
    model_version: Option<()>,
    inference_id: Option<Cow<'a, str>>,
    label: Option<Val<'a>>,
    timestamp: Option<i64>,
}

struct LabelVisitor<'b, 'a>(&'b mut LabelRecord<'a>, Limits);

impl<'de, 'b> DeserializeSeed<'de> for LabelVisitor<'b, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'b> Visitor<'de> for LabelVisitor<'b, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a label record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (r, limits) = (self.0, self.1);
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "model_id" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !s.is_empty() && !too_long(&s, limits.max_model_id_chars) => {
                        once(&mut r.model_id, s)?
                    }
                    _ => return Err(bail("model_id")),
                },
                "model_version" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !too_long(&s, limits.max_model_id_chars) => once(&mut r.model_version, ())?,
                    Val::Null => once(&mut r.model_version, ())?,
                    _ => return Err(bail("numeric or long model_version")),
                },
                "inference_id" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !too_long(&s, limits.max_inference_id_chars) => once(&mut r.inference_id, s)?,
                    _ => return Err(bail("inference_id")),
                },
                "label" => match map.next_value::<Val<'de>>()? {
                    Val::Null => return Err(bail("null label")),
                    Val::Str(t) if too_long(&t, limits.max_value_chars) => return Err(bail("long label")),
                    v => once(&mut r.label, v)?,
                },
                "timestamp" => {
                    let seed = TimestampSeed {
                        min: limits.min_ts,
                        max: limits.max_ts,
                    };
                    once(&mut r.timestamp, map.next_value_seed(seed)?)?
                }
                _ => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(())
    }
}

/// The rows of a poll of label records, or None at the first message the fast path does not take.
struct Labels<'a> {
    model_ids: Vec<Cow<'a, str>>,
    inference_ids: Vec<Cow<'a, str>>,
    timestamps: Vec<i64>,
    labels: Col<'a>,
}

fn read_label_poll<'a>(values: &[&'a [u8]], limits: Limits) -> Option<Labels<'a>> {
    let n = values.len();
    let mut out = Labels {
        model_ids: Vec::with_capacity(n),
        inference_ids: Vec::with_capacity(n),
        timestamps: Vec::with_capacity(n),
        labels: Col::with_nulls(0, n),
    };
    for value in values {
        let mut record = LabelRecord::default();
        read_message(value, LabelVisitor(&mut record, limits))?;
        out.model_ids.push(record.model_id?);
        out.inference_ids.push(record.inference_id?);
        out.timestamps.push(record.timestamp?);
        out.labels.push(record.label?).ok()?;
    }
    Some(out)
}

/// Read a poll of JSON label records: (model_ids, inference_ids, timestamps as int64 bytes, the label column as
/// in [`read_capture_records`]), one row per message in order; None when the fast path does not take the poll
/// (a bad or unusual record: the Python path names the dead letters).
#[pyfunction]
pub(crate) fn read_label_records<'py>(
    py: Python<'py>,
    values: &Bound<'py, PyList>,
    max_message_bytes: usize,
    max_total_bytes: usize,
    limits: LimitsArg,
) -> PyResult<Option<Bound<'py, PyTuple>>> {
    let limits = Limits::from(limits);
    let Some(held) = poll_bytes(values, max_message_bytes, max_total_bytes) else {
        return Ok(None);
    };
    let slices: Vec<&[u8]> = held.iter().map(|b| b.as_bytes()).collect();
    let Some(rows) = py.detach(|| read_label_poll(&slices, limits)) else {
        return Ok(None);
    };
    let models = PyList::empty(py);
    let mut interner = Interner::new(py);
    for model in &rows.model_ids {
        models.append(interner.get(model)?.0)?;
    }
    let ids = PyList::empty(py);
    for id in &rows.inference_ids {
        ids.append(PyString::new(py, id))?;
    }
    let result = PyTuple::new(
        py,
        [
            models.into_any(),
            ids.into_any(),
            raw_bytes(py, &rows.timestamps).into_any(),
            column_to_py(py, &rows.labels)?.into_any(),
        ],
    )?;
    Ok(Some(result))
}

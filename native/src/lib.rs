//! streamdrift's native capture-record reader: a poll of JSON capture records -> one set of columns per model,
//! without a Python object per value (serde_json into typed visitors; one Python string per id and per distinct
//! category value).
//!
//! It reads exactly the polls that `streamdrift.records` would read on its all-records fast path, and returns
//! `None` for any poll holding something else (a columnar batch, a bad or unusual record, a boolean, an integer
//! model version, a record without a timestamp, ...). The caller then takes the Python path, which handles every
//! case and names the dead-letter reasons. So this module never decides that input is bad; it only reads the
//! common, valid case faster. `tests/unit/test_native_records.py` checks that both paths give the same batches.
//!
//! The limits of `streamdrift.ingest.limits.CaptureLimits` apply here as there ([`Limits`]): a poll holding a
//! value beyond one (a long id, name or text, too many features, a timestamp out of range) is left to the
//! Python path, which dead-letters it; so whichever path reads a poll, the decisions are the same.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

mod arrowipc;
mod bloom;
mod fastjson;
mod frequent;
mod jointable;
mod jsonscan;
mod pairtable;
mod sort;
mod sourcepoll;
mod sourcevalue;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// `streamdrift.chunks.MAX_TIMESTAMP_MS`: 2^53 epoch milliseconds.
const MAX_TIMESTAMP_MS: f64 = 9_007_199_254_740_992.0;

fn bail<E: de::Error>(what: &str) -> E {
    E::custom(what)
}

// ------------------------------------------------------------------------------------------------ scalars

/// A JSON text that borrows from the message when it has no escapes.
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text(Cow::Owned(v)))
    }
}

impl<'de> de::Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor)
    }
}

/// Any JSON value, checked as orjson checks the whole document (numbers within a double, strings without lone
/// surrogates; nesting deeper than serde_json's 128 levels is refused, so such a poll takes the Python path) and
/// dropped: the values of keys the fast path does not read. (serde_json's `IgnoredAny` skips without checking, so
/// a record orjson refuses could be read here.)
struct Checked;

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked) // serde_json refuses a number beyond a double, as orjson does
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_none<E: de::Error>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_key::<Text<'de>>()?.is_some() {
            map.next_value::<Checked>()?;
        }
        Ok(Checked)
    }
}

impl<'de> de::Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

/// One JSON scalar the fast path takes: null, a number (a finite double: integers are rounded to nearest, ties to
/// even, as Python's int -> float, beyond 64 bits too, as orjson) or a string. Booleans, arrays, objects and
/// doubles that overflow are refused (the Python path handles them).
enum Val<'a> {
    Null,
    Num(f64),
    Str(Cow<'a, str>),
}

impl<'de> de::Deserialize<'de> for Val<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValVisitor)
    }
}

struct ValVisitor;

impl<'de> Visitor<'de> for ValVisitor {
    type Value = Val<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null, a number or a string")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Val::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Val::Null)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Val::Num(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Val::Num(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v == 0.0 && v.is_sign_negative() {
            // serde_json reads the integer `-0` as -0.0 where orjson reads 0: refuse both spellings
            return Err(bail("negative zero"));
        }
        Ok(Val::Num(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Val::Str(Cow::Owned(v.to_owned())))
    }
}

/// The limits of `streamdrift.ingest.limits.Checks` that the fast path applies: lengths in characters, the number
/// of features (and attributions) of a record and of a model in the poll, and the inclusive timestamp range.
#[derive(Clone, Copy)]
struct Limits {
    max_features: usize,
    max_model_id_chars: usize,
    max_inference_id_chars: usize,
    max_name_chars: usize,
    max_value_chars: usize,
    min_ts: i64,
    max_ts: i64,
}

/// The limits as Python passes them: (max_features, max_model_id_chars, max_inference_id_chars, max_name_chars,
/// max_value_chars, min_ts, max_ts).
type LimitsArg = (usize, usize, usize, usize, usize, i64, i64);

impl From<LimitsArg> for Limits {
    fn from(t: LimitsArg) -> Self {
        Limits {
            max_features: t.0,
            max_model_id_chars: t.1,
            max_inference_id_chars: t.2,
            max_name_chars: t.3,
            max_value_chars: t.4,
            min_ts: t.5,
            max_ts: t.6,
        }
    }
}

/// More than `limit` characters (code points, as Python's `len`); counted only when the bytes could be.
fn too_long(text: &str, limit: usize) -> bool {
    text.len() > limit && text.chars().count() > limit
}

/// An epoch-millisecond timestamp: an integer or a finite double in the limits' range (compared before the
/// truncation toward zero, as numpy's float -> int64 cast of the Python path).
struct TimestampSeed {
    min: i64,
    max: i64,
}

impl<'de> DeserializeSeed<'de> for TimestampSeed {
    type Value = i64;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<i64, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TimestampSeed {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("epoch milliseconds")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        if v < self.min || v > self.max || v < 0 || v as f64 >= MAX_TIMESTAMP_MS {
            return Err(bail("timestamp out of range"));
        }
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        if v > i64::MAX as u64 {
            return Err(bail("timestamp out of range"));
        }
        self.visit_i64(v as i64)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if !(0.0..MAX_TIMESTAMP_MS).contains(&v) || v < self.min as f64 || v > self.max as f64 {
            return Err(bail("timestamp out of range"));
        }
        Ok(v.trunc() as i64)
    }
}

// ------------------------------------------------------------------------------------------------ prediction

/// `prediction`: absent / null, a scalar, or an object with `label` and `score` (other keys ignored).
enum Prediction<'a> {
    Absent,
    Scalar(Val<'a>),
    Pair(Val<'a>, Option<f64>),
}

struct PredictionVisitor;

impl<'de> Visitor<'de> for PredictionVisitor {
    type Value = Prediction<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar or {label, score}")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Prediction::Absent)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Prediction::Absent)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        ValVisitor.visit_i64(v).map(Prediction::Scalar)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        ValVisitor.visit_u64(v).map(Prediction::Scalar)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        ValVisitor.visit_f64(v).map(Prediction::Scalar)
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        ValVisitor.visit_borrowed_str(v).map(Prediction::Scalar)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        ValVisitor.visit_str(v).map(Prediction::Scalar)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut label: Option<Val<'de>> = None;
        let mut score: Option<Option<f64>> = None;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "label" if label.is_none() => label = Some(map.next_value()?),
                "score" if score.is_none() => {
                    score = Some(match map.next_value::<Val<'de>>()? {
                        Val::Null => None,
                        Val::Num(x) => Some(x),
                        Val::Str(_) => return Err(bail("text score")),
                    })
                }
                "label" | "score" => return Err(bail("duplicate key")),
                _ => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(Prediction::Pair(label.unwrap_or(Val::Null), score.flatten()))
    }
}

impl<'de> de::Deserialize<'de> for Prediction<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PredictionVisitor)
    }
}

// ------------------------------------------------------------------------------------------------ one record

/// The fields of one record; `features` / `attributions` go to reusable buffers.
#[derive(Default)]
struct Record<'a> {
    model_id: Option<Cow<'a, str>>,
    model_version: Option<Option<Cow<'a, str>>>,
    timestamp: Option<i64>,
    inference_id: Option<Option<Cow<'a, str>>>,
    prediction: Option<Prediction<'a>>,
    has_features: bool,
    has_attributions: bool,
    attributions_object: bool, // `attributions` was an object (even an empty one), not null
}

struct Pairs<'b, 'a> {
    out: &'b mut Vec<(Cow<'a, str>, Val<'a>)>,
    numbers_only: bool,
    limits: Limits,
}

impl<'de, 'b> DeserializeSeed<'de> for Pairs<'b, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'b> Visitor<'de> for Pairs<'b, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object of scalars")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let limits = self.limits;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            let value: Val<'de> = map.next_value()?;
            match &value {
                Val::Str(_) if self.numbers_only => return Err(bail("text attribution")),
                Val::Str(t) if too_long(t, limits.max_value_chars) => return Err(bail("long text")),
                _ => {}
            }
            if too_long(&key, limits.max_name_chars) || self.out.len() >= limits.max_features {
                return Err(bail("a long name or too many features"));
            }
            self.out.push((key, value));
        }
        Ok(())
    }
}

struct RecordSeed<'b, 'a> {
    limits: Limits,
    record: &'b mut Record<'a>,
    features: &'b mut Vec<(Cow<'a, str>, Val<'a>)>,
    attributions: &'b mut Vec<(Cow<'a, str>, Val<'a>)>,
}

fn once<T, E: de::Error>(slot: &mut Option<T>, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(bail("duplicate key"));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de, 'b> DeserializeSeed<'de> for RecordSeed<'b, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, 'b> Visitor<'de> for RecordSeed<'b, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a capture record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let r = self.record;
        let limits = self.limits;
        while let Some(Text(key)) = map.next_key::<Text<'de>>()? {
            match key.as_ref() {
                "model_id" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !s.is_empty() && !too_long(&s, limits.max_model_id_chars) => {
                        once(&mut r.model_id, s)?
                    }
                    _ => return Err(bail("model_id")),
                },
                "model_version" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if !too_long(&s, limits.max_model_id_chars) => once(&mut r.model_version, Some(s))?,
                    Val::Null => once(&mut r.model_version, None)?,
                    _ => return Err(bail("numeric or long model_version")),
                },
                "timestamp" => {
                    let seed = TimestampSeed {
                        min: limits.min_ts,
                        max: limits.max_ts,
                    };
                    once(&mut r.timestamp, map.next_value_seed(seed)?)?
                }
                "inference_id" => match map.next_value::<Val<'de>>()? {
                    Val::Str(s) if too_long(&s, limits.max_inference_id_chars) => {
                        return Err(bail("long inference_id"))
                    }
                    Val::Str(s) => once(&mut r.inference_id, Some(s))?,
                    Val::Null => once(&mut r.inference_id, None)?,
                    Val::Num(_) => return Err(bail("numeric inference_id")),
                },
                "prediction" => once(&mut r.prediction, map.next_value()?)?,
                "features" => {
                    if r.has_features {
                        return Err(bail("duplicate key"));
                    }
                    r.has_features = true;
                    map.next_value_seed(Pairs {
                        out: &mut *self.features,
                        numbers_only: false,
                        limits,
                    })?;
                }
                "attributions" => {
                    if r.has_attributions {
                        return Err(bail("duplicate key"));
                    }
                    r.has_attributions = true;
                    r.attributions_object = map.next_value_seed(Nullable(Pairs {
                        out: &mut *self.attributions,
                        numbers_only: true,
                        limits,
                    }))?;
                }
                "format" => return Err(bail("a columnar batch")),
                _ => {
                    map.next_value::<Checked>()?;
                }
            }
        }
        Ok(())
    }
}

/// `null` (false) or what the inner seed reads (true): attributions.
struct Nullable<S>(S);

impl<'de, S: DeserializeSeed<'de, Value = ()>> DeserializeSeed<'de> for Nullable<S> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de, Value = ()>> Visitor<'de> for Nullable<S> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("null or an object")
    }
    fn visit_none<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        self.0.deserialize(d).map(|()| true)
    }
}

// ------------------------------------------------------------------------------------------------ columns

/// One column being filled: numbers (NaN where null) until a string arrives, then strings. A column holding both
/// is refused (the Python path classifies mixed columns value by value).
#[derive(Default)]
struct Col<'a> {
    numbers: Vec<f64>,
    strings: Option<Vec<Option<Cow<'a, str>>>>,
    any_value: bool,
}

impl<'a> Col<'a> {
    fn with_nulls(rows: usize, capacity: usize) -> Self {
        let mut numbers = Vec::with_capacity(capacity.max(rows));
        numbers.resize(rows, f64::NAN);
        Col {
            numbers,
            strings: None,
            any_value: false,
        }
    }

    fn len(&self) -> usize {
        match &self.strings {
            Some(s) => s.len(),
            None => self.numbers.len(),
        }
    }

    fn push(&mut self, value: Val<'a>) -> Result<(), ()> {
        match (value, &mut self.strings) {
            (Val::Null, Some(s)) => s.push(None),
            (Val::Null, None) => self.numbers.push(f64::NAN),
            (Val::Num(x), None) => {
                self.numbers.push(x);
                self.any_value = true;
            }
            (Val::Str(t), Some(s)) => s.push(Some(t)),
            (Val::Str(t), None) => {
                if self.any_value {
                    return Err(()); // numbers and text in one column
                }
                let mut s: Vec<Option<Cow<'a, str>>> = Vec::with_capacity(self.numbers.capacity().max(16));
                s.resize_with(self.numbers.len(), || None);
                s.push(Some(t));
                self.numbers = Vec::new();
                self.strings = Some(s);
                self.any_value = true;
            }
            (Val::Num(_), Some(_)) => return Err(()),
        }
        Ok(())
    }
}

/// Named columns of one group, in first-seen order (the Python path's order).
struct Table<'a> {
    names: Vec<Cow<'a, str>>,
    index: HashMap<Cow<'a, str>, usize>,
    cols: Vec<Col<'a>>,
    rows: usize,
    capacity: usize, // rows expected (the poll's messages): columns are allocated once
}

impl<'a> Table<'a> {
    fn new(capacity: usize) -> Self {
        Table {
            names: Vec::new(),
            index: HashMap::new(),
            cols: Vec::new(),
            rows: 0,
            capacity,
        }
    }

    fn column_of(&mut self, position: usize, name: Cow<'a, str>) -> usize {
        // Records of one producer repeat the same key order: try the same position first.
        if position < self.names.len() && self.names[position] == name {
            return position;
        }
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.cols.len();
        self.cols.push(Col::with_nulls(self.rows, self.capacity));
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }

    fn push_row(&mut self, pairs: &mut Vec<(Cow<'a, str>, Val<'a>)>) -> Result<(), ()> {
        for (position, (name, value)) in pairs.drain(..).enumerate() {
            let i = self.column_of(position, name);
            let col = &mut self.cols[i];
            if col.len() != self.rows {
                return Err(()); // a duplicate key (the Python path keeps the last; refuse)
            }
            col.push(value)?;
        }
        self.rows += 1;
        for col in &mut self.cols {
            if col.len() < self.rows {
                col.push(Val::Null)?;
            }
        }
        Ok(())
    }
}

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
fn read_message<'a, S: DeserializeSeed<'a, Value = ()>>(value: &'a [u8], seed: S) -> Option<()> {
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

// ------------------------------------------------------------------------------------------------ to Python

/// Numbers whose bytes are their value: no padding, every bit pattern valid.
trait Plain: Copy {}
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
struct Interner<'py, 's> {
    py: Python<'py>,
    seen: HashMap<&'s str, (i64, Bound<'py, PyString>)>,
    previous: Option<(&'s str, i64, Bound<'py, PyString>)>,
    /// the distinct texts in first-seen order (a text's code is its index here)
    values: Bound<'py, PyList>,
}

impl<'py, 's> Interner<'py, 's> {
    fn new(py: Python<'py>) -> Self {
        Interner {
            py,
            seen: HashMap::new(),
            previous: None,
            values: PyList::empty(py),
        }
    }

    /// The text's Python string and code.
    fn get(&mut self, text: &'s str) -> PyResult<(Bound<'py, PyString>, i64)> {
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
fn column_to_py<'py>(py: Python<'py>, col: &Col<'_>) -> PyResult<Bound<'py, PyTuple>> {
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

fn table_to_py<'py>(py: Python<'py>, table: &Table<'_>) -> PyResult<Bound<'py, PyTuple>> {
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
fn read_capture_records<'py>(
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

// ------------------------------------------------------------------------------------------------ labels

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
fn read_label_records<'py>(
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

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_capture_records, m)?)?;
    m.add_function(wrap_pyfunction!(read_label_records, m)?)?;
    m.add_function(wrap_pyfunction!(arrowipc::arrow_extent, m)?)?;
    m.add_function(wrap_pyfunction!(jsonscan::json_strings_within, m)?)?;
    m.add_class::<jointable::JoinTable>()?;
    m.add_class::<bloom::BloomFilter>()?;
    m.add_class::<pairtable::PairTable>()?;
    m.add_function(wrap_pyfunction!(jointable::key_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(jointable::hash_keys, m)?)?;
    m.add_function(wrap_pyfunction!(jointable::in_sample, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sorted_floats, m)?)?;
    m.add_function(wrap_pyfunction!(frequent::canonical_frequent_strings, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sorted_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(sourcepoll::read_source_poll, m)?)?;
    Ok(())
}

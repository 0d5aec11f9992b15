//! One capture record through serde visitors: its fields, its prediction, its features and attributions.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::limits::{too_long, Limits, TimestampSeed};
use crate::scalars::{bail, once, Checked, Text, Val, ValVisitor};

/// `prediction`: absent / null, a scalar, or an object with `label` and `score` (other keys ignored).
pub(super) enum Prediction<'a> {
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

/// The fields of one record; `features` / `attributions` go to reusable buffers.
#[derive(Default)]
pub(super) struct Record<'a> {
    pub(super) model_id: Option<Cow<'a, str>>,
    pub(super) model_version: Option<Option<Cow<'a, str>>>,
    pub(super) timestamp: Option<i64>,
    pub(super) inference_id: Option<Option<Cow<'a, str>>>,
    pub(super) prediction: Option<Prediction<'a>>,
    pub(super) has_features: bool,
    has_attributions: bool,
    pub(super) attributions_object: bool, // `attributions` was an object (even an empty one), not null
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

pub(super) struct RecordSeed<'b, 'a> {
    pub(super) limits: Limits,
    pub(super) record: &'b mut Record<'a>,
    pub(super) features: &'b mut Vec<(Cow<'a, str>, Val<'a>)>,
    pub(super) attributions: &'b mut Vec<(Cow<'a, str>, Val<'a>)>,
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

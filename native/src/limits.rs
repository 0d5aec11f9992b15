//! The limits of `streamdrift.ingest.limits.CaptureLimits` as the fast readers apply them, and the timestamp
//! they bound.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};

use crate::scalars::bail;

/// `streamdrift.chunks.MAX_TIMESTAMP_MS`: 2^53 epoch milliseconds.
const MAX_TIMESTAMP_MS: f64 = 9_007_199_254_740_992.0;

/// The limits of `streamdrift.ingest.limits.Checks` that the fast path applies: lengths in characters, the number
/// of features (and attributions) of a record and of a model in the poll, and the inclusive timestamp range.
#[derive(Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_features: usize,
    pub(crate) max_model_id_chars: usize,
    pub(crate) max_inference_id_chars: usize,
    pub(crate) max_name_chars: usize,
    pub(crate) max_value_chars: usize,
    pub(crate) min_ts: i64,
    pub(crate) max_ts: i64,
}

/// The limits as Python passes them: (max_features, max_model_id_chars, max_inference_id_chars, max_name_chars,
/// max_value_chars, min_ts, max_ts).
pub(crate) type LimitsArg = (usize, usize, usize, usize, usize, i64, i64);

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
pub(crate) fn too_long(text: &str, limit: usize) -> bool {
    text.len() > limit && text.chars().count() > limit
}

/// An epoch-millisecond timestamp: an integer or a finite double in the limits' range (compared before the
/// truncation toward zero, as numpy's float -> int64 cast of the Python path).
pub(crate) struct TimestampSeed {
    pub(crate) min: i64,
    pub(crate) max: i64,
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

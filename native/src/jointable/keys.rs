//! The join keys (`model_id \x1f inference_id`): their text in a slot, their hash, a batch's keys made from its
//! Python rows; and the keys' hashes and sample as Python functions.

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyList, PyString};

use crate::raw_bytes;

/// The process's key hasher (random keys: producers choose the inference ids). Join-key hashes are consistent
/// within a process only, which is all the spill needs (it does not survive a restart).
fn hasher() -> &'static RandomState {
    static HASHER: OnceLock<RandomState> = OnceLock::new();
    HASHER.get_or_init(RandomState::new)
}

pub(super) fn hash_of(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

/// Bytes of a key kept in its slot (a UUID inference id with a model id of up to 25 bytes fits).
const INLINE: usize = 62;

/// A join key's text: in the slot when short (no allocation, and a lookup reads the slot only), else boxed.
pub(super) enum Key {
    Inline(u8, [u8; INLINE]),
    Boxed(Box<[u8]>),
}

impl Key {
    pub(super) fn new(text: &[u8]) -> Key {
        if text.len() > INLINE {
            return Key::Boxed(text.into());
        }
        let mut bytes = [0u8; INLINE];
        bytes[..text.len()].copy_from_slice(text);
        Key::Inline(text.len() as u8, bytes)
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(n, bytes) => &bytes[..*n as usize],
            Key::Boxed(bytes) => bytes,
        }
    }

    /// Bytes allocated outside the slot (with the allocator's 16).
    pub(super) fn heap_bytes(&self) -> usize {
        match self {
            Key::Inline(..) => 0,
            Key::Boxed(bytes) => bytes.len() + 16,
        }
    }
}

impl Default for Key {
    fn default() -> Self {
        Key::Inline(0, [0; INLINE])
    }
}

/// The model id of every row, or one per row.
enum Models<'py> {
    One(Bound<'py, PyAny>),
    Each(Bound<'py, PyList>),
}

impl<'py> Models<'py> {
    fn of(models: &Bound<'py, PyAny>, n: usize) -> PyResult<Self> {
        if models.is_instance_of::<PyString>() {
            return Ok(Models::One(models.clone()));
        }
        let list = models.cast::<PyList>()?.clone();
        if list.len() != n {
            return Err(PyValueError::new_err(format!(
                "{} model ids for {} rows",
                list.len(),
                n
            )));
        }
        Ok(Models::Each(list))
    }

    fn get(&self, i: usize) -> PyResult<Bound<'py, PyAny>> {
        match self {
            Models::One(m) => Ok(m.clone()),
            Models::Each(list) => list.get_item(i),
        }
    }
}

/// `str(value)` as UTF-8, appended to `buf` (a `str` subclass too goes through its `__str__`, as in Python).
fn push_text(buf: &mut Vec<u8>, value: &Bound<'_, PyAny>) -> PyResult<()> {
    if let Ok(s) = value.cast_exact::<PyString>() {
        buf.extend_from_slice(s.to_str()?.as_bytes());
    } else {
        buf.extend_from_slice(value.str()?.to_str()?.as_bytes());
    }
    Ok(())
}

/// The rows' join keys, one at a time into one buffer.
pub(super) struct Keys<'py> {
    models: Models<'py>,
    ids: Bound<'py, PyList>,
    buf: Vec<u8>,
}

impl<'py> Keys<'py> {
    pub(super) fn new(models: &Bound<'py, PyAny>, ids: &Bound<'py, PyList>) -> PyResult<Self> {
        Ok(Keys {
            models: Models::of(models, ids.len())?,
            ids: ids.clone(),
            buf: Vec::with_capacity(64),
        })
    }

    pub(super) fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every row's key and hash, made before the table changes: a key that cannot be made (a lone surrogate, a
    /// failing `__str__`) raises with the table untouched.
    pub(super) fn all(&mut self, given: Option<&[i64]>) -> PyResult<KeyBatch> {
        let n = self.len();
        let mut batch = KeyBatch {
            text: Vec::with_capacity(48 * n),
            ends: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
        };
        for i in 0..n {
            let start = batch.text.len();
            batch.text.extend_from_slice(self.key(i)?);
            batch.hashes.push(match given {
                Some(hashes) => hashes[i] as u64,
                None => hash_of(&batch.text[start..]),
            });
            batch.ends.push(batch.text.len());
        }
        Ok(batch)
    }

    pub(super) fn key(&mut self, i: usize) -> PyResult<&[u8]> {
        self.buf.clear();
        push_text(&mut self.buf, &self.models.get(i)?)?;
        self.buf.push(0x1f);
        push_text(&mut self.buf, &self.ids.get_item(i)?)?;
        Ok(&self.buf)
    }
}

/// The keys of a batch's rows (one text, each row's end in it) and their hashes.
pub(super) struct KeyBatch {
    text: Vec<u8>,
    ends: Vec<usize>,
    hashes: Vec<u64>,
}

impl KeyBatch {
    pub(super) fn get(&self, i: usize) -> (&[u8], u64) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (&self.text[start..self.ends[i]], self.hashes[i])
    }
}

/// The join-key hashes of rows (model ids: one str for all rows or a list), as int64 bytes: the table's own.
#[pyfunction]
pub fn key_hashes<'py>(
    py: Python<'py>,
    models: &Bound<'py, PyAny>,
    ids: &Bound<'py, PyList>,
) -> PyResult<Bound<'py, PyByteArray>> {
    let mut keys = Keys::new(models, ids)?;
    let mut out = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        out.push(hash_of(keys.key(i)?) as i64);
    }
    Ok(raw_bytes(py, &out))
}

/// The hashes of join keys given as text, as int64 bytes (the same as [`key_hashes`] of their parts).
#[pyfunction]
pub fn hash_keys<'py>(py: Python<'py>, keys: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyByteArray>> {
    let mut out = Vec::with_capacity(keys.len());
    let mut buf = Vec::with_capacity(64);
    for key in keys.iter() {
        buf.clear();
        push_text(&mut buf, &key)?;
        out.push(hash_of(&buf) as i64);
    }
    Ok(raw_bytes(py, &out))
}

/// Whether each row's join key is in the deterministic join sample below `threshold` (`rate * 2^32`), as bool
/// bytes: the CRC-32 of the key's UTF-8 text, times 0x9E3779B97F4A7C15 (mod 2^64), upper 32 bits, below the
/// threshold. The same answer as `streamdrift.joinstore._in_sample` (a test checks), in every process.
#[pyfunction]
pub fn in_sample<'py>(
    py: Python<'py>,
    models: &Bound<'py, PyAny>,
    ids: &Bound<'py, PyList>,
    threshold: u64,
) -> PyResult<Bound<'py, PyByteArray>> {
    let mut keys = Keys::new(models, ids)?;
    let mut out = Vec::with_capacity(keys.len());
    for i in 0..keys.len() {
        let crc = u64::from(crc32fast::hash(keys.key(i)?));
        out.push(u8::from(crc.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32 < threshold));
    }
    Ok(raw_bytes(py, &out))
}

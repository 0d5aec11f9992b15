//! The request / response pair store's table (`streamdrift.ingest.sources.pairing.PairStore`): the halves that
//! wait for their other half, by pair id, in the order they came, with no Python object made per message.
//!
//! `PairTable.match_poll` offers a poll's halves in turn, exactly as the Python loop of `PairStore` does (which
//! stays as the reference: `tests/unit/ingest/sources/test_pairtable.py` checks both alike): the clock is the
//! latest Kafka timestamp seen; a waiting half with the same id is taken out, and expires when older than the TTL
//! before the clock; a half of the other role completes a pair, one of the same role is replaced (a duplicate); a
//! new half waits at the end of the order, and beyond `max_pending` halves or `max_bytes` of their messages the
//! oldest expire. The pairs come back column-wise (int64 bytes), with the halves that waited from an earlier
//! call ("carried") as tuples.
//!
//! An entry is a slot of a slab; a hash table of slot numbers finds it by id; a queue of (slot, generation) in
//! arrival order gives the oldest first (a reference whose slot was freed since has an older generation: skipped,
//! and the queue is compacted when such references pile up).

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use hashbrown::HashTable;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use crate::raw_bytes;

/// Stale queue references allowed beyond twice the live entries before the queue is compacted.
const STALE_SLACK: usize = 1024;

fn hasher() -> &'static RandomState {
    static HASHER: OnceLock<RandomState> = OnceLock::new();
    HASHER.get_or_init(RandomState::new)
}

/// A waiting half: what a match hands back to Python.
#[derive(Default)]
struct Half {
    id: String,
    request: bool,
    ts: i64,
    seq: i64,
    value: Option<Py<PyAny>>,
    headers: Option<Py<PyAny>>,
    key: Option<Py<PyAny>>,
    half: Option<Py<PyAny>>,
}

/// A slot of the table: a half and its bookkeeping (index hash, generation for the order queue, bytes).
#[derive(Default)]
struct Slot {
    hash: u64,
    gen: u32,
    live: bool,
    len: i64,
    half: Half,
}

/// The pairs a poll completed, column-wise.
#[derive(Default)]
struct Pairs<'py> {
    index: Vec<i64>,
    request: Vec<i64>,
    response: Vec<i64>,
    stamps: Vec<i64>,
    keys: Vec<Bound<'py, PyAny>>,
    carried: Vec<Bound<'py, PyAny>>,
}

#[pyclass(module = "streamdrift._native")]
pub struct PairTable {
    ttl_ms: i64,
    max_pending: usize,
    max_bytes: i64,
    bytes: i64,
    clock: Option<i64>,
    seq: i64,
    index: HashTable<u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    order: VecDeque<(u32, u32)>,
    live: usize,
}

impl PairTable {
    fn find(&self, id: &str, hash: u64) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(hash, |&s| slots[s as usize].half.id == id).copied()
    }

    /// Take the live entry in `slot` out of the table (index, bytes, count), freeing its slot.
    fn take(&mut self, slot: u32) -> Half {
        let s = &mut self.slots[slot as usize];
        let hash = s.hash;
        if let Ok(entry) = self.index.find_entry(hash, |&x| x == slot) {
            entry.remove();
        }
        s.live = false;
        s.gen = s.gen.wrapping_add(1);
        self.bytes -= s.len;
        self.live -= 1;
        self.free.push(slot);
        std::mem::take(&mut s.half)
    }

    /// Drop the live entry in `slot` (its Python objects are released; its id's allocation stays for the next).
    fn drop_slot(&mut self, slot: u32) {
        let taken = self.take(slot);
        self.reuse(slot, taken.id);
    }

    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        id: &str,
        hash: u64,
        request: bool,
        ts: i64,
        seq: i64,
        len: i64,
        value: Py<PyAny>,
        headers: Py<PyAny>,
        key: Py<PyAny>,
        half: Option<Py<PyAny>>,
    ) {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.slots.push(Slot::default());
                (self.slots.len() - 1) as u32
            }
        };
        let s = &mut self.slots[slot as usize];
        s.hash = hash;
        s.live = true;
        s.len = len;
        let h = &mut s.half;
        h.id.clear();
        h.id.push_str(id);
        h.request = request;
        h.ts = ts;
        h.seq = seq;
        h.value = Some(value);
        h.headers = Some(headers);
        h.key = Some(key);
        h.half = half;
        let gen = s.gen;
        let slots = &self.slots;
        self.index.insert_unique(hash, slot, |&x| slots[x as usize].hash);
        self.order.push_back((slot, gen));
        self.live += 1;
        self.bytes += len;
    }

    /// The oldest live entry's slot (stale references before it are dropped from the queue).
    fn oldest(&mut self) -> Option<u32> {
        while let Some(&(slot, gen)) = self.order.front() {
            let s = &self.slots[slot as usize];
            if s.live && s.gen == gen {
                return Some(slot);
            }
            self.order.pop_front();
        }
        None
    }

    fn compact(&mut self) {
        if self.order.len() > 2 * self.live + STALE_SLACK {
            let slots = &self.slots;
            self.order.retain(|&(slot, gen)| {
                let s = &slots[slot as usize];
                s.live && s.gen == gen
            });
        }
    }
}

fn role_name(request: bool) -> &'static str {
    if request {
        "request"
    } else {
        "response"
    }
}

#[pymethods]
impl PairTable {
    #[new]
    fn new(ttl_ms: i64, max_pending: usize, max_bytes: i64) -> Self {
        PairTable {
            ttl_ms,
            max_pending,
            max_bytes,
            bytes: 0,
            clock: None,
            seq: 0,
            index: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            order: VecDeque::new(),
            live: 0,
        }
    }

    fn __len__(&self) -> usize {
        self.live
    }

    /// Bytes of the waiting halves' messages.
    #[getter]
    fn nbytes(&self) -> i64 {
        self.bytes
    }

    /// The latest Kafka timestamp seen (None before the first half).
    #[getter]
    fn clock(&self) -> Option<i64> {
        self.clock
    }

    /// Offer a poll's halves in turn (see the module docs): `ids` (str), `requests` one byte per half (nonzero:
    /// a request, else a response), `stamps` (Kafka timestamps), `keys`, `headers`, `values` (each half's message:
    /// its `len()` counts towards `max_bytes`), `halves` (decoded halves kept with them, or None). Returns
    /// (index, request, response, timestamp: int64 bytes per pair, keys: list, carried: list of (pair id, role,
    /// value, headers, timestamp, key, seq, half) tuples, (paired, duplicate, expired)); a pair's request and
    /// response are the position of their message in the poll, or `-(k + 1)` for `carried[k]`, a half that waited
    /// from an earlier call. Raises (the table untouched) when the lengths differ or an id is not a str.
    #[allow(clippy::too_many_arguments, clippy::type_complexity)]
    #[pyo3(signature = (ids, requests, stamps, keys, headers, values, halves=None))]
    fn match_poll<'py>(
        &mut self,
        py: Python<'py>,
        ids: &Bound<'py, PyList>,
        requests: &[u8],
        stamps: Vec<i64>,
        keys: &Bound<'py, PyList>,
        headers: &Bound<'py, PyList>,
        values: &Bound<'py, PyList>,
        halves: Option<&Bound<'py, PyList>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let n = ids.len();
        let lengths = [requests.len(), stamps.len(), keys.len(), headers.len(), values.len()];
        if lengths.iter().any(|&l| l != n) || halves.is_some_and(|h| h.len() != n) {
            return Err(PyValueError::new_err(format!(
                "match_poll: {n} ids with {lengths:?} roles, stamps, keys, headers, values"
            )));
        }
        // every id and length before the table changes
        let mut texts: Vec<Bound<'py, PyString>> = Vec::with_capacity(n);
        let mut lens: Vec<i64> = Vec::with_capacity(n);
        for (id, value) in ids.iter().zip(values.iter()) {
            let Ok(text) = id.cast_into_exact::<PyString>() else {
                return Err(PyTypeError::new_err("match_poll: a pair id is not a str"));
            };
            text.to_str()?;
            texts.push(text);
            lens.push(value.len()? as i64);
        }
        let base = self.seq;
        let (mut paired, mut duplicate, mut expired) = (0u64, 0u64, 0u64);
        let mut out = Pairs::default();
        for i in 0..n {
            let id = texts[i].to_str()?;
            let hash = hasher().hash_one(id.as_bytes());
            let stamp = stamps[i];
            let clock = match self.clock {
                Some(c) if c >= stamp => c,
                _ => stamp,
            };
            self.clock = Some(clock);
            let request = requests[i] != 0;
            if let Some(slot) = self.find(id, hash) {
                let other = self.take(slot);
                if other.ts < clock - self.ttl_ms {
                    expired += 1;
                } else if other.request != request {
                    paired += 1;
                    let key_i = keys.get_item(i)?;
                    let key = if key_i.is_none() {
                        other
                            .key
                            .as_ref()
                            .map_or_else(|| py.None().into_bound(py), |k| k.bind(py).clone())
                    } else {
                        key_i
                    };
                    let reference = if other.seq >= base {
                        other.seq - base
                    } else {
                        out.carried.push(
                            PyTuple::new(
                                py,
                                [
                                    PyString::new(py, &other.id).into_any(),
                                    PyString::new(py, role_name(other.request)).into_any(),
                                    bound_or_none(py, other.value),
                                    bound_or_none(py, other.headers),
                                    other.ts.into_pyobject(py)?.into_any(),
                                    bound_or_none(py, other.key),
                                    other.seq.into_pyobject(py)?.into_any(),
                                    bound_or_none(py, other.half),
                                ],
                            )?
                            .into_any(),
                        );
                        -(out.carried.len() as i64)
                    };
                    out.index.push(i as i64);
                    if request {
                        out.request.push(i as i64);
                        out.response.push(reference);
                        out.stamps.push(stamp);
                    } else {
                        out.request.push(reference);
                        out.response.push(i as i64);
                        out.stamps.push(other.ts);
                    }
                    out.keys.push(key);
                    self.reuse(slot, other.id);
                    continue;
                } else {
                    duplicate += 1;
                }
                self.reuse(slot, other.id);
            }
            self.insert(
                id,
                hash,
                request,
                stamp,
                base + i as i64,
                lens[i],
                values.get_item(i)?.unbind(),
                headers.get_item(i)?.unbind(),
                keys.get_item(i)?.unbind(),
                match halves {
                    Some(h) => Some(h.get_item(i)?.unbind()),
                    None => None,
                },
            );
            while self.live > self.max_pending || self.bytes > self.max_bytes {
                let Some(slot) = self.oldest() else { break };
                self.drop_slot(slot);
                expired += 1;
            }
        }
        self.seq = base + n as i64;
        self.compact();
        PyTuple::new(
            py,
            [
                raw_bytes(py, &out.index).into_any(),
                raw_bytes(py, &out.request).into_any(),
                raw_bytes(py, &out.response).into_any(),
                raw_bytes(py, &out.stamps).into_any(),
                PyList::new(py, out.keys)?.into_any(),
                PyList::new(py, out.carried)?.into_any(),
                (paired, duplicate, expired).into_pyobject(py)?.into_any(),
            ],
        )
    }

    /// Drop the halves older than the TTL before the latest timestamp seen; how many expired.
    fn expire(&mut self) -> u64 {
        let Some(clock) = self.clock else { return 0 };
        let horizon = clock - self.ttl_ms;
        let old: Vec<u32> = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live && s.half.ts < horizon)
            .map(|(i, _)| i as u32)
            .collect();
        for &slot in &old {
            self.drop_slot(slot);
        }
        self.compact();
        old.len() as u64
    }
}

impl PairTable {
    /// Give a freed slot back its id's allocation (the next id written there reuses it).
    fn reuse(&mut self, slot: u32, mut id: String) {
        let s = &mut self.slots[slot as usize];
        if !s.live && s.half.id.capacity() < id.capacity() {
            id.clear();
            s.half.id = id;
        }
    }
}

fn bound_or_none<'py>(py: Python<'py>, obj: Option<Py<PyAny>>) -> Bound<'py, PyAny> {
    match obj {
        Some(o) => o.into_bound(py),
        None => py.None().into_bound(py),
    }
}

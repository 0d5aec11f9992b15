//! The label join's in-memory part: pending predictions, matched keys and waiting labels by join key
//! (`model_id \x1f inference_id`), with no Python object per entry.
//!
//! `streamdrift.joinstore.JoinStore` keeps the semantics (which entry wins, what counts as a duplicate, when an
//! entry expires) and the spill to disk; this table answers, for a whole batch at once, what happens to each row
//! against what is held in memory. An entry is a slot of a slab; a hash table of (hash, slot) finds it by key.
//! Two queues of (slot, generation) in arrival order give the entries to spill first (predictions and matched
//! keys; waiting labels): the first stored, which in a stream in time order are the oldest. A queued reference
//! whose slot was freed or turned into another kind since (a waiting label matched by a prediction) has an older
//! generation: skipped. Expiry is exact by time: nothing to do while the cutoff is below a lower bound of the
//! times held; a queue stored in time order gives up its expired front (O(entries expired)); otherwise a scan of
//! the slots finds them, and sorts the queue by time for the next calls.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;

use hashbrown::HashTable;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

use crate::raw_bytes;

/// Row outcomes (`streamdrift.joinstore`): stored or waiting, duplicate, matched with an entry held here,
/// left to the caller (a spilled pending prediction), matched with a pending prediction of another type.
const STORED: u8 = 0;
const DUPLICATE: u8 = 1;
const MATCHED: u8 = 2;
const SPILLED: u8 = 3;
const MATCHED_OTHER: u8 = 4;

/// Entry kinds, as `streamdrift.joinstore` spills them: free slot (or expired row), matched key, pending
/// prediction of float prediction and score, pending prediction of other values; and a waiting label.
const FREE: u8 = 0;
const DONE: u8 = 1;
const PACKED: u8 = 2;
const OTHER: u8 = 3;
const LABEL: u8 = 4;

/// Stale references a queue may hold beyond twice its live ones before it is compacted.
const STALE_SLACK: usize = 4096;

/// (slot, generation) in the order stored.
type Queue = VecDeque<(u32, u32)>;

/// The entries (or the waiting labels) in the order stored, and what expiry knows of their times: whether the
/// queue is in time order (stored in time order, or sorted by the last scan), the latest time queued, a lower
/// bound of the times held.
struct Order {
    refs: Queue,
    sorted: bool,
    last: i64,
    floor: i64,
}

impl Order {
    fn new() -> Self {
        Order {
            refs: VecDeque::new(),
            sorted: true,
            last: i64::MIN,
            floor: i64::MAX,
        }
    }

    fn push(&mut self, r: (u32, u32), t: i64) {
        self.refs.push_back(r);
        self.sorted &= t >= self.last;
        self.last = self.last.max(t);
        self.floor = self.floor.min(t);
    }
}

/// The process's key hasher (random keys: producers choose the inference ids). Join-key hashes are consistent
/// within a process only, which is all the spill needs (it does not survive a restart).
fn hasher() -> &'static RandomState {
    static HASHER: OnceLock<RandomState> = OnceLock::new();
    HASHER.get_or_init(RandomState::new)
}

fn hash_of(key: &[u8]) -> u64 {
    hasher().hash_one(key)
}

/// Bytes of a key kept in its slot (a UUID inference id with a model id of up to 25 bytes fits).
const INLINE: usize = 62;

/// A join key's text: in the slot when short (no allocation, and a lookup reads the slot only), else boxed.
enum Key {
    Inline(u8, [u8; INLINE]),
    Boxed(Box<[u8]>),
}

impl Key {
    fn new(text: &[u8]) -> Key {
        if text.len() > INLINE {
            return Key::Boxed(text.into());
        }
        let mut bytes = [0u8; INLINE];
        bytes[..text.len()].copy_from_slice(text);
        Key::Inline(text.len() as u8, bytes)
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline(n, bytes) => &bytes[..*n as usize],
            Key::Boxed(bytes) => bytes,
        }
    }

    /// Bytes allocated outside the slot (with the allocator's 16).
    fn heap_bytes(&self) -> usize {
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

struct Slot {
    key: Key,
    hash: u64,
    kind: u8,
    gen: u32,
    /// prediction time (PACKED, OTHER, DONE) or arrival (LABEL)
    t: i64,
    p: f64,
    s: f64,
    /// OTHER: the (ts, y_pred, score) tuple; LABEL: the label
    obj: Option<Py<PyAny>>,
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
struct Keys<'py> {
    models: Models<'py>,
    ids: Bound<'py, PyList>,
    buf: Vec<u8>,
}

impl<'py> Keys<'py> {
    fn new(models: &Bound<'py, PyAny>, ids: &Bound<'py, PyList>) -> PyResult<Self> {
        Ok(Keys {
            models: Models::of(models, ids.len())?,
            ids: ids.clone(),
            buf: Vec::with_capacity(64),
        })
    }

    fn len(&self) -> usize {
        self.ids.len()
    }

    /// Every row's key and hash, made before the table changes: a key that cannot be made (a lone surrogate, a
    /// failing `__str__`) raises with the table untouched.
    fn all(&mut self, given: Option<&[i64]>) -> PyResult<KeyBatch> {
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

    fn key(&mut self, i: usize) -> PyResult<&[u8]> {
        self.buf.clear();
        push_text(&mut self.buf, &self.models.get(i)?)?;
        self.buf.push(0x1f);
        push_text(&mut self.buf, &self.ids.get_item(i)?)?;
        Ok(&self.buf)
    }
}

/// The keys of a batch's rows (one text, each row's end in it) and their hashes.
struct KeyBatch {
    text: Vec<u8>,
    ends: Vec<usize>,
    hashes: Vec<u64>,
}

impl KeyBatch {
    fn get(&self, i: usize) -> (&[u8], u64) {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        (&self.text[start..self.ends[i]], self.hashes[i])
    }
}

/// `n` int64 values from their native-order bytes; a ValueError when the length is not `8 * n`.
pub(crate) fn int64s(bytes: &[u8], n: usize, what: &str) -> PyResult<Vec<i64>> {
    if bytes.len() != 8 * n {
        return Err(PyValueError::new_err(format!(
            "{what}: {} bytes for {n} rows",
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(8)
        .map(|c| i64::from_ne_bytes(c.try_into().unwrap()))
        .collect())
}

fn float64s(bytes: &[u8], n: usize, what: &str) -> PyResult<Vec<f64>> {
    Ok(int64s(bytes, n, what)?
        .into_iter()
        .map(|v| f64::from_bits(v as u64))
        .collect())
}

fn flags(bytes: Option<&[u8]>, n: usize) -> PyResult<Vec<u8>> {
    match bytes {
        None => Ok(vec![0; n]),
        Some(b) if b.len() == n => Ok(b.to_vec()),
        Some(b) => Err(PyValueError::new_err(format!("{} row flags for {n} rows", b.len()))),
    }
}

/// Entries taken out of the table, in order (see [`JoinTable::take_entries`]).
#[derive(Default)]
struct Taken {
    text: Vec<u8>,
    offsets: Vec<i64>,
    hashes: Vec<i64>,
    kinds: Vec<u8>,
    t: Vec<i64>,
    p: Vec<f64>,
    s: Vec<f64>,
    objects: Vec<Option<Py<PyAny>>>,
}

/// See the module docs.
#[pyclass(module = "streamdrift._native")]
pub struct JoinTable {
    /// (hash, slot) of every live slot: growing the table rehashes without reading a key
    table: HashTable<(u64, u32)>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    entries: Order,
    labels: Order,
    n_entries: usize,
    n_done: usize,
    n_labels: usize,
    n_objects: usize,
    key_bytes: usize,
}

impl JoinTable {
    fn find(&self, h: u64, key: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.table
            .find(h, |&(g, i)| g == h && slots[i as usize].key.as_bytes() == key)
            .map(|&(_, i)| i)
    }

    /// Store a new entry (`kind` at time `t`, with its prediction and score, or its object).
    fn insert(&mut self, h: u64, key: Key, kind: u8, t: i64, (p, s, obj): (f64, f64, Option<Py<PyAny>>)) -> u32 {
        self.key_bytes += key.heap_bytes();
        self.n_objects += usize::from(obj.is_some());
        let idx = match self.free.pop() {
            Some(i) => {
                let slot = &mut self.slots[i as usize];
                (slot.key, slot.hash) = (key, h);
                (slot.kind, slot.t, slot.p, slot.s, slot.obj) = (kind, t, p, s, obj);
                i
            }
            None => {
                let gen = 0;
                self.slots.push(Slot {
                    key,
                    hash: h,
                    kind,
                    gen,
                    t,
                    p,
                    s,
                    obj,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.table.insert_unique(h, (h, idx), |&(g, _)| g);
        let gen = self.slots[idx as usize].gen;
        if kind == LABEL {
            self.n_labels += 1;
            self.labels.push((idx, gen), t);
        } else {
            self.n_entries += 1;
            self.n_done += usize::from(kind == DONE);
            self.entries.push((idx, gen), t);
        }
        idx
    }

    /// Free a slot (its entry leaves the table); returns its key, kind, values and object.
    fn remove(&mut self, idx: u32) -> Slot {
        let h = self.slots[idx as usize].hash;
        if let Ok(entry) = self.table.find_entry(h, |&(_, i)| i == idx) {
            entry.remove();
        }
        self.release(idx)
    }

    /// [`JoinTable::remove`] but for the hash table, which still names the slot: the caller drops such names
    /// (slots now FREE) from it.
    fn release(&mut self, idx: u32) -> Slot {
        let slot = &mut self.slots[idx as usize];
        let (h, gen) = (slot.hash, slot.gen);
        let taken = Slot {
            key: std::mem::take(&mut slot.key),
            hash: h,
            kind: std::mem::replace(&mut slot.kind, FREE),
            gen,
            t: slot.t,
            p: slot.p,
            s: slot.s,
            obj: slot.obj.take(),
        };
        slot.gen = gen.wrapping_add(1);
        self.free.push(idx);
        self.key_bytes -= taken.key.heap_bytes();
        self.n_objects -= usize::from(taken.obj.is_some());
        if taken.kind == LABEL {
            self.n_labels -= 1;
        } else {
            self.n_entries -= 1;
            self.n_done -= usize::from(taken.kind == DONE);
        }
        taken
    }

    fn live(&self, (idx, gen): (u32, u32), labels: bool) -> bool {
        let slot = &self.slots[idx as usize];
        slot.gen == gen && slot.kind != FREE && (slot.kind == LABEL) == labels
    }

    /// The first stored live entry (or label) taken off its queue.
    fn pop_first(&mut self, labels: bool) -> Option<u32> {
        loop {
            let order = if labels { &mut self.labels } else { &mut self.entries };
            let r = order.refs.pop_front()?;
            if self.live(r, labels) {
                return Some(r.0);
            }
        }
    }

    fn order(&mut self, labels: bool) -> &mut Order {
        if labels {
            &mut self.labels
        } else {
            &mut self.entries
        }
    }

    /// Expire from the front of a queue in time order; returns the kinds removed.
    fn expire_front(&mut self, labels: bool, cutoff: i64) -> Vec<u8> {
        let mut removed = Vec::new();
        loop {
            let Some(&r) = self.order(labels).refs.front() else {
                self.order(labels).floor = i64::MAX;
                break;
            };
            if self.live(r, labels) {
                let t = self.slots[r.0 as usize].t;
                if t >= cutoff {
                    self.order(labels).floor = t;
                    break;
                }
                removed.push(self.remove(r.0).kind);
            }
            self.order(labels).refs.pop_front();
        }
        removed
    }

    /// Expire by a scan of the slots, then sort the queue by time; returns the kinds removed.
    fn expire_scan(&mut self, labels: bool, cutoff: i64) -> Vec<u8> {
        let mut removed = Vec::new();
        let mut kept: Vec<(i64, u32, u32)> = Vec::new();
        for idx in 0..self.slots.len() {
            let slot = &self.slots[idx];
            if slot.kind == FREE || (slot.kind == LABEL) != labels {
                continue;
            }
            if slot.t >= cutoff {
                kept.push((slot.t, idx as u32, slot.gen));
            } else {
                removed.push(self.remove(idx as u32).kind);
            }
        }
        kept.sort_by_key(|&(t, _, _)| t); // stable: the order stored among equal times
        let order = self.order(labels);
        order.floor = kept.first().map_or(i64::MAX, |k| k.0);
        order.last = kept.last().map_or(i64::MIN, |k| k.0);
        order.refs = kept.into_iter().map(|(_, idx, gen)| (idx, gen)).collect();
        order.sorted = true;
        removed
    }

    /// The rows of [`JoinTable::add_predictions`], without the GIL: (outcome per row, the matched labels).
    #[allow(clippy::too_many_arguments)]
    fn add_prediction_rows(
        &mut self,
        batch: &KeyBatch,
        spilled: &[u8],
        ts: &[i64],
        p: &[f64],
        s: &[f64],
        others: Option<Vec<Py<PyAny>>>,
    ) -> (Vec<u8>, Vec<Option<Py<PyAny>>>) {
        let n = ts.len();
        let mut out = vec![STORED; n];
        let mut matched = Vec::new();
        let mut others = others.map(|o| o.into_iter().map(Some).collect::<Vec<_>>());
        for i in 0..n {
            if spilled[i] != 0 {
                out[i] = DUPLICATE;
                continue;
            }
            let (key, h) = batch.get(i);
            match self.find(h, key) {
                Some(idx) if self.slots[idx as usize].kind == LABEL => {
                    let slot = &mut self.slots[idx as usize];
                    matched.push(slot.obj.take());
                    slot.gen = slot.gen.wrapping_add(1); // its labels-queue reference is stale now
                    (slot.kind, slot.t) = (DONE, ts[i]);
                    let r = (idx, slot.gen);
                    self.entries.push(r, ts[i]);
                    (self.n_labels, self.n_objects) = (self.n_labels - 1, self.n_objects - 1);
                    (self.n_entries, self.n_done) = (self.n_entries + 1, self.n_done + 1);
                    out[i] = MATCHED;
                }
                Some(_) => out[i] = DUPLICATE,
                None => {
                    let key = Key::new(key);
                    match others.as_mut() {
                        Some(o) => self.insert(h, key, OTHER, ts[i], (f64::NAN, f64::NAN, o[i].take())),
                        None => self.insert(h, key, PACKED, ts[i], (p[i], s[i], None)),
                    };
                }
            }
        }
        self.compact();
        (out, matched)
    }

    /// The `want` first stored entries taken out, without the GIL.
    fn take_first(&mut self, want: usize) -> Taken {
        let mut out = Taken {
            offsets: vec![0],
            ..Taken::default()
        };
        while out.kinds.len() < want {
            let Some(idx) = self.pop_first(false) else { break };
            let slot = self.release(idx);
            out.text.extend_from_slice(slot.key.as_bytes());
            out.offsets.push(out.text.len() as i64);
            out.hashes.push(slot.hash as i64);
            out.kinds.push(slot.kind);
            out.t.push(slot.t);
            out.p.push(slot.p);
            out.s.push(slot.s);
            out.objects.push(slot.obj);
        }
        if !out.kinds.is_empty() {
            // one pass over the hash table instead of a random probe per entry taken (a spill takes about half)
            let slots = &self.slots;
            self.table.retain(|&mut (_, i)| slots[i as usize].kind != FREE);
        }
        out
    }

    /// Drop the stale references of a queue once they outnumber its live ones (plus a slack).
    fn compact(&mut self) {
        for labels in [false, true] {
            let (queue, live) = if labels {
                (&self.labels.refs, self.n_labels)
            } else {
                (&self.entries.refs, self.n_entries)
            };
            if queue.len() > 2 * live + STALE_SLACK {
                let kept: Queue = queue.iter().copied().filter(|&r| self.live(r, labels)).collect();
                self.order(labels).refs = kept;
            }
        }
    }
}

#[pymethods]
impl JoinTable {
    #[new]
    fn new() -> Self {
        JoinTable {
            table: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            entries: Order::new(),
            labels: Order::new(),
            n_entries: 0,
            n_done: 0,
            n_labels: 0,
            n_objects: 0,
            key_bytes: 0,
        }
    }

    /// Pending predictions and matched keys held.
    #[getter]
    fn entries(&self) -> usize {
        self.n_entries
    }

    /// Matched keys held.
    #[getter]
    fn done(&self) -> usize {
        self.n_done
    }

    /// Waiting labels held.
    #[getter]
    fn labels(&self) -> usize {
        self.n_labels
    }

    /// Bytes held: slots, keys too long for their slot, the hash table, the queues; and 64 bytes per
    /// Python object held (labels, predictions of other types), an estimate.
    fn nbytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.key_bytes
            + self.table.capacity() * (std::mem::size_of::<(u64, u32)>() + 1)
            + (self.entries.refs.capacity() + self.labels.refs.capacity()) * 8
            + self.free.capacity() * 4
            + 64 * self.n_objects
    }

    /// Predictions, in row order: a row flagged in `spilled` (its key is held in the spill) or whose key is held
    /// here as an entry (or came earlier in the batch) is a DUPLICATE; one whose label waits here is MATCHED (the
    /// label is taken, in row order, into the returned list; the key becomes a matched key); any other is
    /// STORED as a pending prediction: (ts, p, s) or, when `others` is given, its object. `hashes` (int64 bytes):
    /// the rows' key hashes as [`key_hashes`] gives them, when the caller has them already. Returns (outcome per
    /// row as uint8 bytes, the matched labels).
    #[pyo3(signature = (models, ids, ts, p, s, others=None, spilled=None, hashes=None))]
    #[allow(clippy::too_many_arguments)]
    fn add_predictions<'py>(
        &mut self,
        py: Python<'py>,
        models: &Bound<'py, PyAny>,
        ids: &Bound<'py, PyList>,
        ts: &[u8],
        p: &[u8],
        s: &[u8],
        others: Option<&Bound<'py, PyList>>,
        spilled: Option<&[u8]>,
        hashes: Option<&[u8]>,
    ) -> PyResult<(Bound<'py, PyByteArray>, Bound<'py, PyList>)> {
        let mut keys = Keys::new(models, ids)?;
        let n = keys.len();
        let given = hashes.map(|b| int64s(b, n, "hashes")).transpose()?;
        let (ts, p, s) = (int64s(ts, n, "ts")?, float64s(p, n, "p")?, float64s(s, n, "s")?);
        let spilled = flags(spilled, n)?;
        if others.is_some_and(|o| o.len() != n) {
            return Err(PyValueError::new_err("others: one value per row"));
        }
        let batch = keys.all(given.as_deref())?;
        let others: Option<Vec<Py<PyAny>>> = others.map(|o| o.iter().map(Bound::unbind).collect());
        let (out, matched) = py.detach(|| self.add_prediction_rows(&batch, &spilled, &ts, &p, &s, others));
        let matched = PyList::new(py, matched.into_iter().map(|o| o.map(|o| o.into_bound(py))))?;
        Ok((raw_bytes(py, &out), matched))
    }

    /// Labels arriving at `now`, in row order: `spilled` flags 1 (the key is a spilled matched key or spilled
    /// waiting label: DUPLICATE) and 2 (a spilled pending prediction: SPILLED, the caller matches it). Otherwise a
    /// key held here as a matched key or a waiting label is a DUPLICATE; one of a pending prediction is MATCHED
    /// (MATCHED_OTHER for a prediction of other values) and becomes a matched key; any other waits (STORED).
    /// Returns (outcome per row as uint8 bytes, then for every row: time, prediction, score as int64 / float64
    /// bytes, meaningful on MATCHED rows, and the objects of the MATCHED_OTHER rows in row order).
    #[pyo3(signature = (models, ids, labels, now, spilled=None))]
    #[allow(clippy::type_complexity)]
    fn add_labels<'py>(
        &mut self,
        py: Python<'py>,
        models: &Bound<'py, PyAny>,
        ids: &Bound<'py, PyList>,
        labels: &Bound<'py, PyList>,
        now: i64,
        spilled: Option<&[u8]>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let mut keys = Keys::new(models, ids)?;
        let n = keys.len();
        if labels.len() != n {
            return Err(PyValueError::new_err("labels: one per row"));
        }
        let spilled = flags(spilled, n)?;
        let batch = keys.all(None)?;
        let mut out = vec![STORED; n];
        let (mut t, mut p, mut s) = (vec![0i64; n], vec![f64::NAN; n], vec![f64::NAN; n]);
        let objects = PyList::empty(py);
        for i in 0..n {
            match spilled[i] {
                0 => {}
                1 => {
                    out[i] = DUPLICATE;
                    continue;
                }
                _ => {
                    out[i] = SPILLED;
                    continue;
                }
            }
            let (key, h) = batch.get(i);
            match self.find(h, key) {
                Some(idx) => {
                    let slot = &mut self.slots[idx as usize];
                    match slot.kind {
                        PACKED => {
                            (t[i], p[i], s[i]) = (slot.t, slot.p, slot.s);
                            out[i] = MATCHED;
                        }
                        OTHER => {
                            t[i] = slot.t;
                            objects.append(slot.obj.take().map(|o| o.into_bound(py)))?;
                            self.n_objects -= 1;
                            out[i] = MATCHED_OTHER;
                        }
                        _ => {
                            out[i] = DUPLICATE;
                            continue;
                        }
                    }
                    slot.kind = DONE; // same time and generation: its queued reference stays valid
                    self.n_done += 1;
                }
                None => {
                    let key = Key::new(key);
                    let label = Some(labels.get_item(i)?.unbind());
                    self.insert(h, key, LABEL, now, (f64::NAN, f64::NAN, label));
                }
            }
        }
        PyTuple::new(
            py,
            [
                raw_bytes(py, &out).into_any(),
                raw_bytes(py, &t).into_any(),
                raw_bytes(py, &p).into_any(),
                raw_bytes(py, &s).into_any(),
                objects.into_any(),
            ],
        )
    }

    /// Waiting labels taken back from the spill: (key, label, arrival) each; a key held here already is skipped.
    /// Returns the keys taken.
    fn put_labels<'py>(&mut self, py: Python<'py>, rows: &Bound<'py, PyList>) -> PyResult<Bound<'py, PyList>> {
        let taken = PyList::empty(py);
        for row in rows.iter() {
            let (key, label, arrival): (Bound<'_, PyString>, Bound<'_, PyAny>, i64) = row.extract()?;
            let text = key.to_str()?.as_bytes();
            let h = hash_of(text);
            if self.find(h, text).is_none() {
                self.insert(
                    h,
                    Key::new(text),
                    LABEL,
                    arrival,
                    (f64::NAN, f64::NAN, Some(label.unbind())),
                );
                taken.append(key)?;
            }
        }
        Ok(taken)
    }

    /// Whether each row's key is held here (any kind), as uint8 bytes.
    fn contains<'py>(
        &self,
        py: Python<'py>,
        models: &Bound<'py, PyAny>,
        ids: &Bound<'py, PyList>,
    ) -> PyResult<Bound<'py, PyByteArray>> {
        let mut keys = Keys::new(models, ids)?;
        let mut out = vec![0u8; keys.len()];
        for (i, flag) in out.iter_mut().enumerate() {
            let key = keys.key(i)?;
            *flag = u8::from(self.find(hash_of(key), key).is_some());
        }
        Ok(raw_bytes(py, &out))
    }

    /// Drop the entries of time < `cutoff` and the labels that arrived before it; returns (pending predictions
    /// dropped, matched keys dropped, labels dropped). Nothing to do while the cutoff is at or below the floor of
    /// the times held; a queue in time order gives up its expired front (O(expired)); any other is found by a scan
    /// of the slots, after which its queue is sorted by time.
    fn expire(&mut self, cutoff: i64) -> (usize, usize, usize) {
        let (mut pending, mut done, mut labels) = (0, 0, 0);
        for of_labels in [false, true] {
            if cutoff <= self.order(of_labels).floor {
                continue;
            }
            let expired = if self.order(of_labels).sorted {
                self.expire_front(of_labels, cutoff)
            } else {
                self.expire_scan(of_labels, cutoff)
            };
            for kind in expired {
                match kind {
                    LABEL => labels += 1,
                    DONE => done += 1,
                    _ => pending += 1,
                }
            }
        }
        self.compact();
        (pending, done, labels)
    }

    /// Take the `want` first stored entries out, in that order: (their keys' UTF-8 text, where each key starts in
    /// it and the end as int64 bytes, the keys' hashes as int64 bytes, kind as uint8 bytes, time as int64 bytes,
    /// prediction, score as float64 bytes, the objects of the OTHER rows (None elsewhere) or None when there are
    /// none).
    fn take_entries<'py>(&mut self, py: Python<'py>, want: usize) -> PyResult<Bound<'py, PyTuple>> {
        let Taken {
            text,
            offsets,
            hashes,
            kinds,
            t,
            p,
            s,
            objects,
        } = py.detach(|| self.take_first(want));
        let others = if objects.iter().any(Option::is_some) {
            PyList::new(py, objects.into_iter().map(|o| o.map(|o| o.into_bound(py))))?.into_any()
        } else {
            py.None().into_bound(py)
        };
        PyTuple::new(
            py,
            [
                PyBytes::new(py, &text).into_any(),
                raw_bytes(py, &offsets).into_any(),
                raw_bytes(py, &hashes).into_any(),
                raw_bytes(py, &kinds).into_any(),
                raw_bytes(py, &t).into_any(),
                raw_bytes(py, &p).into_any(),
                raw_bytes(py, &s).into_any(),
                others,
            ],
        )
    }

    /// Take the `want` first stored waiting labels out, in that order: [(key, label, arrival)].
    fn take_labels<'py>(&mut self, py: Python<'py>, want: usize) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        while out.len() < want {
            let Some(idx) = self.pop_first(true) else { break };
            let slot = self.remove(idx);
            let key = PyString::new(py, std::str::from_utf8(slot.key.as_bytes())?);
            out.append((key, slot.obj.map(|o| o.into_bound(py)), slot.t))?;
        }
        Ok(out)
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

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

use hashbrown::HashTable;
use pyo3::prelude::*;

mod keys;
mod py;

use keys::{Key, KeyBatch};

pub(crate) use keys::{hash_keys, in_sample, key_hashes};
pub(crate) use py::int64s;

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

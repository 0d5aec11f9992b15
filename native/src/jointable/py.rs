//! The table's Python methods: the rows of a batch in, the outcomes and the entries taken out as bytes.

use hashbrown::HashTable;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyList, PyString, PyTuple};

use super::keys::{hash_of, Key, Keys};
use super::{
    JoinTable, Order, Slot, Taken, DONE, DUPLICATE, LABEL, MATCHED, MATCHED_OTHER, OTHER, PACKED, SPILLED, STORED,
};
use crate::raw_bytes;

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

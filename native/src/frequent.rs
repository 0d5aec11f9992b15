//! A canonical item order for datasketches' `frequent_strings_sketch` payloads
//! (`streamdrift.profile.frequent.FrequentItemsSketch.to_bytes`).
//!
//! datasketches writes a sketch's items (weights first, then the length-prefixed strings) in its hash map's
//! order, which depends on the order the items were inserted: a sketch read back from another's bytes holds the
//! same items and weights but serializes them in another order, so a window judged again after a restart (its
//! accumulator read back from the table) gave other bytes than the first time. The order carries no meaning (a
//! purge subtracts from every item alike) and the sketch reads any order back the same, so the bytes are
//! written with the items in byte order of their strings.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

const PREAMBLE: usize = 8; // preamble longs, version, family, lg max, lg cur, flags, unused u16
const COUNTS: usize = 24; // active items u32, unused u32, total weight u64, offset u64

/// The payload with its items in order, or None when it is empty, already in order or not a sketch's layout.
pub fn canonical(payload: &[u8]) -> Option<Vec<u8>> {
    let count = u32::from_le_bytes(payload.get(PREAMBLE..PREAMBLE + 4)?.try_into().ok()?) as usize;
    let weights_at = PREAMBLE + COUNTS;
    let items_at = weights_at.checked_add(count.checked_mul(8)?)?;
    let mut items: Vec<(&[u8], usize)> = Vec::with_capacity(count); // (length prefix + string, index)
    let mut pos = items_at;
    for index in 0..count {
        let len = u32::from_le_bytes(payload.get(pos..pos + 4)?.try_into().ok()?) as usize;
        let end = pos.checked_add(4)?.checked_add(len)?;
        items.push((payload.get(pos..end)?, index));
        pos = end;
    }
    if items.windows(2).all(|w| w[0].0[4..] <= w[1].0[4..]) {
        return None;
    }
    items.sort_unstable_by(|a, b| a.0[4..].cmp(&b.0[4..]));
    let mut out = Vec::with_capacity(payload.len());
    out.extend_from_slice(&payload[..weights_at]);
    for &(_, index) in &items {
        let at = weights_at + 8 * index;
        out.extend_from_slice(&payload[at..at + 8]);
    }
    for &(item, _) in &items {
        out.extend_from_slice(item);
    }
    out.extend_from_slice(&payload[pos..]);
    Some(out)
}

/// `payload` with its items in byte order (the same object when nothing moves or it is not a sketch's layout:
/// datasketches and `check_frequent_strings` judge that when it is read).
#[pyfunction]
pub fn canonical_frequent_strings<'py>(py: Python<'py>, payload: Bound<'py, PyBytes>) -> Bound<'py, PyBytes> {
    match canonical(payload.as_bytes()) {
        Some(out) => PyBytes::new(py, &out),
        None => payload,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(items: &[(&str, u64)]) -> Vec<u8> {
        let mut out = vec![4, 1, 10, 10, 3, 0, 0, 0];
        out.extend_from_slice(&(items.len() as u32).to_le_bytes());
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&items.iter().map(|i| i.1).sum::<u64>().to_le_bytes());
        out.extend_from_slice(&0u64.to_le_bytes());
        for (_, w) in items {
            out.extend_from_slice(&w.to_le_bytes());
        }
        for (s, _) in items {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        out
    }

    #[test]
    fn items_move_with_their_weights() {
        let shuffled = payload(&[("pear", 3), ("apple", 7), ("fig", 1)]);
        let sorted = payload(&[("apple", 7), ("fig", 1), ("pear", 3)]);
        assert_eq!(canonical(&shuffled), Some(sorted.clone()));
        assert_eq!(canonical(&sorted), None);
    }

    #[test]
    fn truncated_or_empty_payloads_are_left_alone() {
        let whole = payload(&[("b", 1), ("a", 2)]);
        for cut in 0..whole.len() {
            assert_eq!(canonical(&whole[..cut]), None);
        }
    }
}

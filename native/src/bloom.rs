//! The join spill's Bloom filter (`streamdrift.joinspill.Bloom`): a blocked Bloom filter over 64-bit key hashes.
//! A key sets 5 bits of one 64-bit word (the word: the hash modulo the words; the bits: five 6-bit fields of the
//! hash's upper half), so adding or probing a key is one random memory access.

use pyo3::prelude::*;
use pyo3::types::PyByteArray;

use crate::jointable::int64s;
use crate::raw_bytes;

#[pyclass(module = "streamdrift._native")]
pub struct BloomFilter {
    words: Vec<u64>,
    /// keys it was sized for
    #[pyo3(get)]
    capacity: usize,
    /// keys added
    #[pyo3(get)]
    added: usize,
}

fn hashes_of(bytes: &[u8]) -> PyResult<impl Iterator<Item = u64>> {
    Ok(int64s(bytes, bytes.len() / 8, "hashes")?.into_iter().map(|h| h as u64))
}

impl BloomFilter {
    fn probe(&self, h: u64) -> (usize, u64) {
        let word = (h % self.words.len() as u64) as usize;
        let high = h >> 32;
        let mask = (0..5).fold(0u64, |m, k| m | 1u64 << ((high >> (6 * k)) & 63));
        (word, mask)
    }
}

#[pymethods]
impl BloomFilter {
    #[new]
    fn new(capacity: usize, bits_per_key: usize) -> Self {
        let capacity = capacity.max(1);
        BloomFilter {
            words: vec![0; (capacity * bits_per_key).div_ceil(64).max(1)],
            capacity,
            added: 0,
        }
    }

    /// Add keys by their hashes (int64 bytes).
    fn add(&mut self, py: Python<'_>, hashes: &[u8]) -> PyResult<()> {
        let hashes = hashes_of(hashes)?;
        py.detach(|| {
            for h in hashes {
                let (word, mask) = self.probe(h);
                self.words[word] |= mask;
                self.added += 1;
            }
        });
        Ok(())
    }

    /// Whether each key (by its hash, int64 bytes) may have been added, as bool bytes: false is certain.
    fn maybe<'py>(&self, py: Python<'py>, hashes: &[u8]) -> PyResult<Bound<'py, PyByteArray>> {
        let hashes = hashes_of(hashes)?;
        let out: Vec<u8> = py.detach(|| {
            hashes
                .map(|h| {
                    let (word, mask) = self.probe(h);
                    u8::from(self.words[word] & mask == mask)
                })
                .collect()
        });
        Ok(raw_bytes(py, &out))
    }

    /// The filter's words (uint64 bytes).
    fn words<'py>(&self, py: Python<'py>) -> Bound<'py, PyByteArray> {
        raw_bytes(py, &self.words)
    }

    fn nbytes(&self) -> usize {
        8 * self.words.len()
    }
}

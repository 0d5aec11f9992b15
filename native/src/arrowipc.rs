//! What an Arrow IPC stream declares, read from its message headers before pyarrow reads (and decompresses) it:
//! its size with every compressed buffer at its decompressed length, the rows of its record batches, and the
//! largest length a record batch, dictionary batch or field node declares. `streamdrift.ingest.arrow_ipc` judges
//! a capture message by these numbers first, so pyarrow never allocates more than the limits allow (an empty
//! struct column of 2^40 rows costs a few bytes on the wire; a 12.8 KB zstd body can decompress to 400 MB).
//!
//! Only what that needs is read (Apache Arrow's `format/Message.fbs`): each encapsulated message is `FF FF FF FF`
//! (absent in the legacy framing), an int32 metadata length, a flatbuffer `Message` (header type, header table,
//! body length) and the body. A `RecordBatch` header (also inside a `DictionaryBatch`) gives `length`, the field
//! nodes (length, null count), the buffers (offset, length into the body) and, when the body is compressed, a
//! `compression` table: each compressed buffer then starts with its decompressed length as a little-endian int64
//! (-1: stored uncompressed). Every read is bounds-checked; a stream whose headers do not parse gives `None`.

use pyo3::prelude::*;

const DICTIONARY_BATCH: u8 = 2;
const RECORD_BATCH: u8 = 3;

/// A flatbuffer: little-endian reads at untrusted positions, `None` when outside.
struct Flat<'a>(&'a [u8]);

impl<'a> Flat<'a> {
    fn bytes<const N: usize>(&self, pos: i64) -> Option<[u8; N]> {
        let start = usize::try_from(pos).ok()?;
        self.0.get(start..start.checked_add(N)?)?.try_into().ok()
    }
    fn u8(&self, pos: i64) -> Option<u8> {
        Some(self.bytes::<1>(pos)?[0])
    }
    fn u16(&self, pos: i64) -> Option<i64> {
        Some(u16::from_le_bytes(self.bytes(pos)?) as i64)
    }
    fn i32(&self, pos: i64) -> Option<i64> {
        Some(i32::from_le_bytes(self.bytes(pos)?) as i64)
    }
    fn u32(&self, pos: i64) -> Option<i64> {
        Some(u32::from_le_bytes(self.bytes(pos)?) as i64)
    }
    fn i64(&self, pos: i64) -> Option<i64> {
        Some(i64::from_le_bytes(self.bytes(pos)?))
    }
    /// The position of field `slot` of the table at `table`: `Some(None)` when absent (its default value).
    fn field(&self, table: i64, slot: i64) -> Option<Option<i64>> {
        let vtable = table.checked_sub(self.i32(table)?)?;
        let entry = 4 + 2 * slot;
        if entry + 2 > self.u16(vtable)? {
            return Some(None);
        }
        let offset = self.u16(vtable + entry)?;
        Some((offset != 0).then_some(table + offset))
    }
    /// The position of the table or vector an offset field points to.
    fn target(&self, table: i64, slot: i64) -> Option<Option<i64>> {
        match self.field(table, slot)? {
            Some(at) => Some(Some(at + self.u32(at)?)),
            None => Some(None),
        }
    }
    fn scalar_i64(&self, table: i64, slot: i64) -> Option<i64> {
        match self.field(table, slot)? {
            Some(at) => self.i64(at),
            None => Some(0),
        }
    }
}

/// (declared length, largest field node length, decompressed minus stored bytes) of the RecordBatch table at
/// `table`, whose body is `body`.
fn batch(meta: &Flat<'_>, table: i64, body: &[u8]) -> Option<(u64, u64, u64)> {
    let length = u64::try_from(meta.scalar_i64(table, 0)?).ok()?;
    let mut longest = 0u64;
    if let Some(nodes) = meta.target(table, 1)? {
        for i in 0..meta.u32(nodes)? {
            longest = longest.max(u64::try_from(meta.i64(nodes + 4 + 16 * i)?).ok()?);
        }
    }
    let mut extra = 0u64;
    if meta.field(table, 3)?.is_some() {
        if let Some(buffers) = meta.target(table, 2)? {
            for i in 0..meta.u32(buffers)? {
                let offset = usize::try_from(meta.i64(buffers + 4 + 16 * i)?).ok()?;
                let stored = usize::try_from(meta.i64(buffers + 12 + 16 * i)?).ok()?;
                if stored == 0 {
                    continue;
                }
                if stored < 8 || offset.checked_add(stored)? > body.len() {
                    return None;
                }
                let decompressed = i64::from_le_bytes(body[offset..offset + 8].try_into().ok()?);
                if decompressed < -1 {
                    return None;
                }
                if decompressed >= 0 {
                    extra = extra.saturating_add((decompressed as u64).saturating_sub(stored as u64));
                }
            }
        }
    }
    Some((length, longest, extra))
}

fn extent(value: &[u8]) -> Option<(u64, u64, u64)> {
    let stream = Flat(value);
    let end = value.len() as i64;
    let (mut pos, mut decoded, mut rows, mut longest) = (0i64, value.len() as u64, 0u64, 0u64);
    while pos + 4 <= end {
        if stream.bytes::<4>(pos)? == [0xff; 4] {
            pos += 4;
        }
        let meta_len = stream.i32(pos)?;
        pos += 4;
        if meta_len == 0 {
            break; // end of stream
        }
        if meta_len < 0 || pos + meta_len > end {
            return None;
        }
        let meta = Flat(&value[pos as usize..(pos + meta_len) as usize]);
        pos += meta_len;
        let root = meta.u32(0)?;
        let kind = match meta.field(root, 1)? {
            Some(at) => meta.u8(at)?,
            None => 0,
        };
        let body_len = meta.scalar_i64(root, 3)?;
        let body_end = pos.checked_add(body_len).filter(|&e| body_len >= 0 && e <= end)?;
        let mut header = meta.target(root, 2)?;
        if kind == DICTIONARY_BATCH {
            header = match header {
                Some(h) => meta.target(h, 1)?,
                None => None,
            };
        }
        if let (RECORD_BATCH | DICTIONARY_BATCH, Some(h)) = (kind, header) {
            let (length, node, extra) = batch(&meta, h, &value[pos as usize..body_end as usize])?;
            if kind == RECORD_BATCH {
                rows = rows.saturating_add(length);
            }
            longest = longest.max(length).max(node);
            decoded = decoded.saturating_add(extra);
        }
        pos = body_end;
    }
    Some((decoded, rows, longest))
}

/// (decoded bytes, rows, largest declared length) of an Arrow IPC stream, or None when its framing or message
/// headers do not parse (see the module docs).
#[pyfunction]
pub fn arrow_extent(value: &[u8]) -> Option<(u64, u64, u64)> {
    extent(value)
}

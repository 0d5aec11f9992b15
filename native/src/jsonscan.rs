//! Whether every string of a JSON message is within a length limit, at SIMD speed: lets
//! `streamdrift.ingest.limits.Checks.for_json` skip a columnar batch's per-value length checks.

use pyo3::prelude::*;

/// Whether every string of a JSON document is at most `limit` bytes long (so at most `limit` characters: UTF-8
/// and escapes only ever take more bytes than characters); false for an unterminated string.
/// `streamdrift.ingest.limits.Checks.for_json` skips a message's per-value length checks when it is.
///
/// Without a backslash in the document (the common case: one memchr), its quotes are exactly the strings' opening
/// and closing quotes, and the document is read 64 bytes at a time as bit masks (as simdjson does): the quotes'
/// mask, its prefix XOR (the bytes inside strings), and the runs of inside bytes. With a backslash, the quotes and
/// backslashes are visited one by one (a backslash inside a string escapes the byte after it).
#[pyfunction]
pub fn json_strings_within(value: &[u8], limit: usize) -> bool {
    if memchr::memchr(b'\\', value).is_some() {
        return longest_string_escaped(value) <= limit;
    }
    let mut scan = StringRuns {
        limit,
        ..StringRuns::default()
    };
    let mut chunks = value.chunks_exact(64);
    for chunk in &mut chunks {
        if !scan.add(quote_mask(chunk.try_into().expect("64 bytes")), 64) {
            return false;
        }
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 64];
        last[..rest.len()].copy_from_slice(rest);
        if !scan.add(quote_mask(&last), rest.len()) {
            return false;
        }
    }
    scan.inside == 0
}

/// Bit j set where byte j is a quote.
#[cfg(target_arch = "x86_64")]
fn quote_mask(chunk: &[u8; 64]) -> u64 {
    use std::arch::x86_64::{__m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_set1_epi8};
    let mut mask = 0u64;
    for lane in 0..4 {
        // SAFETY: SSE2 is part of x86_64; the unaligned load reads 16 bytes inside `chunk`.
        let bits = unsafe {
            let bytes = _mm_loadu_si128(chunk.as_ptr().add(16 * lane) as *const __m128i);
            _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, _mm_set1_epi8(b'"' as i8)))
        };
        mask |= (bits as u16 as u64) << (16 * lane);
    }
    mask
}

/// Bit j set where byte j is a quote.
#[cfg(not(target_arch = "x86_64"))]
fn quote_mask(chunk: &[u8; 64]) -> u64 {
    let mut mask = 0u64;
    for (j, &b) in chunk.iter().enumerate() {
        mask |= ((b == b'"') as u64) << j;
    }
    mask
}

/// Runs of bytes inside strings, fed 64 bytes (as a quote mask) at a time.
#[derive(Default)]
struct StringRuns {
    limit: usize,
    run: usize,  // inside-string bytes at the end of what was fed so far
    inside: u64, // all ones while inside a string at the end of what was fed so far
}

impl StringRuns {
    /// Feed the quote mask of the next `len` bytes; false once a string is longer than the limit.
    fn add(&mut self, quotes: u64, len: usize) -> bool {
        let mut parity = quotes; // bit j: odd number of quotes at or before j
        for shift in [1, 2, 4, 8, 16, 32] {
            parity ^= parity << shift;
        }
        let valid = if len == 64 { u64::MAX } else { (1u64 << len) - 1 };
        let strings = (parity ^ self.inside) & !quotes & valid; // bytes inside a string, its quotes excluded
        if strings == valid {
            self.run += len;
        } else {
            if self.run + strings.trailing_ones() as usize > self.limit {
                return false;
            }
            if self.limit < 64 {
                // a run of more than `limit` ones inside the chunk survives `limit` shifted ANDs
                let mut rest = strings;
                for _ in 0..self.limit {
                    rest &= rest << 1;
                }
                if rest != 0 {
                    return false;
                }
            }
            self.run = (strings | !valid).leading_ones() as usize - (64 - len);
        }
        if parity >> 63 == 1 {
            self.inside = !self.inside;
        }
        self.run <= self.limit
    }
}

fn longest_string_escaped(value: &[u8]) -> usize {
    let (mut longest, mut open, mut escaped_until) = (0usize, None::<usize>, 0usize);
    for i in memchr::memchr2_iter(b'"', b'\\', value) {
        if i < escaped_until {
            continue;
        }
        match (value[i], open) {
            (b'\\', Some(_)) => escaped_until = i + 2,
            (b'"', None) => open = Some(i),
            (b'"', Some(start)) => {
                longest = longest.max(i - start - 1);
                open = None;
            }
            _ => {}
        }
    }
    if open.is_some() {
        usize::MAX
    } else {
        longest
    }
}

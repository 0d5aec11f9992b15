//! A JSON parser for the common message of a mapped source (`sourcepoll.rs`): no backslash in a string, so every
//! string is its bytes and borrows from the message. The message is written to a tape (`sourcepoll::Node`: one
//! node per value, an array's or object's items after it), a vector the caller reuses from message to message, so
//! parsing allocates nothing once the tape has grown. A number is converted from its digits as they are read
//! (`decimal`: correctly rounded, or it leaves the number) or else by Rust's `str::parse::<f64>` (exactly rounded,
//! Eisel-Lemire: much faster than serde_json's `float_roundtrip` path on 17-digit numbers, which FP32 tensors
//! written as doubles are). Strict JSON (RFC 8259) as orjson reads it: anything else, or anything this parser does
//! not take (a backslash, nesting deeper than 128, an integer beyond 64 bits, a number beyond a double), is `false`
//! and the caller parses the message with serde_json, or leaves the poll to Python.

use std::borrow::Cow;

use crate::sourcepoll::{Node, Number};

const MAX_DEPTH: usize = 128;

/// `bytes` parsed onto `tape` (cleared first); false when this parser does not take them (the tape is then
/// partly written: the caller clears it).
pub(crate) fn parse<'a>(bytes: &'a [u8], tape: &mut Vec<Node<'a>>) -> bool {
    tape.clear();
    if bytes.len() >= u32::MAX as usize {
        return false;
    }
    // one pass over the message first, the UTF-8 check (then strings and numbers are slices of the text); a
    // backslash is refused where a string holds one (anywhere else it is not JSON)
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    let mut p = Parser {
        s: bytes,
        text,
        i: 0,
        tape,
    };
    if p.value(0).is_none() {
        return false;
    }
    p.ws();
    p.i == p.s.len()
}

/// The digits from `s[i]` on (`w`, `sig` as `Parser::digits_into` keeps them, in locals: a loop over `&mut`
/// fields stored and reloaded them at every digit), eight at a time where it can: (index past them, w, sig).
#[inline(always)]
fn scan_digits(s: &[u8], mut i: usize, mut w: u64, mut sig: u32) -> (usize, u64, u32) {
    if sig == 0 {
        while s.get(i) == Some(&b'0') {
            i += 1;
        }
    }
    while sig <= 11 {
        let Some(chunk) = s.get(i..i + 8) else { break };
        let v = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        if !eight_digits(v) {
            break;
        }
        w = w * 100_000_000 + parse_eight(v);
        sig += 8;
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if sig < 19 {
            w = w * 10 + d as u64;
        }
        sig = sig.saturating_add(1);
        i += 1;
    }
    (i, w, sig)
}

/// Whether the eight bytes of `v` (little-endian) are all ASCII digits.
#[inline(always)]
fn eight_digits(v: u64) -> bool {
    let high = v & 0xF0F0_F0F0_F0F0_F0F0;
    let carried = (v.wrapping_add(0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4;
    (high | carried) == 0x3333_3333_3333_3333
}

/// The number eight ASCII digits (little-endian in `v`, the first digit the most significant) write.
#[inline(always)]
fn parse_eight(v: u64) -> u64 {
    const MASK: u64 = 0x0000_00FF_0000_00FF;
    const MUL1: u64 = 100 + (1_000_000 << 32);
    const MUL2: u64 = 1 + (10_000 << 32);
    let v = v.wrapping_sub(0x3030_3030_3030_3030);
    let v = v.wrapping_mul(10).wrapping_add(v >> 8);
    ((v & MASK)
        .wrapping_mul(MUL1)
        .wrapping_add(((v >> 16) & MASK).wrapping_mul(MUL2)))
        >> 32
}

struct Parser<'a, 't> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
    tape: &'t mut Vec<Node<'a>>,
}

impl<'a> Parser<'a, '_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8], v: Node<'a>) -> Option<()> {
        if self.s.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            self.tape.push(v);
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => {
                let s = self.string()?;
                self.tape.push(Node::String(Cow::Borrowed(s)));
                Some(())
            }
            b't' => self.literal(b"true", Node::Bool(true)),
            b'f' => self.literal(b"false", Node::Bool(false)),
            b'n' => self.literal(b"null", Node::Null),
            _ => {
                let n = self.number()?;
                self.tape.push(Node::Number(n));
                Some(())
            }
        }
    }

    fn string(&mut self) -> Option<&'a str> {
        let start = self.i + 1;
        // one pass to the closing quote: keys and values are mostly short, where a byte loop beats memchr's set-up
        let mut end = start;
        loop {
            match *self.s.get(end)? {
                b'"' => break,
                b'\\' => return None,         // an escape: serde_json reads the message
                b if b < 0x20 => return None, // a raw control character: not JSON
                _ => end += 1,
            }
        }
        self.i = end + 1;
        // a quote and a control byte are ASCII: start and end are char boundaries of the UTF-8 text
        Some(&self.text[start..end])
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        self.i - start
    }

    /// Digits, accumulated into `w` as long as there are at most 19 significant ones (`sig` counts them, leading
    /// zeros not, and goes on past 19: then `w` is not the number's). How many digits.
    fn digits_into(&mut self, w: &mut u64, sig: &mut u32) -> usize {
        let start = self.i;
        let (i, acc, count) = scan_digits(self.s, start, *w, *sig);
        (self.i, *w, *sig) = (i, acc, count);
        i - start
    }

    fn number(&mut self) -> Option<Number> {
        let start = self.i;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.i += 1;
        }
        let int_start = self.i;
        let (mut w, mut sig) = (0u64, 0u32);
        let n = self.digits_into(&mut w, &mut sig);
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        let mut frac = 0i64;
        if self.peek() == Some(b'.') {
            self.i += 1;
            let f = self.digits_into(&mut w, &mut sig);
            if f == 0 {
                return None;
            }
            frac = f as i64;
            integer = false;
        }
        let mut exp: Option<i64> = Some(0);
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            let minus = self.peek() == Some(b'-');
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            let e_start = self.i;
            let k = self.digits();
            if k == 0 {
                return None;
            }
            exp = (k <= 6).then(|| {
                let e: i64 = self.text[e_start..self.i].parse().unwrap_or(0);
                if minus {
                    -e
                } else {
                    e
                }
            });
            integer = false;
        }
        let text = &self.text[start..self.i];
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                return Some(Number::Int(v));
            }
            return text.parse::<u64>().ok().map(Number::UInt); // beyond 64 bits: serde_json / Python decide
        }
        // the digits were read once: most numbers are converted from them (crate::decimal), the rest by parse
        if let (true, Some(e)) = (sig <= 19, exp) {
            if let Ok(q) = i32::try_from(e - frac) {
                if let Some(x) = crate::decimal::to_f64(w, q) {
                    return Some(Number::Float(if negative { -x } else { x }));
                }
            }
        }
        let x: f64 = text.parse().ok()?;
        x.is_finite().then_some(Number::Float(x))
    }

    /// The node of an array or object at `at` (pushed as a placeholder) once its items are on the tape.
    fn close(&mut self, at: usize, len: u32, object: bool) {
        let end = self.tape.len() as u32; // the message is shorter than u32::MAX bytes, each node at least one
        self.tape[at] = if object {
            Node::Object { len, end }
        } else {
            Node::Array { len, end }
        };
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let at = self.tape.len();
        self.tape.push(Node::Null);
        let mut len = 0u32;
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            self.close(at, 0, false);
            return Some(());
        }
        loop {
            self.value(depth)?;
            len += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    self.close(at, len, false);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let at = self.tape.len();
        self.tape.push(Node::Null);
        let mut len = 0u32;
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            self.close(at, 0, true);
            return Some(());
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.tape.push(Node::String(Cow::Borrowed(key)));
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            self.value(depth)?;
            len += 1;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    self.close(at, len, true);
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

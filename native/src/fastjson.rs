//! A JSON parser for the common message of a mapped source (`sourcepoll.rs`): no backslash in a string, so every
//! string is its bytes and borrows from the message. The message is written to a tape (`sourcepoll::Node`: one
//! node per value, an array's or object's items after it), a vector the caller reuses from message to message, so
//! parsing allocates nothing once the tape has grown. Numbers are parsed by Rust's `str::parse::<f64>` (exactly
//! rounded, Eisel-Lemire: much faster than serde_json's `float_roundtrip` path on 17-digit numbers, which FP32
//! tensors written as doubles are). Strict JSON (RFC 8259) as orjson reads it: anything else, or anything this
//! parser does not take (a backslash, nesting deeper than 128, an integer beyond 64 bits, a number beyond a
//! double), is `false` and the caller parses the message with serde_json, or leaves the poll to Python.

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

    fn number(&mut self) -> Option<Number> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 || (n > 1 && self.s[int_start] == b'0') {
            return None;
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
            integer = false;
        }
        let text = &self.text[start..self.i];
        if integer {
            if let Ok(v) = text.parse::<i64>() {
                return Some(Number::Int(v));
            }
            return text.parse::<u64>().ok().map(Number::UInt); // beyond 64 bits: serde_json / Python decide
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

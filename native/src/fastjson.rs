//! A JSON parser for the common message of a mapped source (`sourcepoll.rs`): no backslash anywhere, so every
//! string is its bytes and borrows from the message. Numbers are parsed by Rust's `str::parse::<f64>` (exactly
//! rounded, Eisel-Lemire: much faster than serde_json's `float_roundtrip` path on 17-digit numbers, which FP32
//! tensors written as doubles are). Strict JSON (RFC 8259) as orjson reads it: anything else, or anything this
//! parser does not take (a backslash, nesting deeper than 128, an integer beyond 64 bits, a number beyond a
//! double), is `None` and the caller parses the message with serde_json, or leaves the poll to Python.

use std::borrow::Cow;

use crate::sourcepoll::{Number, Value};

const MAX_DEPTH: usize = 128;

pub(crate) fn parse(bytes: &[u8]) -> Option<Value<'_>> {
    if memchr::memchr(b'\\', bytes).is_some() {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        i: 0,
    };
    let v = p.value(0)?;
    p.ws();
    (p.i == p.s.len()).then_some(v)
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    i: usize,
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn literal(&mut self, word: &[u8], v: Value<'a>) -> Option<Value<'a>> {
        if self.s.get(self.i..self.i + word.len())? == word {
            self.i += word.len();
            Some(v)
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        self.ws();
        match self.peek()? {
            b'{' => self.object(depth + 1),
            b'[' => self.array(depth + 1),
            b'"' => Some(Value::String(Cow::Borrowed(self.string()?))),
            b't' => self.literal(b"true", Value::Bool(true)),
            b'f' => self.literal(b"false", Value::Bool(false)),
            b'n' => self.literal(b"null", Value::Null),
            _ => self.number().map(Value::Number),
        }
    }

    fn string(&mut self) -> Option<&'a str> {
        let start = self.i + 1;
        let end = start + memchr::memchr(b'"', &self.s[start..])?;
        if self.s[start..end].iter().any(|&b| b < 0x20) {
            return None; // a raw control character: not JSON
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

    fn array(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.peek()? == b']' {
            self.i += 1;
            return Some(Value::Array(items));
        }
        loop {
            items.push(self.value(depth)?);
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b']' => {
                    self.i += 1;
                    return Some(Value::Array(items));
                }
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Value<'a>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        let mut members = Vec::new();
        self.ws();
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(Value::Object(members));
        }
        loop {
            self.ws();
            if self.peek()? != b'"' {
                return None;
            }
            let key = self.string()?;
            self.ws();
            if self.peek()? != b':' {
                return None;
            }
            self.i += 1;
            members.push((Cow::Borrowed(key), self.value(depth)?));
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(Value::Object(members));
                }
                _ => return None,
            }
        }
    }
}

//! A JSON parser for the common message of a mapped source (`sourcepoll.rs`): no backslash in a string, so every
//! string is its bytes and borrows from the message. The message is written to a tape (`sourcepoll::Node`: one
//! node per value, an array's or object's items after it), a vector the caller reuses from message to message, so
//! parsing allocates nothing once the tape has grown. A number is validated and converted in one pass by
//! lexical-core (its JSON number format; correctly rounded). Strict JSON (RFC 8259) as orjson reads it: anything
//! else, or anything this parser does not take (a backslash, nesting deeper than 128, an integer beyond 64 bits, a
//! number beyond a double), is `false` and the caller parses the message with serde_json, or leaves the poll to
//! Python.

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

    /// A number, validated (strict RFC 8259 grammar: no `+`, leading zero, bare `.` or exponent, `inf` or `nan`)
    /// and converted in one pass by lexical-core, correctly rounded. An integer (no fraction, no exponent) that fits
    /// 64 bits is kept as one; a wider integer or a number beyond a double is `None`: serde_json / Python decide.
    fn number(&mut self) -> Option<Number> {
        const JSON: u128 = lexical_core::format::JSON;
        const OPTIONS: lexical_core::ParseFloatOptions = lexical_core::ParseFloatOptions::new();
        let rest = &self.s[self.i..];
        let (x, n) = lexical_core::parse_partial_with_options::<f64, JSON>(rest, &OPTIONS).ok()?;
        let text = &rest[..n];
        self.i += n;
        // a float's '.' or exponent comes early (the integer part is short): this stops there
        if text.iter().any(|&c| matches!(c, b'.' | b'e' | b'E')) {
            return x.is_finite().then_some(Number::Float(x));
        }
        if let Ok(v) = lexical_core::parse::<i64>(text) {
            return Some(Number::Int(v));
        }
        lexical_core::parse::<u64>(text).ok().map(Number::UInt)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the parser makes of `text` as a whole message: None when it does not take it, else its one number as
    /// (kind, bits): 'i' Int, 'u' UInt, 'f' Float.
    fn number(text: &str) -> Option<(char, u64)> {
        let mut tape = Vec::new();
        if !parse(text.as_bytes(), &mut tape) {
            return None;
        }
        match tape.as_slice() {
            [Node::Number(Number::Int(v))] => Some(('i', *v as u64)),
            [Node::Number(Number::UInt(v))] => Some(('u', *v)),
            [Node::Number(Number::Float(x))] => Some(('f', x.to_bits())),
            _ => panic!("{text}: not one number"),
        }
    }

    fn float(x: f64) -> Option<(char, u64)> {
        Some(('f', x.to_bits()))
    }

    #[test]
    fn only_json_numbers_are_taken() {
        for text in [
            "", "-", "+1", "01", "-01", "00", "00.5", ".5", "-.5", "1.", "1.e5", "1e", "1e+", "1E-", "0x10", "inf",
            "-inf", "Infinity", "NaN", "nan", "1_000", "1,5", "1.5.5", "1e5e5", "- 1", "1 2", "١", "1.5f",
        ] {
            assert_eq!(number(text), None, "{text:?} taken");
        }
        for text in ["[1,01]", "[.5]", "{\"x\": +1}", "[1.]", "[1e]", "[-]"] {
            assert!(!parse(text.as_bytes(), &mut Vec::new()), "{text:?} taken");
        }
    }

    #[test]
    fn integers_that_fit_64_bits_stay_integers() {
        assert_eq!(number("0"), Some(('i', 0)));
        assert_eq!(number("-0"), Some(('i', 0)));
        assert_eq!(number(" 42 "), Some(('i', 42)));
        assert_eq!(number("-9223372036854775808"), Some(('i', i64::MIN as u64)));
        assert_eq!(number("9223372036854775807"), Some(('i', i64::MAX as u64)));
        assert_eq!(number("9223372036854775808"), Some(('u', 1 << 63)));
        assert_eq!(number("18446744073709551615"), Some(('u', u64::MAX)));
        for text in ["18446744073709551616", "-9223372036854775809", &"9".repeat(400)] {
            assert_eq!(number(text), None, "{text} taken");
        }
    }

    #[test]
    fn fractions_and_exponents_are_floats_correctly_rounded() {
        assert_eq!(number("0.0"), float(0.0));
        assert_eq!(number("-0.0"), float(-0.0));
        assert_eq!(number("-0e-5"), float(-0.0));
        assert_eq!(number("1e2"), float(100.0));
        assert_eq!(number("1E+2"), float(100.0));
        assert_eq!(number("10.0"), float(10.0));
        assert_eq!(number("0.1"), float(0.1));
        assert_eq!(number("9007199254740993.0"), float(9007199254740992.0)); // halfway: to even
        assert_eq!(
            number("9007199254740993.0000000000000000001"),
            float(9007199254740994.0)
        );
        assert_eq!(number("2.2250738585072011e-308"), float(2.225073858507201e-308));
        assert_eq!(number("5e-324"), float(5e-324));
        assert_eq!(number("1e-400"), float(0.0));
        assert_eq!(number("-1e-99999999999"), float(-0.0));
        assert_eq!(number("1e0000000000000000000001"), float(10.0));
        assert_eq!(number("1.7976931348623157e308"), float(f64::MAX));
        for text in ["1.8e308", "-1e309", "1e99999999999", &format!("{}.0", "9".repeat(400))] {
            assert_eq!(number(text), None, "{text} taken");
        }
    }

    #[test]
    fn numbers_end_where_their_grammar_does() {
        let mut tape = Vec::new();
        assert!(parse(b"[1.5,-2e-3,7,0]", &mut tape));
        let numbers: Vec<_> = tape[1..]
            .iter()
            .map(|n| match n {
                Node::Number(Number::Float(x)) => *x,
                Node::Number(Number::Int(v)) => *v as f64,
                _ => f64::NAN,
            })
            .collect();
        assert_eq!(numbers, vec![1.5, -2e-3, 7.0, 0.0]);
    }
}

//! The messages `fastjson` does not take (escapes, the unusual) as serde_json parses them, flattened onto the
//! reader's tape (`sourcepoll::Node`) afterwards.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::sourcepoll::{Node, Number};

/// A message serde_json parsed (the messages `fastjson` does not take: escapes, the unusual), flattened onto the
/// tape afterwards (keys borrow from the message when they have no escapes).
pub(crate) enum Value<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Value<'a>>),
    Object(Vec<(Cow<'a, str>, Value<'a>)>),
}

/// `v` onto `tape` (serde_json's parse of a message the fast parser left).
pub(crate) fn flatten<'a>(v: Value<'a>, tape: &mut Vec<Node<'a>>) {
    let at = tape.len();
    match v {
        Value::Null => tape.push(Node::Null),
        Value::Bool(b) => tape.push(Node::Bool(b)),
        Value::Number(n) => tape.push(Node::Number(n)),
        Value::String(s) => tape.push(Node::String(s)),
        Value::Array(items) => {
            let len = items.len() as u32;
            tape.push(Node::Null);
            for item in items {
                flatten(item, tape);
            }
            let end = tape.len() as u32;
            tape[at] = Node::Array { len, end };
        }
        Value::Object(members) => {
            let len = members.len() as u32;
            tape.push(Node::Null);
            for (key, value) in members {
                tape.push(Node::String(key));
                flatten(value, tape);
            }
            let end = tape.len() as u32;
            tape[at] = Node::Object { len, end };
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value<'de>, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::Int(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::UInt(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value<'de>, E> {
        Ok(Value::Number(Number::Float(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value<'de>, E> {
        Ok(Value::String(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value<'de>, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Value<'de>>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'de>, A::Error> {
        let mut members = Vec::new();
        while let Some(crate::Text(key)) = map.next_key::<crate::Text<'de>>()? {
            members.push((key, map.next_value::<Value<'de>>()?));
        }
        Ok(Value::Object(members))
    }
}

impl<'de> de::Deserialize<'de> for Value<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

//! The columns a poll's rows fill, and the named columns (features, attributions) of one model.

use std::borrow::Cow;
use std::collections::HashMap;

use crate::scalars::Val;

/// One column being filled: numbers (NaN where null) until a string arrives, then strings. A column holding both
/// is refused (the Python path classifies mixed columns value by value).
#[derive(Default)]
pub(crate) struct Col<'a> {
    pub(crate) numbers: Vec<f64>,
    pub(crate) strings: Option<Vec<Option<Cow<'a, str>>>>,
    pub(crate) any_value: bool,
}

impl<'a> Col<'a> {
    pub(crate) fn with_nulls(rows: usize, capacity: usize) -> Self {
        let mut numbers = Vec::with_capacity(capacity.max(rows));
        numbers.resize(rows, f64::NAN);
        Col {
            numbers,
            strings: None,
            any_value: false,
        }
    }

    fn len(&self) -> usize {
        match &self.strings {
            Some(s) => s.len(),
            None => self.numbers.len(),
        }
    }

    pub(crate) fn push(&mut self, value: Val<'a>) -> Result<(), ()> {
        match (value, &mut self.strings) {
            (Val::Null, Some(s)) => s.push(None),
            (Val::Null, None) => self.numbers.push(f64::NAN),
            (Val::Num(x), None) => {
                self.numbers.push(x);
                self.any_value = true;
            }
            (Val::Str(t), Some(s)) => s.push(Some(t)),
            (Val::Str(t), None) => {
                if self.any_value {
                    return Err(()); // numbers and text in one column
                }
                let mut s: Vec<Option<Cow<'a, str>>> = Vec::with_capacity(self.numbers.capacity().max(16));
                s.resize_with(self.numbers.len(), || None);
                s.push(Some(t));
                self.numbers = Vec::new();
                self.strings = Some(s);
                self.any_value = true;
            }
            (Val::Num(_), Some(_)) => return Err(()),
        }
        Ok(())
    }
}

/// Named columns of one group, in first-seen order (the Python path's order).
pub(crate) struct Table<'a> {
    pub(crate) names: Vec<Cow<'a, str>>,
    index: HashMap<Cow<'a, str>, usize>,
    pub(crate) cols: Vec<Col<'a>>,
    rows: usize,
    capacity: usize, // rows expected (the poll's messages): columns are allocated once
}

impl<'a> Table<'a> {
    pub(crate) fn new(capacity: usize) -> Self {
        Table {
            names: Vec::new(),
            index: HashMap::new(),
            cols: Vec::new(),
            rows: 0,
            capacity,
        }
    }

    fn column_of(&mut self, position: usize, name: Cow<'a, str>) -> usize {
        // Records of one producer repeat the same key order: try the same position first.
        if position < self.names.len() && self.names[position] == name {
            return position;
        }
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = self.cols.len();
        self.cols.push(Col::with_nulls(self.rows, self.capacity));
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }

    pub(crate) fn push_row(&mut self, pairs: &mut Vec<(Cow<'a, str>, Val<'a>)>) -> Result<(), ()> {
        for (position, (name, value)) in pairs.drain(..).enumerate() {
            let i = self.column_of(position, name);
            let col = &mut self.cols[i];
            if col.len() != self.rows {
                return Err(()); // a duplicate key (the Python path keeps the last; refuse)
            }
            col.push(value)?;
        }
        self.rows += 1;
        for col in &mut self.cols {
            if col.len() < self.rows {
                col.push(Val::Null)?;
            }
        }
        Ok(())
    }
}

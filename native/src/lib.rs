//! streamdrift's native extension, `streamdrift._native`: the capture-record reader (`capture`), the label
//! reader (`labels`), the label join's table (`jointable`) and the other readers and sketches the Python package
//! calls.

mod arrowipc;
mod bloom;
mod capture;
mod columns;
mod fastjson;
mod frequent;
mod jointable;
mod jsonscan;
mod labels;
mod limits;
mod pairtable;
mod scalars;
mod sort;
mod sourcepoll;
mod sourcevalue;
mod topy;

use pyo3::prelude::*;

use capture::read_capture_records;
use labels::read_label_records;

// Helpers the other modules name at the crate root (`crate::raw_bytes`, ...).
pub(crate) use capture::poll_bytes;
pub(crate) use scalars::Text;
pub(crate) use topy::raw_bytes;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_capture_records, m)?)?;
    m.add_function(wrap_pyfunction!(read_label_records, m)?)?;
    m.add_function(wrap_pyfunction!(arrowipc::arrow_extent, m)?)?;
    m.add_function(wrap_pyfunction!(jsonscan::json_strings_within, m)?)?;
    m.add_class::<jointable::JoinTable>()?;
    m.add_class::<bloom::BloomFilter>()?;
    m.add_class::<pairtable::PairTable>()?;
    m.add_function(wrap_pyfunction!(jointable::key_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(jointable::hash_keys, m)?)?;
    m.add_function(wrap_pyfunction!(jointable::in_sample, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sorted_floats, m)?)?;
    m.add_function(wrap_pyfunction!(frequent::canonical_frequent_strings, m)?)?;
    m.add_function(wrap_pyfunction!(sort::sorted_hashes, m)?)?;
    m.add_function(wrap_pyfunction!(sourcepoll::read_source_poll, m)?)?;
    Ok(())
}

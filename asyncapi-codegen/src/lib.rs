//! AsyncAPI document to Rust code.

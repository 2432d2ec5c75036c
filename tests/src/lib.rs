//! Integration tests of the asyncapi crates.

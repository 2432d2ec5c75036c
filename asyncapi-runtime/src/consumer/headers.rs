//! Reading a record's headers as the bytes they are. rdkafka's `Headers::get` panics on
//! a header name that is not UTF-8, which any foreign producer can write; a panic there
//! would come before the record is settled, so every member given the partition would
//! die on the same record. The names are read through librdkafka's C API instead.

use std::ffi::CStr;
use std::os::raw::{c_char, c_void};

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

use crate::contract::RawHeader;

/// The headers of `msg`, and why the record cannot be handled when a header name is
/// not UTF-8 (that header is kept under its name decoded lossily, so a dead-letter copy
/// still shows it).
pub(crate) fn read_headers(msg: &BorrowedMessage<'_>) -> (Vec<RawHeader>, Option<String>) {
    let mut headers_ptr: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `msg.ptr()` is a live message for the borrow's lifetime; librdkafka
    // returns a pointer to headers the message owns (or an error and no pointer).
    let found = unsafe { rd::rd_kafka_message_headers(msg.ptr(), &mut headers_ptr) };
    if found != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers_ptr.is_null() {
        return (Vec::new(), None);
    }
    // SAFETY: `headers_ptr` is the message's header list, valid while `msg` is.
    let count = unsafe { rd::rd_kafka_header_cnt(headers_ptr) };
    let mut headers = Vec::with_capacity(count);
    let mut problem = None;
    for index in 0..count {
        let mut name: *const c_char = std::ptr::null();
        let mut value: *const c_void = std::ptr::null();
        let mut size: usize = 0;
        // SAFETY: `index < count`; the out-pointers point at locals.
        let got = unsafe {
            rd::rd_kafka_header_get_all(headers_ptr, index, &mut name, &mut value, &mut size)
        };
        if got != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            continue;
        }
        // SAFETY: librdkafka keeps names NUL-terminated and values `size` bytes long,
        // owned by the message.
        let (name, value) = unsafe {
            let name = CStr::from_ptr(name).to_bytes();
            let value = if value.is_null() {
                &[][..]
            } else {
                std::slice::from_raw_parts(value.cast::<u8>(), size)
            };
            (name, value)
        };
        let name = match std::str::from_utf8(name) {
            Ok(name) => name.to_owned(),
            Err(_) => {
                problem.get_or_insert_with(|| {
                    format!(
                        "header {} ({} bytes): its name is not valid UTF-8",
                        index + 1,
                        name.len()
                    )
                });
                String::from_utf8_lossy(name).into_owned()
            }
        };
        headers.push((name, value.to_vec()));
    }
    (headers, problem)
}

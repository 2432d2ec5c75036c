//! Reading a record's headers as the bytes they are, and only when something asks for
//! them. rdkafka's `Headers::get` panics on a header name that is not UTF-8, which any
//! foreign producer can write; a panic there would come before the record is settled,
//! so every member given the partition would die on the same record. The names are
//! read through librdkafka's C API instead.
//!
//! librdkafka parses a record's headers into a list of its own on first access (an
//! allocation per header); a listener that reads neither headers nor anything the
//! runtime takes from them (typed headers, a content type that picks the message)
//! should not pay for that on every record.

use std::ffi::CStr;
use std::os::raw::{c_char, c_void};
use std::sync::{Arc, Mutex, OnceLock};

use rdkafka::bindings as rd;
use rdkafka::message::BorrowedMessage;

use crate::contract::RawHeader;

/// A record's headers as read.
#[derive(Debug, Clone)]
pub(crate) struct ReadHeaders {
    pub headers: Arc<[RawHeader]>,
    /// Why the record's envelope cannot be read (a header name that is not UTF-8): a
    /// record whose headers the runtime reads before its handler is dead-lettered.
    pub unreadable: Option<String>,
}

/// A record's headers: read from librdkafka's copy of a fetched record the first time
/// they are asked for (at most once), or already read.
#[derive(Debug)]
pub(crate) enum LazyHeaders<'m> {
    Fetched {
        msg: &'m BorrowedMessage<'m>,
        /// The partition's last headers, shared when equal (see [`read_headers`]).
        previous: &'m Mutex<Arc<[RawHeader]>>,
        read: OnceLock<ReadHeaders>,
    },
    /// A record the runtime holds a copy of.
    Read(ReadHeaders),
}

impl<'m> LazyHeaders<'m> {
    /// The headers of a fetched record, unread.
    pub fn fetched(msg: &'m BorrowedMessage<'m>, previous: &'m Mutex<Arc<[RawHeader]>>) -> Self {
        LazyHeaders::Fetched {
            msg,
            previous,
            read: OnceLock::new(),
        }
    }

    /// The headers, read now if they were not yet.
    pub fn get(&self) -> &ReadHeaders {
        match self {
            LazyHeaders::Read(read) => read,
            LazyHeaders::Fetched {
                msg,
                previous,
                read,
            } => read.get_or_init(|| {
                let mut previous = previous.lock().unwrap_or_else(|p| p.into_inner());
                read_headers(msg, &mut previous)
            }),
        }
    }
}

/// The headers of `msg`, and why the record cannot be handled when a header name is
/// not UTF-8 (that header is kept under its name decoded lossily, so a dead-letter copy
/// still shows it).
///
/// `previous` holds the last headers read on this partition: records usually carry the
/// same ones (a `content-type`), and equal headers are shared instead of copied again.
/// It is updated with the headers returned, unless a name was unreadable.
pub(crate) fn read_headers(
    msg: &BorrowedMessage<'_>,
    previous: &mut Arc<[RawHeader]>,
) -> ReadHeaders {
    let mut headers_ptr: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `msg.ptr()` is a live message for the borrow's lifetime; librdkafka
    // returns a pointer to headers the message owns (or an error and no pointer).
    let found = unsafe { rd::rd_kafka_message_headers(msg.ptr(), &mut headers_ptr) };
    if found != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers_ptr.is_null() {
        if !previous.is_empty() {
            *previous = Arc::from([]);
        }
        return ReadHeaders {
            headers: previous.clone(),
            unreadable: None,
        };
    }
    // SAFETY: `headers_ptr` is the message's header list, valid while `msg` is.
    let count = unsafe { rd::rd_kafka_header_cnt(headers_ptr) };
    let raw: Vec<(&[u8], &[u8])> = (0..count)
        // SAFETY: as above; `index < count`.
        .filter_map(|index| unsafe { header_at(headers_ptr, index) })
        .collect();
    let same = raw.len() == previous.len()
        && raw
            .iter()
            .zip(previous.iter())
            .all(|((name, value), (n, v))| *name == n.as_bytes() && *value == v.as_slice());
    if same {
        return ReadHeaders {
            headers: previous.clone(),
            unreadable: None,
        };
    }
    let mut problem = None;
    let headers: Arc<[RawHeader]> = raw
        .iter()
        .enumerate()
        .map(|(index, (name, value))| {
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
            (name, value.to_vec())
        })
        .collect();
    if problem.is_none() {
        *previous = headers.clone();
    }
    ReadHeaders {
        headers,
        unreadable: problem,
    }
}

/// Name and value of header `index`, borrowed from the message.
///
/// # Safety
/// `headers` must be a live header list of a message that outlives `'m`, and
/// `index` below its count.
unsafe fn header_at<'m>(
    headers: *mut rd::rd_kafka_headers_t,
    index: usize,
) -> Option<(&'m [u8], &'m [u8])> {
    let mut name: *const c_char = std::ptr::null();
    let mut value: *const c_void = std::ptr::null();
    let mut size: usize = 0;
    // SAFETY: per the caller; the out-pointers point at locals.
    let got =
        unsafe { rd::rd_kafka_header_get_all(headers, index, &mut name, &mut value, &mut size) };
    if got != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
        return None;
    }
    // SAFETY: librdkafka keeps names NUL-terminated and values `size` bytes long, owned
    // by the message.
    unsafe {
        let name = CStr::from_ptr(name).to_bytes();
        let value = if value.is_null() {
            &[][..]
        } else {
            std::slice::from_raw_parts(value.cast::<u8>(), size)
        };
        Some((name, value))
    }
}

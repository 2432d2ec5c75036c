//! A foreign producer: writes records a Rust client would refuse to build, such as a
//! header whose name is not UTF-8 (other clients, and the Kafka protocol, allow any
//! bytes). Tests use it to check that such records reach the runtime and are handled.

use std::ffi::CString;
use std::os::raw::c_void;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::producer::{BaseProducer, Producer as _};
use rdkafka::ClientConfig;

use crate::{Error, Result};

/// One record, every part raw bytes.
#[derive(Debug, Clone, Default)]
pub struct ForeignRecord {
    pub partition: Option<i32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    /// Header names are raw bytes (without a NUL byte, which librdkafka's C API uses as
    /// the end of a name).
    pub headers: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Produces `records` to `topic` through librdkafka's C API and waits until each is
/// acknowledged (`acks=all`).
pub fn produce(bootstrap: &str, topic: &str, records: &[ForeignRecord]) -> Result<()> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .create()?;
    let topic = CString::new(topic).map_err(|e| Error::Foreign(e.to_string()))?;
    for record in records {
        produce_one(&producer, &topic, record)?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

fn produce_one(producer: &BaseProducer, topic: &CString, record: &ForeignRecord) -> Result<()> {
    let names = record
        .headers
        .iter()
        .map(|(name, _)| CString::new(name.clone()).map_err(|e| Error::Foreign(e.to_string())))
        .collect::<Result<Vec<_>>>()?;
    let mut vus = vec![
        vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC, |u| {
            u.cstr = topic.as_ptr()
        }),
        // librdkafka copies key and value, so nothing it keeps points into `record`.
        vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS, |u| {
            u.i = rd::RD_KAFKA_MSG_F_COPY
        }),
    ];
    if let Some(partition) = record.partition {
        vus.push(vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION, |u| {
            u.i32_ = partition
        }));
    }
    for (vtype, bytes) in [
        (rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY, &record.key),
        (rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE, &record.value),
    ] {
        if let Some(bytes) = bytes {
            vus.push(vu(vtype, |u| {
                u.mem = rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_1 {
                    ptr: bytes.as_ptr() as *mut c_void,
                    size: bytes.len(),
                }
            }));
        }
    }
    for (name, (_, value)) in names.iter().zip(&record.headers) {
        vus.push(vu(rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADER, |u| {
            u.header = rd::rd_kafka_vu_s__bindgen_ty_1__bindgen_ty_2 {
                name: name.as_ptr(),
                val: value.as_ptr() as *const c_void,
                size: value.len() as isize,
            }
        }));
    }
    // SAFETY: every pointer in `vus` points into `topic`, `names` or `record`, which
    // outlive the call; librdkafka copies what it keeps (key and value by
    // RD_KAFKA_MSG_F_COPY, headers always).
    let error =
        unsafe { rd::rd_kafka_produceva(producer.client().native_ptr(), vus.as_ptr(), vus.len()) };
    if error.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null error from produceva is ours to read and destroy.
    let text = unsafe {
        let text = std::ffi::CStr::from_ptr(rd::rd_kafka_error_string(error))
            .to_string_lossy()
            .into_owned();
        rd::rd_kafka_error_destroy(error);
        text
    };
    Err(Error::Foreign(text))
}

fn vu(
    vtype: rd::rd_kafka_vtype_t,
    fill: impl FnOnce(&mut rd::rd_kafka_vu_s__bindgen_ty_1),
) -> rd::rd_kafka_vu_t {
    let mut u = rd::rd_kafka_vu_s__bindgen_ty_1 { _pad: [0; 64] };
    fill(&mut u);
    rd::rd_kafka_vu_t { vtype, u }
}

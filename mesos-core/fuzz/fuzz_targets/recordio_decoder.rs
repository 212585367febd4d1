//! Fuzzes the streaming RecordIO decoder with arbitrary bytes cut into arbitrary chunks.
//!
//! Input layout:
//!
//! - byte 0: the maximum record size; below 0x80 it is the byte's value (so small limits and
//!   `RecordTooLarge` are exercised), otherwise `DEFAULT_MAX_RECORD_SIZE`;
//! - byte 1: `n % 16`, the number of chunk lengths that follow;
//! - the next `n` bytes: the lengths of the first chunks (0 gives an empty chunk);
//! - everything else: the stream. Whatever the chunk lengths leave over is the last chunk.
//!
//! Invariants checked:
//!
//! - no record is longer than the maximum record size;
//! - errors are sticky: after an `Err`, every later `decode`, `decode_with` and `finish`
//!   returns the same `Err`;
//! - `finish` succeeds exactly when `is_empty_buffer` says the decoder is on a record boundary;
//! - chunking does not matter: the chunked decoder fails with the same error as one fed the
//!   whole stream at once, `decode_with` delivers the same records either way, and `decode`
//!   delivers a prefix of them (all of them when there is no error);
//! - re-encoding the decoded records with `encode` and decoding that in one chunk gives the
//!   same records and a clean `finish`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_core::recordio::{DEFAULT_MAX_RECORD_SIZE, Decoder, RecordIoError, encode};

/// Splits `data` into the maximum record size, the chunk lengths and the stream.
fn layout(data: &[u8]) -> (usize, &[u8], &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return (DEFAULT_MAX_RECORD_SIZE, &[], &[]);
    };
    let max = if selector < 0x80 {
        usize::from(selector)
    } else {
        DEFAULT_MAX_RECORD_SIZE
    };
    let Some((&count, rest)) = rest.split_first() else {
        return (max, &[], &[]);
    };
    let (lengths, stream) = rest.split_at(usize::from(count % 16).min(rest.len()));
    (max, lengths, stream)
}

/// Cuts `stream` at the given chunk lengths; the remainder is the last chunk.
fn chunks<'a>(stream: &'a [u8], lengths: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::with_capacity(lengths.len() + 1);
    let mut rest = stream;
    for &len in lengths {
        let (chunk, tail) = rest.split_at(usize::from(len).min(rest.len()));
        out.push(chunk);
        rest = tail;
    }
    out.push(rest);
    out
}

/// Asserts that a failed decoder keeps reporting `error` from every entry point.
fn assert_sticky(decoder: &mut Decoder, error: &RecordIoError) {
    assert_eq!(decoder.decode(b""), Err(error.clone()));
    assert_eq!(decoder.decode(b"0\n1\nx"), Err(error.clone()));
    assert_eq!(
        decoder.decode_with(b"0\n", |_| panic!("a failed decoder delivered a record")),
        Err(error.clone())
    );
    assert_eq!(decoder.finish(), Err(error.clone()));
    assert!(!decoder.is_empty_buffer());
}

/// Ends the stream: checks `finish` against `is_empty_buffer` and returns the stream's error.
fn finish(decoder: &mut Decoder, error: Option<RecordIoError>) -> Option<RecordIoError> {
    let at_boundary = decoder.is_empty_buffer();
    let finished = decoder.finish();
    match &error {
        Some(e) => assert_eq!(finished, Err(e.clone()), "finish after an error"),
        None => assert_eq!(
            finished.is_ok(),
            at_boundary,
            "finish disagrees with is_empty_buffer: {finished:?}"
        ),
    }
    let error = error.or(finished.err());
    if let Some(e) = &error {
        assert_sticky(decoder, e);
    }
    error
}

fuzz_target!(|data: &[u8]| {
    let (max, lengths, stream) = layout(data);
    let pieces = chunks(stream, lengths);

    // Chunked, with `decode`.
    let mut decoder = Decoder::with_max_record_size(max);
    assert_eq!(decoder.max_record_size(), max);
    let mut decoded: Vec<Vec<u8>> = Vec::new();
    let mut error: Option<RecordIoError> = None;
    for piece in &pieces {
        let result = decoder.decode(piece);
        match (&error, result) {
            (None, Ok(records)) => {
                for record in &records {
                    assert!(
                        record.len() <= max,
                        "record of {} > max {max}",
                        record.len()
                    );
                }
                decoded.extend(records);
            }
            (None, Err(e)) => {
                assert_sticky(&mut decoder, &e);
                error = Some(e);
            }
            (Some(e), result) => assert_eq!(result, Err(e.clone()), "error is not sticky"),
        }
    }
    let chunked_error = finish(&mut decoder, error);

    // Chunked, with `decode_with`: also delivers the records that precede an error mid-chunk.
    let mut decoder = Decoder::with_max_record_size(max);
    let mut delivered: Vec<Vec<u8>> = Vec::new();
    let mut error: Option<RecordIoError> = None;
    for piece in &pieces {
        let result = decoder.decode_with(piece, |record| {
            assert!(
                record.len() <= max,
                "record of {} > max {max}",
                record.len()
            );
            delivered.push(record.to_vec());
        });
        match (&error, result) {
            (None, Ok(())) => {}
            (None, Err(e)) => error = Some(e),
            (Some(e), result) => assert_eq!(result, Err(e.clone()), "error is not sticky"),
        }
    }
    let chunked_with_error = finish(&mut decoder, error);

    // The whole stream in one chunk.
    let mut decoder = Decoder::with_max_record_size(max);
    let mut whole: Vec<Vec<u8>> = Vec::new();
    let result = decoder.decode_with(stream, |record| whole.push(record.to_vec()));
    let whole_error = finish(&mut decoder, result.err());

    assert_eq!(chunked_error, whole_error, "chunking changed the error");
    assert_eq!(
        chunked_with_error, whole_error,
        "chunking changed the error"
    );
    assert_eq!(delivered, whole, "chunking changed the records");
    assert!(
        whole.starts_with(&decoded),
        "decode delivered records that decode_with did not"
    );
    if whole_error.is_none() {
        assert_eq!(decoded, whole, "decode lost records without an error");
    }

    // Re-encode and decode again in one piece.
    let mut encoded = Vec::new();
    for record in &whole {
        encode(record, &mut encoded);
    }
    let mut decoder = Decoder::with_max_record_size(max);
    let again = decoder.decode(&encoded).expect("re-encoded records decode");
    assert_eq!(again, whole, "re-encoding changed the records");
    assert!(decoder.is_empty_buffer());
    assert_eq!(decoder.finish(), Ok(()));
});

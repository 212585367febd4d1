//! Property tests for RecordIO framing: decoding must not depend on how the stream is chunked,
//! and no input, however corrupt, may make the decoder panic.

use mesos_core::recordio::{Decoder, RecordIoError, encode};
use proptest::prelude::*;
use proptest::sample::Index;

fn payloads() -> impl Strategy<Value = Vec<Vec<u8>>> {
    // Mostly short payloads so that many records share a chunk, plus the odd longer one that
    // spans several chunks.
    let payload = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..16),
        1 => prop::collection::vec(any::<u8>(), 0..2048),
    ];
    prop::collection::vec(payload, 0..24)
}

fn encode_all(payloads: &[Vec<u8>]) -> Vec<u8> {
    let mut stream = Vec::new();
    for payload in payloads {
        encode(payload, &mut stream);
    }
    stream
}

/// Splits `stream` at the given cut points (positions modulo the stream length, in any order).
fn split_at_cuts<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut positions: Vec<usize> = cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
    positions.push(0);
    positions.push(stream.len());
    positions.sort_unstable();
    // Duplicate cut points deliberately stay in: they produce empty chunks.
    positions.windows(2).map(|w| &stream[w[0]..w[1]]).collect()
}

/// Decodes `chunks` in order with `decode`, stopping at the first error.
fn decode_chunks(decoder: &mut Decoder, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, RecordIoError> {
    let mut records = Vec::new();
    for chunk in chunks {
        records.extend(decoder.decode(chunk)?);
    }
    decoder.finish()?;
    Ok(records)
}

/// Decodes `chunks` with `decode_with`, returning the records seen before any error as well.
fn decode_chunks_with(
    decoder: &mut Decoder,
    chunks: &[&[u8]],
) -> (Vec<Vec<u8>>, Result<(), RecordIoError>) {
    let mut records = Vec::new();
    for chunk in chunks {
        if let Err(error) = decoder.decode_with(chunk, |record| records.push(record.to_vec())) {
            return (records, Err(error));
        }
    }
    let end = decoder.finish();
    (records, end)
}

/// Byte ranges of `stream` occupied by payloads (as opposed to length headers).
fn payload_ranges(payloads: &[Vec<u8>]) -> Vec<std::ops::Range<usize>> {
    let mut ranges = Vec::new();
    let mut offset = 0;
    for payload in payloads {
        offset += payload.len().to_string().len() + 1;
        ranges.push(offset..offset + payload.len());
        offset += payload.len();
    }
    ranges
}

/// A deliberately naive whole-buffer parser of the Mesos RecordIO grammar, used as an oracle:
/// returns the records before the first problem and the error the incremental decoder must report.
fn reference_decode(stream: &[u8], max: usize) -> (Vec<Vec<u8>>, Result<(), RecordIoError>) {
    let mut records = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let digits = rest.iter().take_while(|byte| byte.is_ascii_digit()).count();
        // The header value only grows with each digit, so the decoder notices an overflow within
        // the first 20 digits before it notices a 21st digit.
        let prefix = std::str::from_utf8(&rest[..digits.min(20)]).unwrap();
        let length = if prefix.is_empty() {
            Ok(0)
        } else {
            prefix.parse::<u64>()
        };
        let Ok(length) = length else {
            return (records, Err(RecordIoError::LengthOverflow));
        };
        if digits > 20 {
            return (
                records,
                Err(RecordIoError::HeaderTooLong { max_digits: 20 }),
            );
        }
        let Some(&terminator) = rest.get(digits) else {
            return (records, Err(RecordIoError::TruncatedHeader { digits }));
        };
        if terminator != b'\n' {
            return (
                records,
                Err(RecordIoError::InvalidHeaderByte { byte: terminator }),
            );
        }
        if digits == 0 {
            return (records, Err(RecordIoError::EmptyHeader));
        }
        let fits = usize::try_from(length).ok().filter(|&length| length <= max);
        let Some(length) = fits else {
            return (records, Err(RecordIoError::RecordTooLarge { length, max }));
        };
        rest = &rest[digits + 1..];
        if rest.len() < length {
            let error = RecordIoError::Truncated {
                expected: length,
                received: rest.len(),
            };
            return (records, Err(error));
        }
        records.push(rest[..length].to_vec());
        rest = &rest[length..];
    }
    (records, Ok(()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn roundtrip_with_random_chunking(
        payloads in payloads(),
        cuts in prop::collection::vec(any::<Index>(), 0..40),
    ) {
        let stream = encode_all(&payloads);
        let chunks = split_at_cuts(&stream, &cuts);

        let mut decoder = Decoder::new();
        prop_assert_eq!(decode_chunks(&mut decoder, &chunks), Ok(payloads.clone()));
        prop_assert!(decoder.is_empty_buffer());

        let (records, end) = decode_chunks_with(&mut Decoder::new(), &chunks);
        prop_assert_eq!(end, Ok(()));
        prop_assert_eq!(records, payloads);
    }

    #[test]
    fn roundtrip_with_fixed_chunk_sizes(
        payloads in payloads(),
        chunk_size in prop_oneof![Just(1usize), Just(2), 1usize..64],
    ) {
        let stream = encode_all(&payloads);
        let chunks: Vec<&[u8]> = stream.chunks(chunk_size).collect();
        prop_assert_eq!(decode_chunks(&mut Decoder::new(), &chunks), Ok(payloads));
    }

    #[test]
    fn truncated_stream_is_detected(
        payloads in payloads().prop_filter("needs a record", |p| !p.is_empty()),
        cut in any::<Index>(),
    ) {
        let stream = encode_all(&payloads);
        let end = cut.index(stream.len());
        let mut boundaries = vec![0];
        for payload in &payloads {
            let last = *boundaries.last().unwrap();
            boundaries.push(last + payload.len().to_string().len() + 1 + payload.len());
        }

        let mut decoder = Decoder::new();
        let decoded = decoder.decode(&stream[..end]);
        prop_assert!(decoded.is_ok());
        if let Ok(index) = boundaries.binary_search(&end) {
            prop_assert!(decoder.is_empty_buffer());
            prop_assert_eq!(decoder.finish(), Ok(()));
            prop_assert_eq!(decoded.unwrap(), payloads[..index].to_vec());
        } else {
            prop_assert!(!decoder.is_empty_buffer());
            let error = decoder.finish().unwrap_err();
            let is_truncation = matches!(
                error,
                RecordIoError::Truncated { .. } | RecordIoError::TruncatedHeader { .. }
            );
            prop_assert!(is_truncation, "unexpected error {}", error);
            prop_assert_eq!(decoder.finish(), Err(error));
        }
    }

    #[test]
    fn garbage_never_panics_and_errors_are_sticky(
        garbage in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            // Mostly header-ish bytes, to get past the first byte more often.
            prop::collection::vec(prop::sample::select(b"0123456789\n\nx".to_vec()), 0..512),
        ],
        cuts in prop::collection::vec(any::<Index>(), 0..16),
        max in prop_oneof![Just(0usize), 0usize..64, Just(usize::MAX)],
    ) {
        let chunks = split_at_cuts(&garbage, &cuts);
        let mut decoder = Decoder::with_max_record_size(max);
        let mut first_error = None;
        for chunk in &chunks {
            match decoder.decode(chunk) {
                Ok(records) => {
                    prop_assert!(first_error.is_none());
                    prop_assert!(records.iter().all(|record| record.len() <= max));
                }
                Err(error) => {
                    if let Some(first) = &first_error {
                        prop_assert_eq!(first, &error);
                    }
                    first_error = Some(error);
                }
            }
        }
        let end = decoder.finish();
        if let Some(first) = first_error {
            prop_assert_eq!(end, Err(first));
        }
        let _ = format!("{decoder:?}");
    }

    #[test]
    fn matches_reference_decoder_on_arbitrary_input(
        input in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            prop::collection::vec(prop::sample::select(b"00123456789\n\n\rx".to_vec()), 0..256),
            // Headers padded with leading zeros: valid up to 20 digits, too long beyond.
            prop::collection::vec((0usize..24, prop::collection::vec(any::<u8>(), 0..8)), 0..8)
                .prop_map(|records| {
                    let mut stream = Vec::new();
                    for (zeros, payload) in records {
                        stream.resize(stream.len() + zeros, b'0');
                        encode(&payload, &mut stream);
                    }
                    stream
                }),
            // Valid streams with some bytes appended, so errors also occur after good records.
            (payloads(), prop::collection::vec(any::<u8>(), 0..8)).prop_map(|(payloads, tail)| {
                let mut stream = encode_all(&payloads);
                stream.extend(tail);
                stream
            }),
        ],
        cuts in prop::collection::vec(any::<Index>(), 0..16),
        max in prop_oneof![0usize..64, Just(usize::MAX)],
    ) {
        let chunks = split_at_cuts(&input, &cuts);
        let actual = decode_chunks_with(&mut Decoder::with_max_record_size(max), &chunks);
        prop_assert_eq!(actual, reference_decode(&input, max));
    }

    #[test]
    fn single_byte_corruption_never_panics(
        payloads in payloads().prop_filter("needs a record", |p| !p.is_empty()),
        position in any::<Index>(),
        flip in 1u8..=255,
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let mut stream = encode_all(&payloads);
        let position = position.index(stream.len());
        stream[position] ^= flip;

        let whole = decode_chunks(&mut Decoder::new(), &[&stream]);
        let chunked = decode_chunks(&mut Decoder::new(), &split_at_cuts(&stream, &cuts));
        // Whatever the outcome, it must not depend on the chunking.
        prop_assert_eq!(&whole, &chunked);

        let ranges = payload_ranges(&payloads);
        if let Some(record) = ranges.iter().position(|range| range.contains(&position)) {
            // A corrupted payload byte is invisible to the framing: same records, one byte changed.
            let mut expected = payloads;
            expected[record][position - ranges[record].start] ^= flip;
            prop_assert_eq!(whole, Ok(expected));
        } else if let Ok(records) = whole {
            // A corrupted header that still parsed must yield records that fit in the stream
            // (not necessarily exactly: a digit turned into a leading zero lengthens a header).
            let reencoded: usize = records
                .iter()
                .map(|record| record.len().to_string().len() + 1 + record.len())
                .sum();
            prop_assert!(reencoded <= stream.len());
        }
    }

    #[test]
    fn max_record_size_is_enforced(
        payloads in payloads(),
        max in 0usize..64,
        cuts in prop::collection::vec(any::<Index>(), 0..16),
    ) {
        let stream = encode_all(&payloads);
        let chunks = split_at_cuts(&stream, &cuts);
        let (records, end) = decode_chunks_with(&mut Decoder::with_max_record_size(max), &chunks);

        match payloads.iter().position(|payload| payload.len() > max) {
            None => {
                prop_assert_eq!(end, Ok(()));
                prop_assert_eq!(records, payloads);
            }
            Some(oversized) => {
                let length = u64::try_from(payloads[oversized].len()).unwrap();
                prop_assert_eq!(end, Err(RecordIoError::RecordTooLarge { length, max }));
                prop_assert_eq!(records, payloads[..oversized].to_vec());
            }
        }
    }
}

#[test]
fn every_one_byte_chunking_of_a_mixed_stream() {
    let payloads: Vec<Vec<u8>> = vec![b"{}".to_vec(), Vec::new(), vec![b'\n'; 12], b"0\n".to_vec()];
    let stream = encode_all(&payloads);
    let chunks: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode_chunks(&mut Decoder::new(), &chunks), Ok(payloads));
}

//! RecordIO framing as used by the Mesos streaming HTTP APIs.
//!
//! Mesos streams events (scheduler `SUBSCRIBE`, executor `SUBSCRIBE`, operator `SUBSCRIBE`, ...)
//! as a sequence of records, each framed as
//!
//! ```text
//! record      = record-size LF record-data
//! record-size = 1*DIGIT            ; ASCII decimal, interpreted as a u64
//! record-data = record-size(OCTET)
//! ```
//!
//! There is no stream header, no carriage return and no padding. This differs from other formats
//! that share the "RecordIO" name (fixed-width binary lengths, magic numbers), so the codec here is
//! deliberately strict: anything but ASCII digits before the `\n` is an error.
//!
//! Intermediaries such as proxies may re-chunk the HTTP body freely, so the [`Decoder`] accepts
//! bytes in arbitrary pieces: one chunk may hold several records, and a record (or even its length
//! header) may be spread across many chunks.
//!
//! The module is pure: it performs no I/O and is independent of any async runtime, so the same
//! code serves the scheduler and executor SDKs, the daemons and the tests.
//!
//! # Example
//!
//! ```
//! use mesos_core::recordio::{Decoder, encode};
//!
//! let mut stream = Vec::new();
//! encode(br#"{"type":"HEARTBEAT"}"#, &mut stream);
//! encode(b"", &mut stream);
//! assert_eq!(&stream[..4], b"20\n{");
//!
//! // Feed the stream in two pieces that split the first record.
//! let mut decoder = Decoder::new();
//! let (first, second) = stream.split_at(7);
//! assert!(decoder.decode(first)?.is_empty());
//! let records = decoder.decode(second)?;
//! assert_eq!(records, vec![br#"{"type":"HEARTBEAT"}"#.to_vec(), Vec::new()]);
//!
//! // At end of stream, make sure it did not stop in the middle of a record.
//! decoder.finish()?;
//! # Ok::<(), mesos_core::recordio::RecordIoError>(())
//! ```

use std::fmt;

/// Default cap on the payload size of a single record: 64 MiB.
///
/// A length header is attacker-controlled input, and the decoder must buffer a record until it is
/// complete, so without a cap a single header could make the process reserve unbounded memory.
/// 64 MiB comfortably exceeds any event Mesos itself emits.
pub const DEFAULT_MAX_RECORD_SIZE: usize = 64 * 1024 * 1024;

/// The number of decimal digits in `u64::MAX`, the longest header that can possibly be valid
/// without leading zeros.
///
/// Bounding the header length means garbage that happens to be all digits is rejected after a few
/// bytes instead of being read forever.
pub const MAX_HEADER_DIGITS: usize = 20;

// `LengthHeader` stores at most `MAX_HEADER_DIGITS` digits of a `usize`.
const _: () = assert!(usize::BITS <= u64::BITS);

/// Once a reassembly buffer grows beyond this many bytes it is released after its record has been
/// delivered, so that one large record does not pin its memory for the rest of a long-lived stream.
const RETAINED_BUFFER_CAPACITY: usize = 1024 * 1024;

const DIGITS: &[u8; 10] = b"0123456789";

/// Errors produced while decoding a RecordIO stream.
///
/// Every variant means the stream cannot be trusted from that point on: once the length of one
/// record is unknown, the start of the next record cannot be found either. The [`Decoder`]
/// therefore keeps returning the same error after the first one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordIoError {
    /// A byte other than an ASCII digit or the terminating `\n` appeared in a length header.
    #[error("invalid byte {byte:#04x} in record length header")]
    InvalidHeaderByte {
        /// The offending byte.
        byte: u8,
    },

    /// A length header contained no digits at all (a bare `\n`).
    #[error("empty record length header")]
    EmptyHeader,

    /// A length header had more digits than any `u64` needs.
    #[error("record length header longer than {max_digits} digits")]
    HeaderTooLong {
        /// The maximum number of digits accepted, [`MAX_HEADER_DIGITS`].
        max_digits: usize,
    },

    /// A length header's value does not fit in a `u64`.
    #[error("record length header overflows u64")]
    LengthOverflow,

    /// A record declared a payload longer than the decoder's maximum record size.
    #[error("record of {length} bytes exceeds the maximum record size of {max} bytes")]
    RecordTooLarge {
        /// The payload length announced by the header.
        length: u64,
        /// The decoder's configured maximum.
        max: usize,
    },

    /// The stream ended inside a record's payload.
    #[error("stream ended inside a record: expected {expected} payload bytes, received {received}")]
    Truncated {
        /// The payload length announced by the header.
        expected: usize,
        /// How many payload bytes arrived before the end of the stream.
        received: usize,
    },

    /// The stream ended inside a length header, before its terminating `\n`.
    #[error("stream ended inside a record length header after {digits} digits")]
    TruncatedHeader {
        /// How many header digits arrived before the end of the stream.
        digits: usize,
    },
}

/// Appends `payload` to `out` as one RecordIO record.
///
/// Encoding is stateless (every record is independent), so a plain function is all that is needed;
/// appending to a caller-owned buffer lets several records be batched into one write without
/// intermediate allocations.
pub fn encode(payload: &[u8], out: &mut Vec<u8>) {
    let header = LengthHeader::new(payload.len());
    out.reserve(header.as_bytes().len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
}

/// The framing header (`<decimal length>\n`) for a record, formatted on the stack.
///
/// Use this instead of [`encode`] when the payload should not be copied, for example to write the
/// header and an existing payload buffer with a single vectored write.
///
/// ```
/// use mesos_core::recordio::LengthHeader;
///
/// assert_eq!(LengthHeader::new(20).as_bytes(), b"20\n");
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct LengthHeader {
    bytes: [u8; MAX_HEADER_DIGITS + 1],
    start: usize,
}

impl LengthHeader {
    /// Formats the header announcing a payload of `len` bytes.
    #[must_use]
    pub const fn new(len: usize) -> Self {
        let mut bytes = [0; MAX_HEADER_DIGITS + 1];
        let mut start = MAX_HEADER_DIGITS;
        bytes[start] = b'\n';
        let mut rest = len;
        loop {
            start -= 1;
            bytes[start] = DIGITS[rest % 10];
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        Self { bytes, start }
    }

    /// The header bytes, including the trailing `\n`.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }
}

impl AsRef<[u8]> for LengthHeader {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl fmt::Debug for LengthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LengthHeader")
            .field(&String::from_utf8_lossy(self.as_bytes()))
            .finish()
    }
}

/// Incremental RecordIO decoder.
///
/// Feed it the stream chunk by chunk, in whatever pieces the transport delivers, with
/// [`decode`](Self::decode) or [`decode_with`](Self::decode_with); call [`finish`](Self::finish)
/// at end of stream to detect a stream cut off in the middle of a record.
///
/// After any error the decoder is failed for good and every later call returns that same error,
/// because the position of the next record boundary is lost.
pub struct Decoder {
    max_record_size: usize,
    state: State,
    /// Reassembly buffer for a payload that spans chunks. Payloads that lie entirely within one
    /// chunk never pass through it.
    buffer: Vec<u8>,
}

#[derive(Debug)]
enum State {
    /// Reading a length header; `digits == 0` means the decoder sits on a record boundary.
    Header {
        length: u64,
        digits: usize,
    },
    /// Reading a payload of `length` bytes, of which `buffer.len()` have arrived.
    Payload {
        length: usize,
    },
    Failed(RecordIoError),
}

impl State {
    const BOUNDARY: Self = Self::Header {
        length: 0,
        digits: 0,
    };
}

/// A complete payload, either borrowed straight from the input chunk or reassembled in the
/// decoder's buffer. Keeping the two apart lets [`Decoder::decode`] move a reassembled buffer out
/// instead of copying it.
enum Complete<'c, 'b> {
    Borrowed(&'c [u8]),
    Reassembled(&'b mut Vec<u8>),
}

impl Decoder {
    /// Creates a decoder with the [`DEFAULT_MAX_RECORD_SIZE`].
    #[must_use]
    pub const fn new() -> Self {
        Self::with_max_record_size(DEFAULT_MAX_RECORD_SIZE)
    }

    /// Creates a decoder that rejects records whose payload exceeds `max_record_size` bytes.
    ///
    /// The check happens as soon as the length header is complete, before any payload is
    /// buffered, so an oversized record costs no memory.
    #[must_use]
    pub const fn with_max_record_size(max_record_size: usize) -> Self {
        Self {
            max_record_size,
            state: State::BOUNDARY,
            buffer: Vec::new(),
        }
    }

    /// The largest payload, in bytes, this decoder accepts.
    #[must_use]
    pub const fn max_record_size(&self) -> usize {
        self.max_record_size
    }

    /// Decodes the next `chunk` of the stream and returns the records it completed, in order.
    ///
    /// Records that end in a later chunk are kept internally until that chunk arrives. On error,
    /// records completed earlier within the same chunk are discarded along with the rest of the
    /// stream; use [`decode_with`](Self::decode_with) to receive every record that precedes the
    /// corruption.
    ///
    /// # Errors
    ///
    /// Returns a [`RecordIoError`] if the chunk contains a malformed length header or a record
    /// larger than the maximum record size, or if the decoder failed earlier.
    pub fn decode(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        let mut records = Vec::new();
        self.drive(chunk, |complete| {
            records.push(match complete {
                Complete::Borrowed(payload) => payload.to_vec(),
                Complete::Reassembled(buffer) => std::mem::take(buffer),
            });
        })?;
        Ok(records)
    }

    /// Decodes the next `chunk` of the stream, calling `on_record` with each completed payload.
    ///
    /// This avoids copying: a payload that lies entirely within `chunk` is passed as a slice of
    /// `chunk`, and a payload that spanned chunks is passed from a reassembly buffer that is then
    /// reused for the next such record.
    ///
    /// # Errors
    ///
    /// Same as [`decode`](Self::decode). Records that precede the error have already been passed
    /// to `on_record` when it is returned.
    pub fn decode_with<F>(&mut self, chunk: &[u8], mut on_record: F) -> Result<(), RecordIoError>
    where
        F: FnMut(&[u8]),
    {
        self.drive(chunk, |complete| match complete {
            Complete::Borrowed(payload) => on_record(payload),
            Complete::Reassembled(buffer) => on_record(buffer),
        })
    }

    /// Returns `true` if the decoder sits on a record boundary: no part of a length header or
    /// payload is waiting for more input.
    ///
    /// A failed decoder has lost track of record boundaries, so this returns `false` for it.
    #[must_use]
    pub const fn is_empty_buffer(&self) -> bool {
        matches!(self.state, State::Header { digits: 0, .. })
    }

    /// Signals the end of the stream and checks that it ended on a record boundary.
    ///
    /// Mesos never ends a stream mid-record on purpose, so a partial record here means the
    /// connection was cut and its last event is lost. The decoder may still be fed after a
    /// successful `finish` (for instance with the next stream on a reused decoder).
    ///
    /// # Errors
    ///
    /// Returns [`RecordIoError::TruncatedHeader`] or [`RecordIoError::Truncated`] if the stream
    /// stopped inside a record, which also fails the decoder, or the earlier error if the decoder
    /// had already failed.
    pub fn finish(&mut self) -> Result<(), RecordIoError> {
        match self.state {
            State::Header { digits: 0, .. } => Ok(()),
            State::Header { digits, .. } => {
                Err(self.fail(RecordIoError::TruncatedHeader { digits }))
            }
            State::Payload { length } => Err(self.fail(RecordIoError::Truncated {
                expected: length,
                received: self.buffer.len(),
            })),
            State::Failed(ref error) => Err(error.clone()),
        }
    }

    /// The state machine shared by [`decode`](Self::decode) and
    /// [`decode_with`](Self::decode_with).
    fn drive<'c, F>(&mut self, chunk: &'c [u8], mut emit: F) -> Result<(), RecordIoError>
    where
        F: FnMut(Complete<'c, '_>),
    {
        let mut rest = chunk;
        while !rest.is_empty() {
            match self.state {
                State::Failed(ref error) => return Err(error.clone()),
                State::Header { length, digits } => {
                    let Some(length) = self.read_header(length, digits, &mut rest)? else {
                        break;
                    };
                    if let Some((payload, tail)) = rest.split_at_checked(length) {
                        // Fast path: the whole payload is in this chunk, hand it out in place.
                        emit(Complete::Borrowed(payload));
                        rest = tail;
                        self.state = State::BOUNDARY;
                    } else {
                        extend_bounded(&mut self.buffer, rest, length);
                        rest = &[];
                        self.state = State::Payload { length };
                    }
                }
                State::Payload { length } => {
                    let wanted = length - self.buffer.len();
                    let (part, tail) = rest.split_at(wanted.min(rest.len()));
                    extend_bounded(&mut self.buffer, part, length);
                    rest = tail;
                    if self.buffer.len() == length {
                        emit(Complete::Reassembled(&mut self.buffer));
                        self.buffer.clear();
                        if self.buffer.capacity() > RETAINED_BUFFER_CAPACITY {
                            self.buffer = Vec::new();
                        }
                        self.state = State::BOUNDARY;
                    }
                }
            }
        }
        // An empty chunk still has to report an earlier failure.
        match self.state {
            State::Failed(ref error) => Err(error.clone()),
            _ => Ok(()),
        }
    }

    /// Consumes length-header bytes from the front of `rest`, continuing a header of which
    /// `digits` digits with value `length` arrived earlier.
    ///
    /// Returns the validated payload length once the terminating `\n` has been consumed, or `None`
    /// if `rest` ran out first (the partial header is kept in the state).
    fn read_header(
        &mut self,
        mut length: u64,
        mut digits: usize,
        rest: &mut &[u8],
    ) -> Result<Option<usize>, RecordIoError> {
        while let Some((&byte, tail)) = rest.split_first() {
            *rest = tail;
            match byte {
                b'\n' if digits == 0 => return Err(self.fail(RecordIoError::EmptyHeader)),
                b'\n' => {
                    self.state = State::BOUNDARY;
                    return self.check_length(length).map(Some);
                }
                b'0'..=b'9' => {
                    if digits == MAX_HEADER_DIGITS {
                        return Err(self.fail(RecordIoError::HeaderTooLong {
                            max_digits: MAX_HEADER_DIGITS,
                        }));
                    }
                    let Some(next) = length
                        .checked_mul(10)
                        .and_then(|n| n.checked_add(u64::from(byte - b'0')))
                    else {
                        return Err(self.fail(RecordIoError::LengthOverflow));
                    };
                    length = next;
                    digits += 1;
                }
                _ => return Err(self.fail(RecordIoError::InvalidHeaderByte { byte })),
            }
        }
        self.state = State::Header { length, digits };
        Ok(None)
    }

    fn check_length(&mut self, length: u64) -> Result<usize, RecordIoError> {
        let max = self.max_record_size;
        match usize::try_from(length) {
            Ok(length) if length <= max => Ok(length),
            _ => Err(self.fail(RecordIoError::RecordTooLarge { length, max })),
        }
    }

    /// Puts the decoder into the sticky failed state and releases any buffered payload.
    fn fail(&mut self, error: RecordIoError) -> RecordIoError {
        self.state = State::Failed(error.clone());
        self.buffer = Vec::new();
        error
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Decoder {
    /// Shows the state and the amount buffered, never the payload bytes, which may be large or
    /// sensitive.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decoder")
            .field("max_record_size", &self.max_record_size)
            .field("state", &self.state)
            .field("buffered", &self.buffer.len())
            .finish()
    }
}

/// Appends `bytes` to a reassembly buffer whose final size will be `total`.
///
/// Capacity grows geometrically, as `Vec` would, but never beyond `total`: the announced length is
/// known, so there is no reason to over-allocate, and reserving all of `total` up front would let a
/// header alone claim up to the maximum record size before any payload has arrived.
fn extend_bounded(buffer: &mut Vec<u8>, bytes: &[u8], total: usize) {
    let needed = buffer.len() + bytes.len();
    if needed > buffer.capacity() {
        let target = needed.max(buffer.capacity().saturating_mul(2)).min(total);
        buffer.reserve_exact(target - buffer.len());
    }
    buffer.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for payload in payloads {
            encode(payload, &mut out);
        }
        out
    }

    fn decode_all(decoder: &mut Decoder, chunks: &[&[u8]]) -> Result<Vec<Vec<u8>>, RecordIoError> {
        let mut records = Vec::new();
        for chunk in chunks {
            records.extend(decoder.decode(chunk)?);
        }
        Ok(records)
    }

    #[test]
    fn encodes_mesos_example() {
        let mut out = Vec::new();
        encode(br#"{"type":"HEARTBEAT"}"#, &mut out);
        assert_eq!(out, b"20\n{\"type\":\"HEARTBEAT\"}");
    }

    #[test]
    fn encode_appends() {
        let mut out = b"x".to_vec();
        encode(b"ab", &mut out);
        encode(b"", &mut out);
        assert_eq!(out, b"x2\nab0\n");
    }

    #[test]
    fn length_header_formats_extremes() {
        assert_eq!(LengthHeader::new(0).as_bytes(), b"0\n");
        assert_eq!(LengthHeader::new(9).as_bytes(), b"9\n");
        assert_eq!(LengthHeader::new(10).as_bytes(), b"10\n");
        assert_eq!(
            LengthHeader::new(usize::MAX).as_bytes(),
            format!("{}\n", usize::MAX).as_bytes()
        );
        assert_eq!(LengthHeader::new(1234).as_ref(), b"1234\n");
        assert_eq!(
            format!("{:?}", LengthHeader::new(7)),
            r#"LengthHeader("7\n")"#
        );
    }

    #[test]
    fn decodes_single_record() {
        let mut decoder = Decoder::new();
        let records = decoder.decode(b"20\n{\"type\":\"HEARTBEAT\"}").unwrap();
        assert_eq!(records, vec![br#"{"type":"HEARTBEAT"}"#.to_vec()]);
        assert!(decoder.is_empty_buffer());
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn decodes_several_records_in_one_chunk() {
        let stream = encoded(&[b"one", b"", b"three", b"4444"]);
        let records = Decoder::new().decode(&stream).unwrap();
        assert_eq!(
            records,
            vec![b"one".to_vec(), vec![], b"three".to_vec(), b"4444".to_vec()]
        );
    }

    #[test]
    fn decodes_byte_by_byte() {
        let payloads: [&[u8]; 4] = [b"hello", b"", b"0123456789abcdef", b"\n\n0\n"];
        let stream = encoded(&payloads);
        let mut decoder = Decoder::new();
        let chunks: Vec<&[u8]> = stream.chunks(1).collect();
        let records = decode_all(&mut decoder, &chunks).unwrap();
        assert_eq!(records, payloads.map(<[u8]>::to_vec));
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn header_split_across_chunks() {
        let payload = vec![b'z'; 1234];
        let stream = encoded(&[&payload]);
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"12").unwrap().is_empty());
        assert!(!decoder.is_empty_buffer());
        assert!(decoder.decode(b"34").unwrap().is_empty());
        assert!(decoder.decode(b"\n").unwrap().is_empty());
        assert!(!decoder.is_empty_buffer());
        assert_eq!(decoder.decode(&stream[5..]).unwrap(), vec![payload]);
        assert!(decoder.is_empty_buffer());
    }

    #[test]
    fn record_completes_and_next_starts_in_same_chunk() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"5\nhel").unwrap().is_empty());
        assert_eq!(decoder.decode(b"lo3\nab").unwrap(), vec![b"hello".to_vec()]);
        assert_eq!(decoder.decode(b"c").unwrap(), vec![b"abc".to_vec()]);
    }

    #[test]
    fn empty_records_and_empty_chunks() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"").unwrap().is_empty());
        assert_eq!(
            decoder.decode(b"0\n0\n").unwrap(),
            vec![Vec::<u8>::new(), Vec::new()]
        );
        assert!(decoder.decode(b"0").unwrap().is_empty());
        assert_eq!(decoder.decode(b"\n").unwrap(), vec![Vec::<u8>::new()]);
        assert!(decoder.decode(b"").unwrap().is_empty());
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn leading_zeros_are_accepted() {
        // The grammar is `1*DIGIT`; Mesos never writes leading zeros but they are not invalid.
        assert_eq!(
            Decoder::new().decode(b"003\nabc").unwrap(),
            vec![b"abc".to_vec()]
        );
    }

    #[test]
    fn rejects_non_digit_header_byte() {
        let error = Decoder::new().decode(b"1A\n").unwrap_err();
        assert_eq!(error, RecordIoError::InvalidHeaderByte { byte: b'A' });
        assert_eq!(
            error.to_string(),
            "invalid byte 0x41 in record length header"
        );
    }

    #[test]
    fn rejects_carriage_return_and_signs() {
        for stream in [&b"3\r\nabc"[..], b"+3\nabc", b"-3\n", b" 3\nabc"] {
            let error = Decoder::new().decode(stream).unwrap_err();
            assert!(
                matches!(error, RecordIoError::InvalidHeaderByte { .. }),
                "{stream:?}: {error}"
            );
        }
        assert_eq!(
            Decoder::new().decode(b"3\r\n").unwrap_err().to_string(),
            "invalid byte 0x0d in record length header"
        );
    }

    #[test]
    fn rejects_empty_header() {
        let error = Decoder::new().decode(b"\n3\nabc").unwrap_err();
        assert_eq!(error, RecordIoError::EmptyHeader);
        assert_eq!(error.to_string(), "empty record length header");
    }

    #[test]
    fn rejects_header_longer_than_u64_digits() {
        let mut decoder = Decoder::new();
        // 20 zeros are still a (silly) valid header prefix ...
        assert!(
            decoder
                .decode(&[b'0'; MAX_HEADER_DIGITS])
                .unwrap()
                .is_empty()
        );
        // ... but a 21st digit is not, even before any newline arrives.
        let error = decoder.decode(b"0").unwrap_err();
        assert_eq!(error, RecordIoError::HeaderTooLong { max_digits: 20 });
        assert_eq!(
            error.to_string(),
            "record length header longer than 20 digits"
        );
    }

    #[test]
    fn rejects_length_overflowing_u64() {
        let error = Decoder::new()
            .decode(b"18446744073709551616\n")
            .unwrap_err();
        assert_eq!(error, RecordIoError::LengthOverflow);
        assert_eq!(error.to_string(), "record length header overflows u64");
    }

    #[test]
    fn u64_max_is_a_length_not_an_overflow() {
        let error = Decoder::new()
            .decode(b"18446744073709551615\n")
            .unwrap_err();
        assert_eq!(
            error,
            RecordIoError::RecordTooLarge {
                length: u64::MAX,
                max: DEFAULT_MAX_RECORD_SIZE
            }
        );
    }

    #[test]
    fn enforces_max_record_size() {
        let mut decoder = Decoder::with_max_record_size(4);
        assert_eq!(decoder.max_record_size(), 4);
        assert_eq!(decoder.decode(b"4\nabcd").unwrap(), vec![b"abcd".to_vec()]);
        let error = decoder.decode(b"5\nabcde").unwrap_err();
        assert_eq!(error, RecordIoError::RecordTooLarge { length: 5, max: 4 });
        assert_eq!(
            error.to_string(),
            "record of 5 bytes exceeds the maximum record size of 4 bytes"
        );
    }

    #[test]
    fn max_record_size_is_checked_before_buffering() {
        let mut decoder = Decoder::with_max_record_size(10);
        assert!(decoder.decode(b"99999").unwrap().is_empty());
        assert!(decoder.decode(b"\n").is_err());
        assert_eq!(decoder.buffer.capacity(), 0);
    }

    #[test]
    fn zero_max_record_size_allows_only_empty_records() {
        let mut decoder = Decoder::with_max_record_size(0);
        assert_eq!(decoder.decode(b"0\n").unwrap(), vec![Vec::<u8>::new()]);
        assert_eq!(
            decoder.decode(b"1\nx").unwrap_err(),
            RecordIoError::RecordTooLarge { length: 1, max: 0 }
        );
    }

    #[test]
    fn default_max_record_size() {
        assert_eq!(Decoder::default().max_record_size(), 64 * 1024 * 1024);
    }

    #[test]
    fn errors_are_sticky() {
        let mut decoder = Decoder::new();
        assert_eq!(decoder.decode(b"2\nok").unwrap(), vec![b"ok".to_vec()]);
        let error = decoder.decode(b"x").unwrap_err();
        assert_eq!(decoder.decode(b"2\nok"), Err(error.clone()));
        assert_eq!(decoder.decode(b""), Err(error.clone()));
        assert_eq!(
            decoder.decode_with(b"0\n", |_| panic!("no records")),
            Err(error.clone())
        );
        assert_eq!(decoder.finish(), Err(error));
        assert!(!decoder.is_empty_buffer());
    }

    #[test]
    fn error_mid_chunk_discards_earlier_records_in_decode() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"1\na2\nbcX").is_err());
    }

    #[test]
    fn error_mid_chunk_keeps_earlier_records_in_decode_with() {
        let mut decoder = Decoder::new();
        let mut records = Vec::new();
        let error = decoder
            .decode_with(b"1\na2\nbcX", |record| records.push(record.to_vec()))
            .unwrap_err();
        assert_eq!(error, RecordIoError::InvalidHeaderByte { byte: b'X' });
        assert_eq!(records, vec![b"a".to_vec(), b"bc".to_vec()]);
    }

    #[test]
    fn finish_reports_truncated_payload() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"10\nabc").unwrap().is_empty());
        assert!(!decoder.is_empty_buffer());
        let error = decoder.finish().unwrap_err();
        assert_eq!(
            error,
            RecordIoError::Truncated {
                expected: 10,
                received: 3
            }
        );
        assert_eq!(
            error.to_string(),
            "stream ended inside a record: expected 10 payload bytes, received 3"
        );
        // Truncation is sticky like every other error.
        assert_eq!(decoder.decode(b"defghij"), Err(error));
    }

    #[test]
    fn finish_reports_truncated_payload_with_no_payload_bytes() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"3\n").unwrap().is_empty());
        assert_eq!(
            decoder.finish(),
            Err(RecordIoError::Truncated {
                expected: 3,
                received: 0
            })
        );
    }

    #[test]
    fn finish_reports_truncated_header() {
        let mut decoder = Decoder::new();
        assert!(decoder.decode(b"1\nx12").unwrap().len() == 1);
        let error = decoder.finish().unwrap_err();
        assert_eq!(error, RecordIoError::TruncatedHeader { digits: 2 });
        assert_eq!(
            error.to_string(),
            "stream ended inside a record length header after 2 digits"
        );
    }

    #[test]
    fn finish_on_boundary_keeps_decoder_usable() {
        let mut decoder = Decoder::new();
        assert_eq!(decoder.finish(), Ok(()));
        assert_eq!(decoder.decode(b"1\na").unwrap(), vec![b"a".to_vec()]);
        assert_eq!(decoder.finish(), Ok(()));
    }

    #[test]
    fn decode_with_borrows_whole_records_from_the_chunk() {
        let chunk = encoded(&[b"abc", b"de"]);
        let mut seen = Vec::new();
        Decoder::new()
            .decode_with(&chunk, |record| seen.push(record.as_ptr_range()))
            .unwrap();
        let base = chunk.as_ptr_range();
        assert_eq!(seen.len(), 2);
        assert!(
            seen.iter()
                .all(|r| base.start <= r.start && r.end <= base.end)
        );
    }

    #[test]
    fn decode_with_reassembles_split_records() {
        let mut decoder = Decoder::new();
        let mut records = Vec::new();
        for chunk in [&b"6\nab"[..], b"cd", b"ef0\n2", b"\nxy"] {
            decoder
                .decode_with(chunk, |record| records.push(record.to_vec()))
                .unwrap();
        }
        assert_eq!(records, vec![b"abcdef".to_vec(), vec![], b"xy".to_vec()]);
    }

    #[test]
    fn reassembly_buffer_never_exceeds_record_length() {
        let payload = vec![7u8; 1000];
        let stream = encoded(&[&payload]);
        let mut decoder = Decoder::new();
        for chunk in stream.chunks(3) {
            if let Some(record) = decoder.decode(chunk).unwrap().pop() {
                assert_eq!(record, payload);
                assert_eq!(record.capacity(), payload.len());
            }
        }
    }

    #[test]
    fn large_reassembly_buffer_is_released() {
        let payload = vec![1u8; RETAINED_BUFFER_CAPACITY + 1];
        let stream = encoded(&[&payload]);
        let mut decoder = Decoder::new();
        let mut count = 0;
        for chunk in stream.chunks(64 * 1024) {
            decoder.decode_with(chunk, |_| count += 1).unwrap();
        }
        assert_eq!(count, 1);
        assert_eq!(decoder.buffer.capacity(), 0);

        // A small reassembled record keeps its buffer for reuse.
        decoder.decode_with(b"3\nab", |_| {}).unwrap();
        decoder.decode_with(b"c", |_| {}).unwrap();
        assert!(decoder.buffer.capacity() >= 3);
    }

    #[test]
    fn debug_output_omits_payload() {
        let mut decoder = Decoder::new();
        decoder.decode(b"6\nsecret").unwrap();
        decoder.decode(b"9\nsecr").unwrap();
        let debug = format!("{decoder:?}");
        assert!(!debug.contains("secr"), "{debug}");
        assert!(debug.contains("buffered: 4"), "{debug}");
    }
}

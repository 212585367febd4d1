//! A streaming JSON writer for the large legacy endpoints.
//!
//! `/master/state` at 10,000 agents and 200,000 tasks is a 74 MB document. Building it as a
//! `serde_json::Value` tree first costs millions of small allocations (and the page faults of
//! a tree several times the size of the text); writing straight into one buffer costs one
//! growing `Vec`. Objects and arrays are written through closures so that every `{` and `[`
//! is closed by construction.

use serde::Serialize;

/// Writes `f`'s fields as one JSON object.
pub(crate) fn object(out: &mut Vec<u8>, f: impl FnOnce(&mut Obj<'_>)) {
    out.push(b'{');
    let mut obj = Obj { out, first: true };
    f(&mut obj);
    obj.out.push(b'}');
}

/// Writes `f`'s items as one JSON array.
pub(crate) fn array(out: &mut Vec<u8>, f: impl FnOnce(&mut Arr<'_>)) {
    out.push(b'[');
    let mut arr = Arr { out, first: true };
    f(&mut arr);
    arr.out.push(b']');
}

/// The fields of an object being written.
pub(crate) struct Obj<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Obj<'_> {
    /// Writes `"key":` (with the separating comma) and returns the buffer for the value.
    pub(crate) fn key(&mut self, key: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
        self.out
    }

    pub(crate) fn str(&mut self, key: &str, value: &str) {
        write_str(self.key(key), value);
    }

    pub(crate) fn f64(&mut self, key: &str, value: f64) {
        write_f64(self.key(key), value);
    }

    pub(crate) fn u64(&mut self, key: &str, value: u64) {
        write_u64(self.key(key), value);
    }

    pub(crate) fn bool(&mut self, key: &str, value: bool) {
        let v: &[u8] = if value { b"true" } else { b"false" };
        self.key(key).extend_from_slice(v);
    }

    /// Any serialisable value (small or rare parts: flags, executor infos, containers).
    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        write_value(self.key(key), value);
    }

    pub(crate) fn obj(&mut self, key: &str, f: impl FnOnce(&mut Obj<'_>)) {
        object(self.key(key), f);
    }

    pub(crate) fn arr(&mut self, key: &str, f: impl FnOnce(&mut Arr<'_>)) {
        array(self.key(key), f);
    }

    /// An array of strings.
    pub(crate) fn strs<'s>(&mut self, key: &str, items: impl IntoIterator<Item = &'s str>) {
        self.arr(key, |a| {
            for s in items {
                a.str(s);
            }
        });
    }
}

/// The items of an array being written.
pub(crate) struct Arr<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Arr<'_> {
    /// Writes the separating comma and returns the buffer for the next item.
    pub(crate) fn next(&mut self) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out
    }

    pub(crate) fn str(&mut self, value: &str) {
        write_str(self.next(), value);
    }

    pub(crate) fn value<T: Serialize + ?Sized>(&mut self, value: &T) {
        write_value(self.next(), value);
    }

    pub(crate) fn obj(&mut self, f: impl FnOnce(&mut Obj<'_>)) {
        object(self.next(), f);
    }

    /// Writes one object per item, rendering contiguous runs of items on `threads` threads
    /// and appending the runs in order: the output is the same as writing them one by one.
    /// Each thread also gets a state `S` for side results (sums gathered while writing);
    /// the states come back in run order.
    pub(crate) fn objs_parallel<T: Sync, S: Default + Send>(
        &mut self,
        items: &[T],
        threads: usize,
        render: impl Fn(&mut Obj<'_>, &T, &mut S) + Sync,
    ) -> Vec<S> {
        let threads = threads.clamp(1, items.len().max(1));
        if threads == 1 {
            let mut state = S::default();
            for item in items {
                self.obj(|o| render(o, item, &mut state));
            }
            return vec![state];
        }
        let run = items.len().div_ceil(threads);
        let render = &render;
        let parts: Vec<(Vec<u8>, S)> = std::thread::scope(|scope| {
            let handles: Vec<_> = items
                .chunks(run)
                .map(|chunk| {
                    scope.spawn(move || {
                        let mut part = Vec::new();
                        let mut state = S::default();
                        let mut arr = Arr {
                            out: &mut part,
                            first: true,
                        };
                        for item in chunk {
                            arr.obj(|o| render(o, item, &mut state));
                        }
                        (part, state)
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut states = Vec::with_capacity(parts.len());
        for (part, state) in parts {
            if !part.is_empty() {
                self.next().extend_from_slice(&part);
            }
            states.push(state);
        }
        states
    }
}

/// A JSON string with the escapes JSON requires (quote, backslash, control characters).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// A number as serde_json writes an `f64` (`0.0`, `1.5`; `null` when not finite).
pub(crate) fn write_f64(out: &mut Vec<u8>, value: f64) {
    write_value(out, &value);
}

pub(crate) fn write_u64(out: &mut Vec<u8>, value: u64) {
    write_value(out, &value);
}

fn write_value<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a Vec cannot fail; a value that cannot be serialised (a map with
    // non-string keys) is written as null rather than leaving the document broken.
    let mark = out.len();
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.truncate(mark);
        out.extend_from_slice(b"null");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(f: impl FnOnce(&mut Obj<'_>)) -> serde_json::Value {
        let mut out = Vec::new();
        object(&mut out, f);
        serde_json::from_slice(&out).expect("valid JSON")
    }

    #[test]
    fn writes_nested_objects_and_arrays() {
        let v = written(|o| {
            o.str("name", "a");
            o.f64("cpus", 0.0);
            o.u64("port", 5051);
            o.bool("active", true);
            o.arr("empty", |_| {});
            o.arr("items", |a| {
                a.str("x");
                a.obj(|o| o.f64("mem", 1.5));
                a.value(&serde_json::json!({"k": [1, 2]}));
            });
            o.obj("nested", |o| o.strs("ids", ["p", "q"]));
        });
        assert_eq!(
            v,
            serde_json::json!({
                "name": "a", "cpus": 0.0, "port": 5051, "active": true, "empty": [],
                "items": ["x", {"mem": 1.5}, {"k": [1, 2]}],
                "nested": {"ids": ["p", "q"]},
            })
        );
    }

    #[test]
    fn parallel_objects_equal_sequential_ones() {
        let items: Vec<u64> = (0..1001).collect();
        for threads in [1, 2, 3, 8, 2000] {
            let mut par = Vec::new();
            array(&mut par, |a| {
                a.str("head");
                let sums = a.objs_parallel(&items, threads, |o, i, sum: &mut u64| {
                    o.u64("i", *i);
                    *sum += i;
                });
                assert_eq!(sums.iter().sum::<u64>(), 500_500);
            });
            let mut seq = Vec::new();
            array(&mut seq, |a| {
                a.str("head");
                for i in &items {
                    a.obj(|o| o.u64("i", *i));
                }
            });
            assert_eq!(par, seq, "{threads} threads");
        }
        let mut empty = Vec::new();
        array(&mut empty, |a| {
            a.objs_parallel(&[] as &[u64], 4, |o, i, _: &mut ()| o.u64("i", *i));
        });
        assert_eq!(empty, b"[]");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        for s in [
            "plain",
            "quote \" and \\ backslash",
            "line\nbreak\ttab\r",
            "\u{1}\u{1f}\u{8}\u{c}",
            "ünïcødé ✓",
            "",
        ] {
            let mut ours = Vec::new();
            write_str(&mut ours, s);
            assert_eq!(
                String::from_utf8(ours).unwrap(),
                serde_json::to_string(s).unwrap()
            );
        }
    }

    #[test]
    fn numbers_match_serde_json() {
        let mut out = Vec::new();
        write_f64(&mut out, 0.0);
        out.push(b' ');
        write_f64(&mut out, f64::NAN);
        out.push(b' ');
        write_f64(&mut out, 1_700_000_000.123);
        assert_eq!(String::from_utf8(out).unwrap(), "0.0 null 1700000000.123");
    }
}

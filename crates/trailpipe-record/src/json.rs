//! Writing JSON text: tape sub-trees back to compact text, and string escaping. Used for the
//! free-form columns, `_extra`, and the lossless rebuild.

use arrow_array::builder::StringBuilder;
use simd_json::{Node, StaticNode};

/// Where JSON text goes: a `String`, or straight into the value being built in an Arrow
/// string column (saving a copy of every free-form field).
pub trait JsonOut {
    fn push_str(&mut self, s: &str);
}

impl JsonOut for String {
    #[inline]
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s)
    }
}

impl JsonOut for StringBuilder {
    #[inline]
    fn push_str(&mut self, s: &str) {
        // appends to the value in progress; `append_value("")` then ends it
        let _ = std::fmt::Write::write_str(self, s);
    }
}

/// Bytes that must be escaped inside a JSON string: `"`, `\` and control characters.
static NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Length of the longest prefix of `b` with no byte that needs escaping, read 8 bytes at a
/// time: most strings need no escape at all, and with a table lookup per byte `write_str`
/// took 60% more instructions (docs/performance.md, "Call order from the tape").
#[inline]
fn plain_prefix(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        // The high bit of each byte that is `"`, `\` or below 0x20. A borrow can only set a
        // false bit above a true one, so the lowest bit set is the first byte to escape.
        let hit = ((quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x))
            & HIGH;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + b[i..]
        .iter()
        .take_while(|&&c| !NEEDS_ESCAPE[c as usize])
        .count()
}

/// Appends `s` as a quoted JSON string.
pub fn write_str<W: JsonOut>(out: &mut W, s: &str) {
    out.push_str("\"");
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let i = start + plain_prefix(&bytes[start..]);
        out.push_str(&s[start..i]);
        let Some(&b) = bytes.get(i) else { break };
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let esc = [
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 0xf) as usize],
                ];
                out.push_str(std::str::from_utf8(&esc).unwrap_or_default());
            }
        }
        start = i + 1;
    }
    out.push_str("\"");
}

/// Appends a scalar tape node as JSON.
pub fn write_static<W: JsonOut>(out: &mut W, node: &StaticNode) {
    match node {
        StaticNode::Null => out.push_str("null"),
        StaticNode::Bool(true) => out.push_str("true"),
        StaticNode::Bool(false) => out.push_str("false"),
        StaticNode::I64(v) => out.push_str(itoa::Buffer::new().format(*v)),
        StaticNode::U64(v) => out.push_str(itoa::Buffer::new().format(*v)),
        StaticNode::F64(v) => {
            // The parser only produces finite floats; ryu writes the shortest text that parses
            // back to the same f64, so the value survives even when the spelling changes.
            out.push_str(ryu::Buffer::new().format_finite(*v))
        }
    }
}

/// Number of tape nodes the value starting at `nodes[0]` occupies.
#[inline]
pub fn value_len(nodes: &[Node<'_>]) -> usize {
    match nodes[0] {
        Node::Object { count, .. } | Node::Array { count, .. } => count + 1,
        _ => 1,
    }
}

/// Appends the value starting at `nodes[0]` as compact JSON; returns the nodes it spanned.
pub fn write_value<W: JsonOut>(out: &mut W, nodes: &[Node<'_>]) -> usize {
    match nodes[0] {
        Node::String(s) => {
            write_str(out, s);
            1
        }
        Node::Static(ref v) => {
            write_static(out, v);
            1
        }
        Node::Object { len, count } => {
            out.push_str("{");
            let mut p = 1;
            for i in 0..len {
                if i > 0 {
                    out.push_str(",");
                }
                if let Node::String(k) = nodes[p] {
                    write_str(out, k);
                }
                out.push_str(":");
                p += 1;
                p += write_value(out, &nodes[p..]);
            }
            out.push_str("}");
            count + 1
        }
        Node::Array { len, count } => {
            out.push_str("[");
            let mut p = 1;
            for i in 0..len {
                if i > 0 {
                    out.push_str(",");
                }
                p += write_value(out, &nodes[p..]);
            }
            out.push_str("]");
            count + 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(text: &str) -> String {
        let mut bytes = text.as_bytes().to_vec();
        let tape = simd_json::to_tape(&mut bytes).expect("valid json");
        let mut out = String::new();
        let n = write_value(&mut out, &tape.0);
        assert_eq!(n, tape.0.len());
        out
    }

    #[test]
    fn values_round_trip_as_json() {
        for text in [
            r#"{"a":1,"b":[true,false,null,-5,18446744073709551615],"c":{"d":"e\"\\\n\u0001\t"},"f":[],"g":{}}"#,
            r#"[1.5,0.0,1.688560107857E9,-0.25,1e300,"日本語 ✓ 🚀"]"#,
            r#""just a string""#,
            "null",
        ] {
            let out = round_trip(text);
            let a: serde_json::Value = serde_json::from_str(text).unwrap();
            let b: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(a, b, "{out}");
        }
    }

    #[test]
    fn plain_prefix_stops_at_the_first_byte_to_escape() {
        let naive = |b: &[u8]| b.iter().take_while(|&&c| !NEEDS_ESCAPE[c as usize]).count();
        // every byte value at every position of strings up to 24 bytes, in plain text and
        // after bytes that borrow in the word arithmetic (0x00, 0x1f) or have the high bit set
        for len in 1..24 {
            for at in 0..len {
                for byte in 0..=255u8 {
                    for fill in [b'a', 0xff, 0x20, 0x21, 0x5d] {
                        let mut b = vec![fill; len];
                        b[at] = byte;
                        assert_eq!(plain_prefix(&b), naive(&b), "{b:02x?}");
                        if at + 1 < len {
                            b[at + 1] = 0x00;
                            assert_eq!(plain_prefix(&b), naive(&b), "{b:02x?}");
                        }
                    }
                }
            }
        }
        // and pseudo-random bytes, mostly plain
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let b: Vec<u8> = (0..(x % 40) as usize)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if x.is_multiple_of(16) {
                        (x >> 8) as u8 & 0x3f
                    } else {
                        0x20 + (x >> 8) as u8 % 0xdf
                    }
                })
                .collect();
            assert_eq!(plain_prefix(&b), naive(&b), "{b:02x?}");
        }
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\u{0}\u{1f}\u{8}\u{c}é");
        assert_eq!(out, r#""a\"b\\c\u0000\u001f\b\fé""#);
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow"}]}"#;
        for s in [
            "",
            "plain text that is longer than one word of eight bytes",
            policy,
            "0123456\"89abcdef\\x",
            r"C:\Users\build\AppData\Local\Temp\a path with backslashes in every word",
            "tab\tin the middle of a long value, then a newline at the end\n",
            "日本語 ✓ 🚀 and \u{7f} and \u{1} after multi-byte characters",
            "\"\"\"\"\"\"\"\"\"",
        ] {
            let mut out = String::new();
            write_str(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }
}

//! Writing JSON text: tape sub-trees back to compact text, and string escaping. Used for the
//! free-form columns, `_extra`, and the lossless rebuild.

use arrow_array::builder::StringBuilder;
use simd_json::{Node, StaticNode};

/// Where JSON text goes: a `String`, or straight into the value being built in an Arrow
/// string column (saving a copy of every free-form field).
pub trait JsonOut {
    fn push_str(&mut self, s: &str);
    #[inline]
    fn push(&mut self, c: char) {
        self.push_str(c.encode_utf8(&mut [0; 4]));
    }
}

impl JsonOut for String {
    #[inline]
    fn push_str(&mut self, s: &str) {
        String::push_str(self, s)
    }
    #[inline]
    fn push(&mut self, c: char) {
        String::push(self, c)
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

/// Appends `s` as a quoted JSON string.
pub fn write_str<W: JsonOut>(out: &mut W, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[b as usize] {
            continue;
        }
        out.push_str(&s[start..i]);
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
    out.push_str(&s[start..]);
    out.push('"');
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
            out.push('{');
            let mut p = 1;
            for i in 0..len {
                if i > 0 {
                    out.push(',');
                }
                if let Node::String(k) = nodes[p] {
                    write_str(out, k);
                }
                out.push(':');
                p += 1;
                p += write_value(out, &nodes[p..]);
            }
            out.push('}');
            count + 1
        }
        Node::Array { len, count } => {
            out.push('[');
            let mut p = 1;
            for i in 0..len {
                if i > 0 {
                    out.push(',');
                }
                p += write_value(out, &nodes[p..]);
            }
            out.push(']');
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
    fn strings_are_escaped() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\u{0}\u{1f}\u{8}\u{c}é");
        assert_eq!(out, r#""a\"b\\c\u0000\u001f\b\fé""#);
    }
}

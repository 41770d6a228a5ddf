//! A minimal streaming JSON writer. Building `serde_json::Value` trees costs several allocations
//! per field; writing text straight into one buffer is what lets a 1 GB corpus come out in seconds.
//! Keys are `&'static str` written verbatim (all ours are plain ASCII); values are escaped.

use std::fmt::{self, Write};

pub(crate) struct Json {
    pub buf: String,
    /// Whether the next value or key needs a leading comma.
    comma: bool,
}

impl Json {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Json {
            buf: String::with_capacity(n),
            comma: false,
        }
    }

    #[inline]
    fn sep(&mut self) {
        if self.comma {
            self.buf.push(',');
        }
    }

    pub(crate) fn begin_obj(&mut self) {
        self.sep();
        self.buf.push('{');
        self.comma = false;
    }

    pub(crate) fn end_obj(&mut self) {
        self.buf.push('}');
        self.comma = true;
    }

    pub(crate) fn begin_arr(&mut self) {
        self.sep();
        self.buf.push('[');
        self.comma = false;
    }

    pub(crate) fn end_arr(&mut self) {
        self.buf.push(']');
        self.comma = true;
    }

    pub(crate) fn key(&mut self, k: &str) {
        self.sep();
        self.buf.push('"');
        self.buf.push_str(k);
        self.buf.push_str("\":");
        self.comma = false;
    }

    pub(crate) fn str(&mut self, v: &str) {
        self.sep();
        escape_into(&mut self.buf, v);
        self.comma = true;
    }

    /// A string value from format arguments, written without escaping: only for text we compose
    /// from ids, ARNs and numbers, never for anything that might hold a quote or backslash.
    pub(crate) fn strf(&mut self, args: fmt::Arguments<'_>) {
        self.sep();
        self.buf.push('"');
        let _ = self.buf.write_fmt(args);
        self.buf.push('"');
        self.comma = true;
    }

    /// Opens a string value whose content the caller pushes raw onto `buf` (ids from the PRNG,
    /// timestamps); close it with [`Json::close_raw_str`].
    pub(crate) fn open_raw_str(&mut self) {
        self.sep();
        self.buf.push('"');
    }

    pub(crate) fn close_raw_str(&mut self) {
        self.buf.push('"');
        self.comma = true;
    }

    pub(crate) fn null(&mut self) {
        self.sep();
        self.buf.push_str("null");
        self.comma = true;
    }

    pub(crate) fn bool(&mut self, v: bool) {
        self.sep();
        self.buf.push_str(if v { "true" } else { "false" });
        self.comma = true;
    }

    pub(crate) fn int(&mut self, v: i64) {
        self.sep();
        let _ = write!(self.buf, "{v}");
        self.comma = true;
    }

    /// Always written with a fraction or exponent (`0.0`, `512.0`), as AWS does for S3 byte counts.
    pub(crate) fn float(&mut self, v: f64) {
        self.sep();
        let _ = write!(self.buf, "{v:?}");
        self.comma = true;
    }

    /// Pre-rendered JSON (a valid value) spliced in as is.
    pub(crate) fn raw(&mut self, v: &str) {
        self.sep();
        self.buf.push_str(v);
        self.comma = true;
    }

    pub(crate) fn kv_str(&mut self, k: &str, v: &str) {
        self.key(k);
        self.str(v);
    }

    pub(crate) fn kv_strf(&mut self, k: &str, args: fmt::Arguments<'_>) {
        self.key(k);
        self.strf(args);
    }

    pub(crate) fn kv_null(&mut self, k: &str) {
        self.key(k);
        self.null();
    }

    pub(crate) fn kv_bool(&mut self, k: &str, v: bool) {
        self.key(k);
        self.bool(v);
    }

    pub(crate) fn kv_int(&mut self, k: &str, v: i64) {
        self.key(k);
        self.int(v);
    }

    pub(crate) fn kv_float(&mut self, k: &str, v: f64) {
        self.key(k);
        self.float(v);
    }

    pub(crate) fn kv_obj(&mut self, k: &str) {
        self.key(k);
        self.begin_obj();
    }

    pub(crate) fn kv_arr(&mut self, k: &str) {
        self.key(k);
        self.begin_arr();
    }

    /// Resets the comma state after the caller wrote a raw container opener (`{"Records":[`).
    pub(crate) fn reset_comma(&mut self) {
        self.comma = false;
    }
}

/// Appends `s` as a JSON string literal: quotes, backslashes and control characters escaped,
/// everything else (including non-ASCII) copied as raw UTF-8, which is what CloudTrail writes.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    out.push('"');
    escape_inner(out, s);
    out.push('"');
}

/// The body of [`escape_into`] without the quotes, for string values written in pieces.
pub(crate) fn escape_inner(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0C => "\\f",
            0..=0x1F => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `start..i` always falls on char boundaries.
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{:04x}", b);
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip_through_serde() {
        let nasty = "a\"b\\c\nd\re\tf\u{8}\u{c}\u{1}\u{1f} é ü 日本語 🎉 /";
        let mut out = String::new();
        escape_into(&mut out, nasty);
        let back: String = serde_json::from_str(&out).expect("valid JSON string");
        assert_eq!(back, nasty);
        assert!(
            out.contains("日本語 🎉"),
            "non-ASCII must stay raw UTF-8: {out}"
        );
    }

    #[test]
    fn writer_structure() {
        let mut w = Json::with_capacity(64);
        w.begin_obj();
        w.kv_str("a", "x");
        w.kv_arr("b");
        w.int(1);
        w.float(0.0);
        w.begin_obj();
        w.end_obj();
        w.null();
        w.end_arr();
        w.kv_obj("c");
        w.kv_bool("d", true);
        w.end_obj();
        w.kv_strf("e", format_args!("{}-{}", 1, 2));
        w.end_obj();
        assert_eq!(
            w.buf,
            r#"{"a":"x","b":[1,0.0,{},null],"c":{"d":true},"e":"1-2"}"#
        );
        let _: serde_json::Value = serde_json::from_str(&w.buf).expect("valid");
    }
}

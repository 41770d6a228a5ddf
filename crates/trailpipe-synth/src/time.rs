//! UTC calendar arithmetic on Unix seconds. No clock is ever read: every timestamp derives from
//! `SynthConfig::start_date`, which keeps the output reproducible.

use std::fmt::Write;

pub(crate) const DAY: i64 = 86_400;

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses a strict `YYYY-MM-DD` into Unix seconds at 00:00:00Z.
pub(crate) fn parse_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(y), m, d);
    // Reject 2024-02-30 and friends by round-tripping.
    (civil_from_days(days) == (i64::from(y), m, d)).then_some(days * DAY)
}

/// Broken-down UTC time.
pub(crate) struct Tm {
    pub y: i64,
    pub mo: u32,
    pub d: u32,
    pub h: u32,
    pub mi: u32,
    pub s: u32,
}

pub(crate) fn tm(secs: i64) -> Tm {
    let (y, mo, d) = civil_from_days(secs.div_euclid(DAY));
    let r = secs.rem_euclid(DAY) as u32;
    Tm {
        y,
        mo,
        d,
        h: r / 3600,
        mi: r / 60 % 60,
        s: r % 60,
    }
}

fn push2(out: &mut String, v: u32) {
    out.push((b'0' + (v / 10 % 10) as u8) as char);
    out.push((b'0' + (v % 10) as u8) as char);
}

fn push4(out: &mut String, v: i64) {
    let _ = write!(out, "{v:04}");
}

/// `2024-03-01T12:34:56Z`, the CloudTrail `eventTime` form.
pub(crate) fn push_iso(out: &mut String, secs: i64) {
    let t = tm(secs);
    push4(out, t.y);
    out.push('-');
    push2(out, t.mo);
    out.push('-');
    push2(out, t.d);
    out.push('T');
    push2(out, t.h);
    out.push(':');
    push2(out, t.mi);
    out.push(':');
    push2(out, t.s);
    out.push('Z');
}

pub(crate) fn iso(secs: i64) -> String {
    let mut s = String::with_capacity(20);
    push_iso(&mut s, secs);
    s
}

/// `YYYY/MM/DD`, the date directories of a key.
pub(crate) fn push_path_date(out: &mut String, secs: i64) {
    let t = tm(secs);
    push4(out, t.y);
    out.push('/');
    push2(out, t.mo);
    out.push('/');
    push2(out, t.d);
}

/// `YYYYMMDDTHHmmZ` (log files) or `YYYYMMDDTHHmmssZ` (digests).
pub(crate) fn push_stamp(out: &mut String, secs: i64, with_seconds: bool) {
    let t = tm(secs);
    push4(out, t.y);
    push2(out, t.mo);
    push2(out, t.d);
    out.push('T');
    push2(out, t.h);
    push2(out, t.mi);
    if with_seconds {
        push2(out, t.s);
    }
    out.push('Z');
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `Mar 1, 2024, 1:21:51 AM`: the Java-style dates STS and IAM put in responseElements.
pub(crate) fn push_java_date(out: &mut String, secs: i64, comma_before_time: bool) {
    let t = tm(secs);
    let (h12, ampm) = match t.h {
        0 => (12, "AM"),
        1..=11 => (t.h, "AM"),
        12 => (12, "PM"),
        _ => (t.h - 12, "PM"),
    };
    let sep = if comma_before_time { ", " } else { " " };
    let _ = write!(
        out,
        "{} {}, {}{}{}:{:02}:{:02} {}",
        MONTHS[t.mo as usize - 1],
        t.d,
        t.y,
        sep,
        h12,
        t.mi,
        t.s,
        ampm
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip_and_formats() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2024-03-01"), Some(1_709_251_200));
        assert_eq!(parse_date("2024-02-30"), None);
        assert_eq!(parse_date("2024-3-01"), None);
        for d in [-800_000i64, -1, 0, 59, 19_000, 20_000, 2_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        let t = 1_709_251_200 + 13 * 3600 + 5 * 60 + 9;
        assert_eq!(iso(t), "2024-03-01T13:05:09Z");
        let mut s = String::new();
        push_stamp(&mut s, t, false);
        s.push(' ');
        push_stamp(&mut s, t, true);
        s.push(' ');
        push_path_date(&mut s, t);
        s.push(' ');
        push_java_date(&mut s, t, true);
        assert_eq!(
            s,
            "20240301T1305Z 20240301T130509Z 2024/03/01 Mar 1, 2024, 1:05:09 PM"
        );
    }
}

//! Partition keys. Their values come from untrusted records, so each is validated and anything
//! else goes to a documented fallback: a hostile value can never become a path.

use std::fmt;

/// Account partition for a `recipientAccountId` that is missing or not exactly 12 digits.
pub const UNKNOWN_ACCOUNT: &str = "unknown";
/// Region partition for an `awsRegion` that is missing or not a region-like name.
pub const UNKNOWN_REGION: &str = "unknown";
/// Date partition for an `eventTime` that is missing, not a string, or not a date in 1970..=9999.
pub const UNKNOWN_DATE: Date = Date {
    year: 1970,
    month: 1,
    day: 1,
};

/// The table a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// Management, data and network-activity events.
    CloudTrail,
    /// CloudTrail Insights events (`eventType` `AwsCloudTrailInsight`).
    Insights,
}

impl Table {
    /// The table's folder name in the lake.
    pub fn dir(self) -> &'static str {
        match self {
            Table::CloudTrail => "cloudtrail",
            Table::Insights => "cloudtrail_insights",
        }
    }
}

/// A UTC calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Date {
    /// Year, 0..=9999.
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of month, 1..=31.
    pub day: u8,
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Date {
    /// Parses `YYYY-MM-DD` strictly (a real calendar date).
    pub fn parse(s: &str) -> Option<Date> {
        let b = s.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year = digits(&b[0..4])? as u16;
        let month = digits(&b[5..7])? as u8;
        let day = digits(&b[8..10])? as u8;
        let date = Date { year, month, day };
        date.is_valid().then_some(date)
    }

    fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year as i64, self.month)
    }

    /// Days since 1970-01-01.
    pub fn days_since_epoch(&self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64)
    }

    /// The date of a day count since 1970-01-01.
    pub fn from_days(days: i64) -> Date {
        let (y, m, d) = civil_from_days(days);
        Date {
            year: y as u16,
            month: m as u8,
            day: d as u8,
        }
    }
}

/// Where a record's rows go: table, account, region, UTC date of `eventTime`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    /// The table.
    pub table: Table,
    /// 12-digit account id or [`UNKNOWN_ACCOUNT`].
    pub account: String,
    /// Region name or [`UNKNOWN_REGION`].
    pub region: String,
    /// UTC date of the event, or [`UNKNOWN_DATE`].
    pub date: Date,
}

impl PartitionKey {
    /// Builds a key from raw record values, validating each.
    pub fn from_values(
        table: Table,
        account: Option<&str>,
        region: Option<&str>,
        date: Option<Date>,
    ) -> PartitionKey {
        PartitionKey {
            table,
            account: account
                .filter(|a| is_account_id(a))
                .unwrap_or(UNKNOWN_ACCOUNT)
                .to_string(),
            region: region
                .filter(|r| is_region(r))
                .unwrap_or(UNKNOWN_REGION)
                .to_string(),
            date: date
                .filter(|d| d.year >= 1970 && d.is_valid())
                .unwrap_or(UNKNOWN_DATE),
        }
    }

    /// The partition's folder relative to the lake root:
    /// `cloudtrail/account=<a>/region=<r>/date=<YYYY-MM-DD>`.
    pub fn path(&self) -> String {
        format!(
            "{}/account={}/region={}/date={}",
            self.table.dir(),
            self.account,
            self.region,
            self.date
        )
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A region-like name: lower-case letters, digits and single hyphens, starting with a letter,
/// at most 32 characters (`us-east-1`, `us-gov-west-1`, and the scrambled names of anonymised
/// fixtures such as `megov-westwest-1r`). Never `.`, `/`, `=` or anything else a path could use.
pub fn is_region(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'-'
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
        && !s.contains("--")
}

/// Parses CloudTrail's canonical `YYYY-MM-DDTHH:MM:SSZ` into milliseconds since the epoch.
/// Only that exact form is accepted so that the rebuild writes back the same text.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 20 || b[10] != b'T' || b[13] != b':' || b[16] != b':' || b[19] != b'Z' {
        return None;
    }
    let date = Date::parse(&s[..10])?;
    let h = digits(&b[11..13])?;
    let m = digits(&b[14..16])?;
    let sec = digits(&b[17..19])?;
    if h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let days = date.days_since_epoch();
    Some(((days * 86_400) + (h * 3600 + m * 60 + sec) as i64) * 1000)
}

/// The date a record is partitioned by: the UTC date of its `eventTime`. A non-canonical string
/// whose first ten characters are a real date (`2022-10-13 16:35:33`) still gives that date.
pub fn event_date(time_ms: Option<i64>, raw: Option<&str>) -> Option<Date> {
    if let Some(ms) = time_ms {
        return Some(Date::from_days(ms.div_euclid(86_400_000)));
    }
    raw.and_then(|r| r.get(..10)).and_then(Date::parse)
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (the inverse of
/// [`parse_event_time`] for whole seconds; sub-second digits are written when present).
pub fn format_event_time(ms: i64, out: &mut String) {
    use fmt::Write;
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let secs = rem / 1000;
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        y,
        mo,
        d,
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if rem % 1000 != 0 {
        let _ = write!(out, ".{:03}", rem % 1000);
    }
    out.push('Z');
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + (c - b'0') as u32)
    })
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

// Howard Hinnant's civil-date algorithms.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_round_trips() {
        for s in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2000-03-01T12:34:56Z",
            "9999-12-31T23:59:59Z",
            "1969-12-31T23:59:59Z",
        ] {
            let ms = parse_event_time(s).unwrap_or_else(|| panic!("{s}"));
            let mut out = String::new();
            format_event_time(ms, &mut out);
            assert_eq!(out, s);
        }
        assert_eq!(
            parse_event_time("2024-01-01T00:00:01Z"),
            Some(1_704_067_201_000)
        );
    }

    #[test]
    fn event_time_rejects_other_forms() {
        for s in [
            "2022-10-13 16:35:33",
            "2024-02-30T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:00:00.123Z",
            "2024-01-01T00:00:00+00:00",
            "99999-01-01T00:00:00Z",
            "",
            "2024-1-01T00:00:00Z",
        ] {
            assert_eq!(parse_event_time(s), None, "{s}");
        }
    }

    #[test]
    fn partition_values_are_validated() {
        let k = PartitionKey::from_values(
            Table::CloudTrail,
            Some("012345678901"),
            Some("us-gov-west-1"),
            Date::parse("2024-08-02"),
        );
        assert_eq!(
            k.path(),
            "cloudtrail/account=012345678901/region=us-gov-west-1/date=2024-08-02"
        );
        for (account, region) in [
            ("007", "../../x"),
            ("12345678901a", "us-east-1/../../etc"),
            ("1234567890123", "US-EAST-1"),
            ("", "us east 1"),
            ("123456789012 ", "a=b"),
            ("١٢٣٤٥٦٧٨٩٠١٢", "-us"),
        ] {
            let k = PartitionKey::from_values(
                Table::Insights,
                Some(account),
                Some(region),
                event_date(None, Some("99999-01-01T00:00:00Z")),
            );
            assert_eq!(
                k.path(),
                "cloudtrail_insights/account=unknown/region=unknown/date=1970-01-01"
            );
        }
        assert!(is_region("megov-westwest-1r"));
        assert!(!is_region("a--b"));
        assert!(!is_region(&"a".repeat(33)));
        assert_eq!(
            event_date(None, Some("2022-10-13 16:35:33")),
            Date::parse("2022-10-13")
        );
        assert_eq!(event_date(Some(-1), None), Date::parse("1969-12-31"));
        // dates before 1970 fall back
        let k = PartitionKey::from_values(Table::CloudTrail, None, None, Date::parse("1969-12-31"));
        assert_eq!(k.date, UNKNOWN_DATE);
    }

    #[test]
    fn civil_round_trip() {
        for days in (-719_000..2_932_000).step_by(997) {
            let d = Date::from_days(days);
            assert_eq!(d.days_since_epoch(), days);
        }
    }
}

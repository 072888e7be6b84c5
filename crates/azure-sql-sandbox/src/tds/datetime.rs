//! Dates and times on the wire: `DATE` (days since 0001-01-01), `TIME`/`DATETIME2` (units of
//! 10^-scale seconds since midnight), the legacy `DATETIME`/`SMALLDATETIME` (since 1900-01-01)
//! and `DATETIMEOFFSET`; and their ISO-8601 text, which is how
//! [`ColumnData`](super::types::ColumnData) holds them (`"2024-05-01 13:45:00.1234567"`).

use time::{Date, Month};

/// 100-nanosecond ticks in a day.
pub const TICKS_PER_DAY: u64 = 864_000_000_000;
const TICKS_PER_SECOND: u64 = 10_000_000;
/// Days from 0001-01-01 to 1900-01-01 (the legacy `DATETIME` epoch).
const DAYS_TO_1900: i64 = 693_595;

/// The Julian day number of 0001-01-01, day 0 of `DATE`.
const JULIAN_DAY_0001: i32 = 1_721_426;

/// Days since 0001-01-01.
fn days_of(date: Date) -> i64 {
    i64::from(date.to_julian_day() - JULIAN_DAY_0001)
}

/// The date `days` after 0001-01-01, if `DATE` can hold it (0001-01-01 to 9999-12-31).
fn date_of(days: i64) -> Result<Date, String> {
    i32::try_from(days)
        .ok()
        .and_then(|days| days.checked_add(JULIAN_DAY_0001))
        .and_then(|julian| Date::from_julian_day(julian).ok())
        .filter(|date| (1..=9999).contains(&date.year()))
        .ok_or_else(|| format!("day {days} is not a date between 0001-01-01 and 9999-12-31"))
}

fn number(s: &str, what: &str, text: &str) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("'{text}' is not a date/time: bad {what}"));
    }
    s.parse()
        .map_err(|_| format!("'{text}' is not a date/time: bad {what}"))
}

/// Parses `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fffffff]]` and an
/// optional `Z`. Returns days since 0001-01-01 and 100 ns ticks since midnight.
pub fn parse(text: &str) -> Result<(i64, u64), String> {
    let t = text.trim();
    let t = t.strip_suffix('Z').unwrap_or(t);
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some(t[i + 1..].trim())),
        None => (t, None),
    };
    let mut parts = date.splitn(3, '-');
    let (y, m, d) = match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) => (
            number(y, "year", text)?,
            number(m, "month", text)?,
            number(d, "day", text)?,
        ),
        _ => return Err(format!("'{text}' is not a date/time: expected YYYY-MM-DD")),
    };
    let invalid = || format!("'{text}' is not a valid date");
    let month = u8::try_from(m)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(invalid)?;
    let date = i32::try_from(y)
        .ok()
        .filter(|y| (1..=9999).contains(y))
        .zip(u8::try_from(d).ok())
        .and_then(|(y, d)| Date::from_calendar_date(y, month, d).ok())
        .ok_or_else(invalid)?;
    let ticks = match time {
        None => 0,
        Some(time) => {
            let (hms, frac) = match time.split_once('.') {
                Some((hms, frac)) => (hms, frac),
                None => (time, ""),
            };
            let mut hms = hms.split(':');
            let h = number(hms.next().unwrap_or_default(), "hour", text)?;
            let min = number(hms.next().unwrap_or_default(), "minute", text)?;
            let s = match hms.next() {
                Some(s) => number(s, "second", text)?,
                None => 0,
            };
            if hms.next().is_some() || h > 23 || min > 59 || s > 59 {
                return Err(format!("'{text}' is not a valid time"));
            }
            let mut frac_ticks = 0u64;
            if !frac.is_empty() {
                if !frac.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("'{text}' is not a date/time: bad fraction"));
                }
                let digits: String = frac.chars().take(7).collect();
                frac_ticks = u64::from(number(&digits, "fraction", text)?)
                    * 10u64.pow(7 - digits.len() as u32);
            }
            (u64::from(h) * 3600 + u64::from(min) * 60 + u64::from(s)) * TICKS_PER_SECOND
                + frac_ticks
        }
    };
    Ok((days_of(date), ticks))
}

/// `YYYY-MM-DD`; an error for a day `DATE` cannot hold.
pub fn format_date(days: i64) -> Result<String, String> {
    let date = date_of(days)?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

/// `HH:MM:SS` and, for `scale` > 0, that many fraction digits.
pub fn format_time(ticks: u64, scale: u8) -> String {
    let secs = ticks / TICKS_PER_SECOND;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = format!("{h:02}:{m:02}:{s:02}");
    if scale > 0 {
        let frac = format!("{:07}", ticks % TICKS_PER_SECOND);
        out.push('.');
        out.push_str(&frac[..scale.min(7) as usize]);
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS.fffffff` (fraction digits by `scale`).
pub fn format_datetime(days: i64, ticks: u64, scale: u8) -> Result<String, String> {
    Ok(format!(
        "{} {}",
        format_date(days)?,
        format_time(ticks, scale)
    ))
}

/// Bytes of a `TIME` part at this scale.
pub fn time_len(scale: u8) -> u8 {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// Appends a `DATETIME2(7)` value: length 8, 5 bytes of 100 ns ticks, 3 bytes of days.
pub fn put_datetime2(out: &mut Vec<u8>, days: i64, ticks: u64) {
    out.push(8);
    out.extend_from_slice(&ticks.to_le_bytes()[..5]);
    out.extend_from_slice(&(days as u32).to_le_bytes()[..3]);
}

fn le_uint(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |acc, b| (acc << 8) | u64::from(*b))
}

/// Ticks of a wire `TIME` part at `scale`.
pub fn time_ticks(bytes: &[u8], scale: u8) -> Result<u64, String> {
    let units = le_uint(bytes);
    let ticks = units * 10u64.pow(7 - u32::from(scale.min(7)));
    if ticks >= TICKS_PER_DAY {
        return Err(format!(
            "a time value is past midnight ({units} units at scale {scale})"
        ));
    }
    Ok(ticks)
}

/// Days of a wire 3-byte `DATE`.
pub fn date_days(bytes: &[u8]) -> i64 {
    le_uint(bytes) as i64
}

/// Text of a legacy `DATETIME` (days since 1900, 1/300 s).
pub fn format_legacy_datetime(days_1900: i32, three_hundredths: u32) -> Result<String, String> {
    let ticks = (u64::from(three_hundredths) * TICKS_PER_SECOND + 150) / 300;
    format_datetime(
        i64::from(days_1900) + DAYS_TO_1900,
        ticks.min(TICKS_PER_DAY - 1),
        3,
    )
}

/// Text of a `SMALLDATETIME` (days since 1900, minutes).
pub fn format_small_datetime(days_1900: u16, minutes: u16) -> Result<String, String> {
    format_datetime(
        i64::from(days_1900) + DAYS_TO_1900,
        u64::from(minutes) * 60 * TICKS_PER_SECOND,
        0,
    )
}

/// Text of a `DATETIMEOFFSET`: the UTC instant shifted to its offset, then `+HH:MM`.
pub fn format_datetimeoffset(
    days: i64,
    ticks: u64,
    scale: u8,
    offset_minutes: i16,
) -> Result<String, String> {
    let total = days as i128 * TICKS_PER_DAY as i128
        + ticks as i128
        + i128::from(offset_minutes) * 60 * TICKS_PER_SECOND as i128;
    let days = total.div_euclid(TICKS_PER_DAY as i128) as i64;
    let ticks = total.rem_euclid(TICKS_PER_DAY as i128) as u64;
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    Ok(format!(
        "{} {sign}{:02}:{:02}",
        format_datetime(days, ticks, scale)?,
        off / 60,
        off % 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days_since_0001(y: i32, m: u8, d: u8) -> i64 {
        days_of(Date::from_calendar_date(y, Month::try_from(m).unwrap(), d).unwrap())
    }

    #[test]
    fn day_counts_match_sql_server() {
        assert_eq!(days_since_0001(1, 1, 1), 0);
        assert_eq!(days_since_0001(1900, 1, 1), DAYS_TO_1900);
        // 2024-05-01 is day 739006 (0x0B46BE), as SQL Server's DATE bytes BE 46 0B say.
        assert_eq!(days_since_0001(2024, 5, 1), 739_006);
        assert_eq!(format_date(739_006).unwrap(), "2024-05-01");
        assert_eq!(
            format_date(days_since_0001(9999, 12, 31)).unwrap(),
            "9999-12-31"
        );
        assert!(format_date(days_since_0001(9999, 12, 31) + 1).is_err());
    }

    #[test]
    fn parses_iso_forms() {
        assert_eq!(parse("2024-05-01"), Ok((739_006, 0)));
        let (_, t) = parse("2024-05-01T13:45:00.1234567").unwrap();
        assert_eq!(t, (13 * 3600 + 45 * 60) * TICKS_PER_SECOND + 1_234_567);
        assert_eq!(
            parse("2024-05-01 13:45").unwrap().1,
            (13 * 3600 + 45 * 60) * TICKS_PER_SECOND
        );
        assert_eq!(parse("2024-05-01 00:00:01.5Z").unwrap().1, 15_000_000);
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2023-02-29",
            "2024-05-01 24:00",
            "2024-05-01 1:2:3:4",
            "x-y-z",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse("2024-02-29").is_ok());
    }

    #[test]
    fn formats_and_wire_bytes() {
        let (d, t) = parse("2024-05-01 13:45:00.1234567").unwrap();
        assert_eq!(
            format_datetime(d, t, 7).unwrap(),
            "2024-05-01 13:45:00.1234567"
        );
        assert_eq!(format_time(t, 3), "13:45:00.123");
        let mut out = Vec::new();
        put_datetime2(&mut out, d, t);
        assert_eq!(out.len(), 9);
        assert_eq!(out[0], 8);
        assert_eq!(time_ticks(&out[1..6], 7), Ok(t));
        assert_eq!(date_days(&out[6..9]), d);
        assert_eq!(out[6..9], [0xBE, 0x46, 0x0B]);
    }

    #[test]
    fn legacy_and_offset_forms() {
        assert_eq!(
            format_legacy_datetime(0, 300).unwrap(),
            "1900-01-01 00:00:01.000"
        );
        assert_eq!(format_small_datetime(1, 61).unwrap(), "1900-01-02 01:01:00");
        let (d, t) = parse("2024-05-01 23:30:00").unwrap();
        assert_eq!(
            format_datetimeoffset(d, t, 0, 60).unwrap(),
            "2024-05-02 00:30:00 +01:00"
        );
        assert_eq!(
            format_datetimeoffset(d, t, 0, -90).unwrap(),
            "2024-05-01 22:00:00 -01:30"
        );
        assert!(time_ticks(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF], 7).is_err());
    }
}

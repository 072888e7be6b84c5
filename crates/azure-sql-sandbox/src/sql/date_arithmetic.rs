//! `DATEADD`, `DATEDIFF` and `DATEPART` on the engine's `DATETIME2` text, with SQL Server's
//! rules: months added clamp to the month's end, a difference counts boundaries crossed, not
//! time elapsed, and an unknown date part is error 155.

use super::errors::{self, SqlError};
use super::values::parse_datetime;
use time::{Date, Month};

const TICKS_PER_DAY: i64 = 86_400 * 10_000_000;

/// The Julian day number of 1970-01-01, the day count's epoch.
const JULIAN_DAY_1970: i64 = 2_440_588;

/// Days since 1970-01-01.
fn days_of(date: Date) -> i64 {
    i64::from(date.to_julian_day()) - JULIAN_DAY_1970
}

/// The date `days` after 1970-01-01, if the calendar has it.
fn date_of(days: i64) -> Option<Date> {
    let julian = i32::try_from(days.checked_add(JULIAN_DAY_1970)?).ok()?;
    Date::from_julian_day(julian).ok()
}

/// A date of the `DATETIME2` range (0001-01-01 to 9999-12-31), or error 517.
fn datetime2_date(days: i64) -> Result<Date, SqlError> {
    date_of(days)
        .filter(|date| (1..=9999).contains(&date.year()))
        .ok_or_else(|| errors::DATE_OVERFLOW.with(&["datetime2"]))
}

/// (days since epoch, 100-ns ticks into the day).
fn split(text: &str) -> Result<(i64, i64), SqlError> {
    let t = parse_datetime(text.trim()).ok_or_else(|| errors::CONVERT_DATETIME.plain())?;
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap_or(0);
    let month = u8::try_from(num(5..7))
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let date = month
        .zip(i32::try_from(num(0..4)).ok())
        .zip(u8::try_from(num(8..10)).ok())
        .and_then(|((m, y), d)| Date::from_calendar_date(y, m, d).ok())
        .ok_or_else(|| errors::CONVERT_DATETIME.plain())?;
    let days = days_of(date);
    let ticks = ((num(11..13) * 60 + num(14..16)) * 60 + num(17..19)) * 10_000_000 + num(20..27);
    Ok((days, ticks))
}

fn join(days: i64, ticks: i64) -> Result<String, SqlError> {
    let days = days + ticks.div_euclid(TICKS_PER_DAY);
    let ticks = ticks.rem_euclid(TICKS_PER_DAY);
    let date = datetime2_date(days)?;
    let (y, m, d) = (date.year(), u8::from(date.month()), date.day());
    let seconds = ticks / 10_000_000;
    Ok(format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:07}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ticks % 10_000_000
    ))
}

fn unit(part: &str) -> Result<&'static str, SqlError> {
    Ok(match part.trim().to_ascii_lowercase().as_str() {
        "year" | "yy" | "yyyy" => "year",
        "quarter" | "qq" | "q" => "quarter",
        "month" | "mm" | "m" => "month",
        "dayofyear" | "dy" | "y" => "dayofyear",
        "day" | "dd" | "d" => "day",
        "week" | "wk" | "ww" => "week",
        "weekday" | "dw" | "w" => "weekday",
        "hour" | "hh" => "hour",
        "minute" | "mi" | "n" => "minute",
        "second" | "ss" | "s" => "second",
        "millisecond" | "ms" => "millisecond",
        "microsecond" | "mcs" => "microsecond",
        "nanosecond" | "ns" => "nanosecond",
        other => return Err(errors::INVALID_DATEPART.with(&[other, "datepart"])),
    })
}

fn tick_unit(unit: &str) -> Option<i64> {
    Some(match unit {
        "day" | "dayofyear" | "weekday" => TICKS_PER_DAY,
        "week" => 7 * TICKS_PER_DAY,
        "hour" => 3600 * 10_000_000,
        "minute" => 60 * 10_000_000,
        "second" => 10_000_000,
        "millisecond" => 10_000,
        "microsecond" => 10,
        "nanosecond" => 1,
        _ => return None,
    })
}

pub(crate) fn add(part: &str, n: i64, date: &str) -> Result<String, SqlError> {
    let unit = unit(part)?;
    let (days, ticks) = split(date)?;
    let overflow = || errors::DATE_OVERFLOW.with(&["datetime2"]);
    match unit {
        "year" | "quarter" | "month" => {
            let months = match unit {
                "year" => n.checked_mul(12),
                "quarter" => n.checked_mul(3),
                _ => Some(n),
            }
            .ok_or_else(overflow)?;
            let date = datetime2_date(days)?;
            let (y, m) = (i64::from(date.year()), i64::from(u8::from(date.month())));
            let total = (y * 12 + m - 1).checked_add(months).ok_or_else(overflow)?;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let year = i32::try_from(ny)
                .ok()
                .filter(|y| (1..=9999).contains(y))
                .ok_or_else(overflow)?;
            let month = u8::try_from(nm)
                .ok()
                .and_then(|m| Month::try_from(m).ok())
                .ok_or_else(overflow)?;
            let day = date.day().min(month.length(year));
            let moved = Date::from_calendar_date(year, month, day).map_err(|_| overflow())?;
            join(days_of(moved), ticks)
        }
        other => {
            let per = tick_unit(other).unwrap_or(1);
            let delta = n.checked_mul(per).ok_or_else(overflow)?;
            let total = (days as i128) * (TICKS_PER_DAY as i128) + ticks as i128 + delta as i128;
            let days = total.div_euclid(TICKS_PER_DAY as i128);
            if days.abs() > 4_000_000 {
                return Err(overflow());
            }
            join(days as i64, total.rem_euclid(TICKS_PER_DAY as i128) as i64)
        }
    }
}

/// How many `part` boundaries lie between `a` and `b`, as SQL Server counts them.
pub(crate) fn diff(part: &str, a: &str, b: &str) -> Result<i64, SqlError> {
    let unit = unit(part)?;
    let (da, ta) = split(a)?;
    let (db, tb) = split(b)?;
    let (a, b) = (datetime2_date(da)?, datetime2_date(db)?);
    let (ya, ma) = (i64::from(a.year()), i64::from(u8::from(a.month())));
    let (yb, mb) = (i64::from(b.year()), i64::from(u8::from(b.month())));
    Ok(match unit {
        "year" => yb - ya,
        "quarter" => (yb * 4 + (mb - 1) / 3) - (ya * 4 + (ma - 1) / 3),
        "month" => (yb * 12 + mb) - (ya * 12 + ma),
        "week" => (db + 4).div_euclid(7) - (da + 4).div_euclid(7),
        other => {
            let per = tick_unit(other).unwrap_or(1) as i128;
            let at = da as i128 * TICKS_PER_DAY as i128 + ta as i128;
            let bt = db as i128 * TICKS_PER_DAY as i128 + tb as i128;
            let v = bt.div_euclid(per) - at.div_euclid(per);
            i64::try_from(v)
                .map_err(|_| errors::ARITHMETIC_OVERFLOW.with(&["expression", "int"]))?
        }
    })
}

pub(crate) fn part(part: &str, date: &str) -> Result<i64, SqlError> {
    let unit = unit(part)?;
    let (days, ticks) = split(date)?;
    let date = datetime2_date(days)?;
    let m = i64::from(u8::from(date.month()));
    Ok(match unit {
        "year" => i64::from(date.year()),
        "quarter" => (m - 1) / 3 + 1,
        "month" => m,
        "dayofyear" => i64::from(date.ordinal()),
        "day" => i64::from(date.day()),
        "week" => {
            let jan1 = days - i64::from(date.ordinal()) + 1;
            (days + 4).div_euclid(7) - (jan1 + 4).div_euclid(7) + 1
        }
        // DATEFIRST 7 (us_english): Sunday is 1. 1970-01-01 was a Thursday.
        "weekday" => (days + 4).rem_euclid(7) + 1,
        "hour" => ticks / (3600 * 10_000_000),
        "minute" => ticks / (60 * 10_000_000) % 60,
        "second" => ticks / 10_000_000 % 60,
        "millisecond" => ticks / 10_000 % 1000,
        "microsecond" => ticks / 10 % 1_000_000,
        _ => ticks % 10_000_000 * 100,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_months_clamping_to_the_month_end() {
        assert_eq!(
            add("month", 1, "2024-01-31").unwrap(),
            "2024-02-29 00:00:00.0000000"
        );
        assert_eq!(
            add("day", -1, "2024-03-01").unwrap(),
            "2024-02-29 00:00:00.0000000"
        );
        assert_eq!(
            add("hh", 25, "2024-12-31 00:00:00").unwrap(),
            "2025-01-01 01:00:00.0000000"
        );
        assert_eq!(add("fortnight", 1, "2024-01-01").unwrap_err().number, 155);
    }

    #[test]
    fn counts_boundaries_not_elapsed_time() {
        assert_eq!(diff("year", "2024-12-31", "2025-01-01").unwrap(), 1);
        assert_eq!(
            diff("day", "2024-01-01 23:59", "2024-01-02 00:01").unwrap(),
            1
        );
        assert_eq!(diff("month", "2024-01-31", "2024-03-01").unwrap(), 2);
        assert_eq!(
            diff("minute", "2024-01-01 00:00:59", "2024-01-01 00:01:00").unwrap(),
            1
        );
    }

    #[test]
    fn reads_parts() {
        assert_eq!(part("year", "2024-07-04").unwrap(), 2024);
        assert_eq!(part("dw", "2024-07-04").unwrap(), 5, "a Thursday");
        assert_eq!(part("dayofyear", "2024-02-01").unwrap(), 32);
    }
}

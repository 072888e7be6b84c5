//! `DATEADD`, `DATEDIFF` and `DATEPART` on the engine's `DATETIME2` text, with SQL Server's
//! rules: months added clamp to the month's end, a difference counts boundaries crossed, not
//! time elapsed, and an unknown date part is error 155.

use super::errors::{self, SqlError};
use super::values::parse_datetime;

const TICKS_PER_DAY: i64 = 86_400 * 10_000_000;

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
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
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// (days since epoch, 100-ns ticks into the day).
fn split(text: &str) -> Result<(i64, i64), SqlError> {
    let t = parse_datetime(text.trim()).ok_or_else(|| errors::CONVERT_DATETIME.plain())?;
    let num = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap_or(0);
    let days = days_from_civil(num(0..4), num(5..7), num(8..10));
    let ticks = ((num(11..13) * 60 + num(14..16)) * 60 + num(17..19)) * 10_000_000 + num(20..27);
    Ok((days, ticks))
}

fn join(days: i64, ticks: i64) -> Result<String, SqlError> {
    let days = days + ticks.div_euclid(TICKS_PER_DAY);
    let ticks = ticks.rem_euclid(TICKS_PER_DAY);
    let (y, m, d) = civil_from_days(days);
    if !(1..=9999).contains(&y) {
        return Err(errors::DATE_OVERFLOW.with(&["datetime2"]));
    }
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
            let (y, m, d) = civil_from_days(days);
            let total = (y * 12 + m - 1).checked_add(months).ok_or_else(overflow)?;
            let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
            let last = days_from_civil(ny, nm + 1, 1) - days_from_civil(ny, nm, 1);
            let last = if nm == 12 { 31 } else { last };
            join(days_from_civil(ny, nm, d.min(last)), ticks)
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
    let (ya, ma, _) = civil_from_days(da);
    let (yb, mb, _) = civil_from_days(db);
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
    let (y, m, d) = civil_from_days(days);
    Ok(match unit {
        "year" => y,
        "quarter" => (m - 1) / 3 + 1,
        "month" => m,
        "dayofyear" => days - days_from_civil(y, 1, 1) + 1,
        "day" => d,
        "week" => {
            let jan1 = days_from_civil(y, 1, 1);
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

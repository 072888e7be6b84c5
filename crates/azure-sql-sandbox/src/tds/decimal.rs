//! `DECIMAL`/`NUMERIC` on the wire (MS-TDS 2.2.5.5.1.6): a sign byte and a little-endian
//! magnitude of 4, 8, 12 or 16 bytes by precision, and its exact text form (`"12.50"`), which is
//! how [`ColumnData`](super::types::ColumnData) holds decimals.

/// Bytes a value of this precision takes on the wire, sign byte included (5, 9, 13 or 17).
pub fn wire_len(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// Parses decimal text into a mantissa at `scale` digits after the point, rounding half away
/// from zero as SQL Server does.
pub fn parse(text: &str, scale: u8) -> Result<i128, String> {
    let t = text.trim();
    let (negative, digits) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int_part, frac_part) = match digits.split_once('.') {
        Some((i, f)) => (i, f),
        None => (digits, ""),
    };
    let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !valid(int_part) || !valid(frac_part) {
        return Err(format!("'{text}' is not a decimal number"));
    }
    let overflow = || format!("'{text}' is too large for a decimal");
    let mut mantissa: i128 = 0;
    for b in int_part.bytes() {
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(b - b'0')))
            .ok_or_else(overflow)?;
    }
    let frac = frac_part.as_bytes();
    for i in 0..scale as usize {
        let digit = frac.get(i).map_or(0, |b| b - b'0');
        mantissa = mantissa
            .checked_mul(10)
            .and_then(|m| m.checked_add(i128::from(digit)))
            .ok_or_else(overflow)?;
    }
    if frac.get(scale as usize).is_some_and(|b| *b >= b'5') {
        mantissa = mantissa.checked_add(1).ok_or_else(overflow)?;
    }
    Ok(if negative { -mantissa } else { mantissa })
}

/// Formats a mantissa with `scale` digits after the point.
pub fn format(mantissa: i128, scale: u8) -> String {
    let digits = mantissa.unsigned_abs().to_string();
    let scale = scale as usize;
    let body = if scale == 0 {
        digits
    } else if digits.len() > scale {
        format!(
            "{}.{}",
            &digits[..digits.len() - scale],
            &digits[digits.len() - scale..]
        )
    } else {
        format!("0.{}{}", "0".repeat(scale - digits.len()), digits)
    };
    if mantissa < 0 {
        format!("-{body}")
    } else {
        body
    }
}

/// Appends a value of `DECIMAL(precision, scale)`: length, sign (1 = positive), magnitude.
pub fn put(out: &mut Vec<u8>, mantissa: i128, precision: u8) -> Result<(), String> {
    let limit = 10u128
        .checked_pow(u32::from(precision.clamp(1, 38)))
        .unwrap_or(u128::MAX);
    let magnitude = mantissa.unsigned_abs();
    if magnitude >= limit {
        return Err(format!("the value has more than {precision} digits"));
    }
    let len = wire_len(precision);
    out.push(len);
    out.push(u8::from(mantissa >= 0));
    out.extend_from_slice(&magnitude.to_le_bytes()[..(len - 1) as usize]);
    Ok(())
}

/// Reads the sign and magnitude bytes of a value (the length byte already read).
pub fn from_wire(bytes: &[u8]) -> Result<i128, String> {
    let (sign, magnitude) = bytes
        .split_first()
        .ok_or_else(|| "a decimal value has no sign byte".to_string())?;
    if magnitude.len() > 16 {
        return Err(format!(
            "a decimal value has {} magnitude bytes (at most 16)",
            magnitude.len()
        ));
    }
    let mut le = [0u8; 16];
    le[..magnitude.len()].copy_from_slice(magnitude);
    let m = u128::from_le_bytes(le);
    let m = i128::try_from(m).map_err(|_| "a decimal value is out of range".to_string())?;
    Ok(if *sign == 0 { -m } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rounds_like_sql_server() {
        assert_eq!(parse("12.5", 2), Ok(1250));
        assert_eq!(parse("-0.005", 2), Ok(-1));
        assert_eq!(parse("0.004", 2), Ok(0));
        assert_eq!(parse("7", 3), Ok(7000));
        assert_eq!(parse(".5", 1), Ok(5));
        assert!(parse("1e5", 0).is_err());
        assert!(parse("", 0).is_err());
        assert!(parse("-", 0).is_err());
        assert!(parse(&"9".repeat(60), 0).is_err());
    }

    #[test]
    fn formats_with_the_scale() {
        assert_eq!(format(1250, 2), "12.50");
        assert_eq!(format(-5, 3), "-0.005");
        assert_eq!(format(42, 0), "42");
        assert_eq!(format(0, 2), "0.00");
    }

    #[test]
    fn wire_bytes_are_exact() {
        let mut out = Vec::new();
        put(&mut out, -1250, 10).unwrap();
        // precision 10 -> 9 bytes: length, sign 0 (negative), 8 bytes of 1250 LE.
        assert_eq!(out, [9, 0, 0xE2, 0x04, 0, 0, 0, 0, 0, 0]);
        assert_eq!(from_wire(&out[1..]), Ok(-1250));
        let mut out = Vec::new();
        assert!(put(&mut out, 1000, 3).is_err());
        assert!(from_wire(&[]).is_err());
    }
}

//! Strict RFC 3339 `date-time` check for the `time` attribute and Timestamp values.
//!
//! Hand-written rather than a general parser: it runs on every event and only has to say yes or
//! no; the text itself is kept verbatim.

/// Checks `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `T` and `Z` may be lower case (RFC 3339 §5.6).
pub fn check(s: &str) -> Result<(), &'static str> {
    const BAD: &str = "must be an RFC 3339 timestamp";
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(BAD);
    }
    let year = digits(b, 0, 4).ok_or(BAD)?;
    let month = digits(b, 5, 2).ok_or(BAD)?;
    let day = digits(b, 8, 2).ok_or(BAD)?;
    let hour = digits(b, 11, 2).ok_or(BAD)?;
    let minute = digits(b, 14, 2).ok_or(BAD)?;
    let second = digits(b, 17, 2).ok_or(BAD)?;
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(BAD);
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return Err("date out of range");
    }
    // Second 60 is a leap second, allowed by RFC 3339.
    if hour > 23 || minute > 59 || second > 60 {
        return Err("time of day out of range");
    }
    let mut i = 19;
    if b[i] == b'.' {
        let start = i + 1;
        i = start;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return Err(BAD);
        }
    }
    match b.get(i..) {
        Some([b'Z' | b'z']) => Ok(()),
        Some([b'+' | b'-', ..]) if b.len() == i + 6 && b[i + 3] == b':' => {
            let oh = digits(b, i + 1, 2).ok_or(BAD)?;
            let om = digits(b, i + 4, 2).ok_or(BAD)?;
            if oh > 23 || om > 59 {
                Err("offset out of range")
            } else {
                Ok(())
            }
        }
        _ => Err(BAD),
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(at..at + n)? {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn timestamps() {
        let cases = [
            ("2018-04-05T17:31:00Z", true),
            ("2018-04-05t17:31:00z", true),
            ("2018-04-05T17:31:00.123456789Z", true),
            ("2018-04-05T17:31:00+02:00", true),
            ("2018-04-05T17:31:00-23:59", true),
            ("2016-12-31T23:59:60Z", true),
            ("2020-02-29T00:00:00Z", true),
            ("2019-02-29T00:00:00Z", false),
            ("1900-02-29T00:00:00Z", false),
            ("2000-02-29T00:00:00Z", true),
            ("2018-13-05T17:31:00Z", false),
            ("2018-04-31T17:31:00Z", false),
            ("2018-04-05T24:00:00Z", false),
            ("2018-04-05T17:31:00", false),
            ("2018-04-05 17:31:00Z", false),
            ("2018-04-05T17:31:00.Z", false),
            ("2018-04-05T17:31:00+0200", false),
            ("2018-04-05T17:31:00+24:00", false),
            ("2018-04-05T17:31:00Zjunk", false),
            ("2018-04-05", false),
            ("", false),
            ("2018-04-05T17:31:00ZZ", false),
            ("２018-04-05T17:31:00Z", false),
        ];
        for (s, ok) in cases {
            assert_eq!(check(s).is_ok(), ok, "{s:?}");
        }
    }
}

//! Small helpers: clock, ISO-8601 formatting/parsing, random identifiers.

use rand::{Rng, RngCore};
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Offset added to the wall clock (admin API `POST /_sandbox/clock/advance`), so tests can make
/// tokens expire or search lag elapse without sleeping. Shared by all sandboxes in a process
/// would be wrong, so each [`Clock`] owns its own offset.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        wall_ms() + self.offset_ms.load(Ordering::Relaxed)
    }
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

pub fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Days since 1970-01-01 → (year, month, day). Howard Hinnant's civil_from_days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub fn days_from_civil_pub(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2024-03-05T14:07:09.123Z`, the format HubSpot's v3 APIs use for timestamps.
pub fn iso_ms(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (y, mo, d) = civil_from_days(days);
    let (h, mi, s, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `2024-03-05`, the format of `date` properties.
pub fn iso_date(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(86_400_000));
    format!("{y:04}-{mo:02}-{d:02}")
}

/// Parses what HubSpot accepts for date/datetime values: epoch milliseconds (integer or the
/// float-ms strings HubSpot itself sometimes returns), `YYYY-MM-DD`, or ISO-8601 with `Z` or an
/// offset and optional fraction.
pub fn parse_time_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().map(|f| f as i64);
    }
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y: i64 = s.get(0..4)?.parse().ok()?;
    let mo: u32 = s.get(5..7)?.parse().ok()?;
    let d: u32 = s.get(8..10)?.parse().ok()?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut ms = days_from_civil(y, mo, d) * 86_400_000;
    if b.len() == 10 {
        return Some(ms);
    }
    if b[10] != b'T' && b[10] != b' ' {
        return None;
    }
    let t = s.get(11..)?;
    let h: i64 = t.get(0..2)?.parse().ok()?;
    let mi: i64 = t.get(3..5)?.parse().ok()?;
    let sec: i64 = t.get(6..8).and_then(|x| x.parse().ok()).unwrap_or(0);
    ms += h * 3_600_000 + mi * 60_000 + sec * 1000;
    let mut rest = t.get(8..).unwrap_or("");
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(|c| c.is_ascii_digit()).collect();
        let mut millis = 0i64;
        for (i, c) in digits.chars().take(3).enumerate() {
            millis += (c as i64 - '0' as i64) * [100, 10, 1][i];
        }
        ms += millis;
        rest = &frac[digits.len()..];
    }
    match rest {
        "" | "Z" | "z" => Some(ms),
        off if off.len() >= 5 && (off.starts_with('+') || off.starts_with('-')) => {
            let sign = if off.starts_with('-') { -1 } else { 1 };
            let oh: i64 = off.get(1..3)?.parse().ok()?;
            let om: i64 = off.get(off.len() - 2..)?.parse().ok()?;
            Some(ms - sign * (oh * 3_600_000 + om * 60_000))
        }
        _ => None,
    }
}

pub fn uuid_v4(rng: &mut impl RngCore) -> String {
    let mut b = [0u8; 16];
    rng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

pub fn correlation_id() -> String {
    uuid_v4(&mut rand::rng())
}

/// An opaque HubSpot-style OAuth access token (`CN…`, base64url, ~170 characters).
pub fn access_token(rng: &mut impl RngCore) -> String {
    use base64::Engine;
    let mut b = [0u8; 120];
    rng.fill_bytes(&mut b);
    format!("CN{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b))
}

pub fn random_hex(rng: &mut impl Rng, bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

/// Percent-encoding for query-string values.
pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn html_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip() {
        for ms in [0i64, 1_700_000_000_123, 951_782_400_000, -86_400_000] {
            assert_eq!(parse_time_ms(&iso_ms(ms)), Some(ms), "{}", iso_ms(ms));
        }
        assert_eq!(iso_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_time_ms("2023-11-14"), Some(1_699_920_000_000));
        assert_eq!(parse_time_ms("2023-11-14T23:13:20+01:00"), Some(1_700_000_000_000));
        assert_eq!(parse_time_ms("1700000000123.0"), Some(1_700_000_000_123));
        assert_eq!(parse_time_ms("not a date"), None);
    }

    #[test]
    fn uuid_shape() {
        let u = uuid_v4(&mut rand::rng());
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}

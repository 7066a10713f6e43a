//! Transforms applied to one field's value, and the value conversions between HubSpot's text
//! values and the local type set.

use std::collections::BTreeMap;

use chrono::format::{Item, StrftimeItems};
use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, SecondsFormat, TimeZone,
    Utc,
};
use serde::{Deserialize, Serialize};

use crate::catalog::PropertyType;
use crate::local::{format_real, LocalType, LocalValue};

/// Letter case for [`Transform::Case`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, specta::Type)]
#[serde(rename_all = "camelCase")]
pub enum Case {
    Lower,
    Upper,
    /// First letter of each word upper, the rest lower.
    Title,
}

/// One step of a field's transform chain. Serialised as `{"op": "trim"}`,
/// `{"op": "parseNumber", "decimal": ","}`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, specta::Type)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum Transform {
    /// Removes leading and trailing white space.
    Trim,
    Case {
        to: Case,
    },
    /// Text → number. `decimal` (default `.`) and `thousands` separators; white space is ignored.
    ParseNumber {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decimal: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        thousands: Option<String>,
    },
    /// Number → text with a fixed number of decimals (and an optional decimal separator).
    FormatNumber {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decimals: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        decimal: Option<String>,
    },
    /// Text in a `strftime` format (`%d/%m/%Y`) → date.
    ParseDate {
        format: String,
    },
    /// Date (or date-time, taken in UTC) → text in a `strftime` format.
    FormatDate {
        format: String,
    },
    /// Text → date-time. Without `format`, RFC 3339, `YYYY-MM-DD HH:MM[:SS]`, a date, or epoch
    /// milliseconds are understood. Times without an offset are taken in `zone` (an IANA name such
    /// as `Europe/Berlin`, or `+02:00`; default UTC).
    ParseDatetime {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// Date-time → text in `zone` (default UTC), in a `strftime` format (default RFC 3339).
    FormatDatetime {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        format: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        zone: Option<String>,
    },
    /// Maps values (enum option values, usually). Lookup is exact, then case-insensitive; a
    /// `a;b` multi-value is mapped part by part. Unmapped values become `otherwise` if set, are
    /// refused if `strict`, or else pass unchanged.
    ValueMap {
        values: BTreeMap<String, String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        otherwise: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        strict: bool,
    },
    /// Replaces an empty value.
    Default {
        value: LocalValue,
    },
    /// Always this value (the source is ignored).
    Constant {
        value: LocalValue,
    },
    /// Joins these source fields (properties inbound, columns outbound), skipping empty ones.
    Concat {
        fields: Vec<String>,
        separator: String,
    },
    /// Splits on `separator` and keeps part `index` (0-based), or with `rest` everything from it.
    Split {
        separator: String,
        index: usize,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        rest: bool,
    },
}

/// More decimals than a double holds are noise.
const MAX_DECIMALS: u32 = 17;

/// What kind of value flows between transforms (for edit-time checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Number,
    Date,
    Datetime,
    Bool,
    Json,
    /// A constant or default of unknown fit.
    Any,
}

impl Kind {
    pub(crate) fn of_property(t: PropertyType) -> Kind {
        match t {
            PropertyType::Number => Kind::Number,
            PropertyType::Date => Kind::Date,
            PropertyType::Datetime => Kind::Datetime,
            PropertyType::Bool => Kind::Bool,
            PropertyType::Json | PropertyType::ObjectCoordinates => Kind::Json,
            _ => Kind::Text,
        }
    }

    pub(crate) fn of_local(t: LocalType) -> Kind {
        match t {
            LocalType::Text => Kind::Text,
            LocalType::Integer | LocalType::Real => Kind::Number,
            LocalType::Boolean => Kind::Bool,
            LocalType::Date => Kind::Date,
            LocalType::Datetime => Kind::Datetime,
            LocalType::Json => Kind::Json,
        }
    }

    fn of_value(v: &LocalValue) -> Kind {
        match v {
            LocalValue::Null => Kind::Any,
            LocalValue::Bool(_) => Kind::Bool,
            LocalValue::Integer(_) | LocalValue::Real(_) => Kind::Number,
            LocalValue::Text(_) => Kind::Text,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Number => "a number",
            Kind::Date => "a date",
            Kind::Datetime => "a date-time",
            Kind::Bool => "a yes/no value",
            Kind::Json => "JSON",
            Kind::Any => "any value",
        }
    }
}

impl Transform {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Transform::Trim => "trim",
            Transform::Case { .. } => "case",
            Transform::ParseNumber { .. } => "parseNumber",
            Transform::FormatNumber { .. } => "formatNumber",
            Transform::ParseDate { .. } => "parseDate",
            Transform::FormatDate { .. } => "formatDate",
            Transform::ParseDatetime { .. } => "parseDatetime",
            Transform::FormatDatetime { .. } => "formatDatetime",
            Transform::ValueMap { .. } => "valueMap",
            Transform::Default { .. } => "default",
            Transform::Constant { .. } => "constant",
            Transform::Concat { .. } => "concat",
            Transform::Split { .. } => "split",
        }
    }

    /// The kind this step produces from `input`, or why it does not fit.
    pub(crate) fn check(&self, input: Kind) -> Result<Kind, String> {
        let needs = |ok: &[Kind], out: Kind| -> Result<Kind, String> {
            if input == Kind::Any || ok.contains(&input) {
                Ok(out)
            } else {
                let wanted: Vec<&str> = ok.iter().map(|k| k.name()).collect();
                Err(format!(
                    "{} needs {} but gets {}",
                    self.name(),
                    wanted.join(" or "),
                    input.name()
                ))
            }
        };
        match self {
            // HubSpot sends every value as text, and number properties often hold `123;456`:
            // trimming or splitting keeps the value's kind.
            Transform::Trim | Transform::Split { .. } if input != Kind::Json => Ok(input),
            Transform::Trim | Transform::Case { .. } | Transform::Split { .. } => {
                needs(&[Kind::Text], Kind::Text)
            }
            Transform::ParseNumber { decimal, thousands } => {
                for sep in [decimal, thousands].into_iter().flatten() {
                    if sep.chars().count() != 1 {
                        return Err(format!(
                            "parseNumber separators are single characters, not {sep:?}"
                        ));
                    }
                }
                needs(&[Kind::Text, Kind::Number], Kind::Number)
            }
            Transform::FormatNumber { decimal, decimals } => {
                if decimals.is_some_and(|d| d > MAX_DECIMALS) {
                    return Err(format!(
                        "formatNumber shows at most {MAX_DECIMALS} decimals"
                    ));
                }
                if decimal.as_ref().is_some_and(|d| d.chars().count() != 1) {
                    return Err("formatNumber's decimal separator is a single character".to_owned());
                }
                needs(&[Kind::Number], Kind::Text)
            }
            Transform::ParseDate { format } => {
                check_format(format)?;
                needs(&[Kind::Text], Kind::Date)
            }
            Transform::FormatDate { format } => {
                check_format(format)?;
                needs(&[Kind::Date, Kind::Datetime], Kind::Text)
            }
            Transform::ParseDatetime { format, zone } => {
                if let Some(f) = format {
                    check_format(f)?;
                }
                parse_zone(zone.as_deref())?;
                needs(&[Kind::Text, Kind::Number], Kind::Datetime)
            }
            Transform::FormatDatetime { format, zone } => {
                if let Some(f) = format {
                    check_format(f)?;
                }
                parse_zone(zone.as_deref())?;
                needs(&[Kind::Datetime, Kind::Date], Kind::Text)
            }
            Transform::ValueMap { .. } => Ok(Kind::Text),
            Transform::Default { value } => Ok(if input == Kind::Any {
                Kind::of_value(value)
            } else {
                input
            }),
            Transform::Constant { value } => Ok(Kind::of_value(value)),
            Transform::Concat { fields, .. } => {
                if fields.is_empty() {
                    Err("concat needs at least one field".to_owned())
                } else {
                    Ok(Kind::Text)
                }
            }
        }
    }

    /// Applies the step. `lookup` reads another source field (for `concat`).
    pub(crate) fn apply(
        &self,
        value: LocalValue,
        lookup: &dyn Fn(&str) -> LocalValue,
    ) -> Result<LocalValue, String> {
        Ok(match self {
            Transform::Trim => map_text(value, |s| s.trim().to_owned()),
            Transform::Case { to } => map_text(value, |s| match to {
                Case::Lower => s.to_lowercase(),
                Case::Upper => s.to_uppercase(),
                Case::Title => title_case(&s),
            }),
            Transform::ParseNumber { decimal, thousands } => match value {
                LocalValue::Text(s) if s.trim().is_empty() => LocalValue::Null,
                LocalValue::Text(s) => {
                    parse_number_with(&s, decimal.as_deref(), thousands.as_deref())?
                }
                other => other,
            },
            Transform::FormatNumber { decimals, decimal } => {
                if value.is_empty() {
                    return Ok(LocalValue::Null);
                }
                let n = to_f64(&value)?;
                let mut text = match decimals {
                    Some(d) => format!("{n:.*}", (*d).min(MAX_DECIMALS) as usize),
                    None => format_real(n),
                };
                if let Some(sep) = decimal {
                    text = text.replace('.', sep);
                }
                LocalValue::Text(text)
            }
            Transform::ParseDate { format } => match value {
                LocalValue::Text(s) if s.trim().is_empty() => LocalValue::Null,
                LocalValue::Text(s) => {
                    let date = NaiveDate::parse_from_str(s.trim(), format)
                        .map_err(|_| format!("'{s}' is not a date in the format {format}"))?;
                    LocalValue::Text(date.format("%Y-%m-%d").to_string())
                }
                other => other,
            },
            Transform::FormatDate { format } => {
                if value.is_empty() {
                    return Ok(LocalValue::Null);
                }
                let date = to_date(&value)?;
                LocalValue::Text(render(date.format(format), format)?)
            }
            Transform::ParseDatetime { format, zone } => {
                if value.is_empty() {
                    return Ok(LocalValue::Null);
                }
                let zone = parse_zone(zone.as_deref())?;
                let dt = match (format, &value) {
                    (Some(f), LocalValue::Text(s)) => parse_with_format(s.trim(), f, &zone)?,
                    _ => to_datetime_in(&value, &zone)?,
                };
                LocalValue::Text(canonical_datetime(dt))
            }
            Transform::FormatDatetime { format, zone } => {
                if value.is_empty() {
                    return Ok(LocalValue::Null);
                }
                let zone = parse_zone(zone.as_deref())?;
                let dt = to_datetime_in(&value, &utc())?;
                LocalValue::Text(zone.format(dt, format.as_deref())?)
            }
            Transform::ValueMap {
                values,
                otherwise,
                strict,
            } => {
                let Some(text) = value.as_text().filter(|t| !t.is_empty()) else {
                    return Ok(LocalValue::Null);
                };
                let find = |key: &str| -> Option<String> {
                    values.get(key).cloned().or_else(|| {
                        values
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(key))
                            .map(|(_, v)| v.clone())
                    })
                };
                if let Some(mapped) = find(&text) {
                    return Ok(LocalValue::Text(mapped));
                }
                if text.contains(';') {
                    let parts: Option<Vec<String>> = text
                        .split(';')
                        .filter(|p| !p.is_empty())
                        .map(find)
                        .collect();
                    if let Some(parts) = parts {
                        return Ok(LocalValue::Text(parts.join(";")));
                    }
                }
                match otherwise {
                    Some(o) => LocalValue::Text(o.clone()),
                    None if *strict => {
                        return Err(format!("'{text}' has no entry in the value map"))
                    }
                    None => LocalValue::Text(text),
                }
            }
            Transform::Default { value: default } => {
                if value.is_empty() {
                    default.clone()
                } else {
                    value
                }
            }
            Transform::Constant { value } => value.clone(),
            Transform::Concat { fields, separator } => {
                let parts: Vec<String> = fields
                    .iter()
                    .filter_map(|f| lookup(f).as_text())
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if parts.is_empty() {
                    LocalValue::Null
                } else {
                    LocalValue::Text(parts.join(separator))
                }
            }
            Transform::Split {
                separator,
                index,
                rest,
            } => {
                let Some(text) = value.as_text() else {
                    return Ok(LocalValue::Null);
                };
                if separator.is_empty() {
                    return Err("split needs a separator".to_owned());
                }
                let parts: Vec<&str> = text.split(separator.as_str()).collect();
                let picked = if *rest {
                    (*index < parts.len()).then(|| parts[*index..].join(separator))
                } else {
                    parts.get(*index).map(|p| (*p).to_owned())
                };
                match picked
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                {
                    Some(p) => LocalValue::Text(p),
                    None => LocalValue::Null,
                }
            }
        })
    }
}

fn map_text(value: LocalValue, f: impl Fn(String) -> String) -> LocalValue {
    match value {
        LocalValue::Text(s) => LocalValue::Text(f(s)),
        other => other,
    }
}

fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if c.is_alphanumeric() {
            if start {
                out.extend(c.to_uppercase());
            } else {
                out.extend(c.to_lowercase());
            }
            start = false;
        } else {
            out.push(c);
            start = true;
        }
    }
    out
}

/// Formats with a `strftime` format that may be invalid (chrono's `to_string` panics on one; the
/// property tests found `%#`).
fn render(formatted: impl std::fmt::Display, format: &str) -> Result<String, String> {
    use std::fmt::Write;
    let mut out = String::new();
    write!(out, "{formatted}").map_err(|_| {
        format!("{format:?} is not a valid date format (use strftime codes such as %Y-%m-%d)")
    })?;
    Ok(out)
}

fn check_format(format: &str) -> Result<(), String> {
    if format.is_empty() || StrftimeItems::new(format).any(|item| matches!(item, Item::Error)) {
        Err(format!(
            "{format:?} is not a valid date format (use strftime codes such as %Y-%m-%d)"
        ))
    } else {
        Ok(())
    }
}

/// A time zone: an IANA name or a fixed offset.
#[derive(Debug, Clone)]
pub(crate) enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

pub(crate) fn parse_zone(zone: Option<&str>) -> Result<Zone, String> {
    let Some(raw) = zone.map(str::trim).filter(|z| !z.is_empty()) else {
        return Ok(Zone::Named(chrono_tz::UTC));
    };
    if raw.eq_ignore_ascii_case("utc") || raw == "Z" {
        return Ok(Zone::Named(chrono_tz::UTC));
    }
    if let Ok(tz) = raw.parse::<chrono_tz::Tz>() {
        return Ok(Zone::Named(tz));
    }
    if let Ok(dt) =
        DateTime::parse_from_str(&format!("2000-01-01T00:00:00{raw}"), "%Y-%m-%dT%H:%M:%S%:z")
    {
        return Ok(Zone::Fixed(*dt.offset()));
    }
    Err(format!("{raw:?} is not a time zone (use a name such as Europe/Berlin, or an offset such as +02:00)"))
}

impl Zone {
    /// The instant of a wall-clock time in this zone (a time skipped by a DST change is refused;
    /// an ambiguous one takes the earlier instant).
    fn instant(&self, naive: NaiveDateTime) -> Result<DateTime<Utc>, String> {
        let local = match self {
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            Zone::Fixed(off) => off
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        };
        local.ok_or_else(|| {
            format!("{naive} does not exist in that time zone (a daylight-saving change skips it)")
        })
    }

    fn format(&self, dt: DateTime<Utc>, format: Option<&str>) -> Result<String, String> {
        match self {
            Zone::Named(tz) => {
                let local = dt.with_timezone(tz);
                match format {
                    Some(f) => render(local.format(f), f),
                    None => Ok(local
                        .fixed_offset()
                        .to_rfc3339_opts(SecondsFormat::Millis, true)),
                }
            }
            Zone::Fixed(off) => {
                let local = dt.with_timezone(off);
                match format {
                    Some(f) => render(local.format(f), f),
                    None => Ok(local.to_rfc3339_opts(SecondsFormat::Millis, true)),
                }
            }
        }
    }
}

fn parse_with_format(s: &str, format: &str, zone: &Zone) -> Result<DateTime<Utc>, String> {
    if let Ok(dt) = DateTime::parse_from_str(s, format) {
        return Ok(dt.with_timezone(&Utc));
    }
    if let Ok(naive) = NaiveDateTime::parse_from_str(s, format) {
        return zone.instant(naive);
    }
    if let Ok(date) = NaiveDate::parse_from_str(s, format) {
        return zone.instant(date.and_time(NaiveTime::MIN));
    }
    Err(format!("'{s}' is not a date-time in the format {format}"))
}

/// `2025-06-15T03:00:29.864Z`.
pub(crate) fn canonical_datetime(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A date-time from RFC 3339, `YYYY-MM-DD[ T]HH:MM[:SS[.f]]` (in `zone`), `YYYY-MM-DD` (midnight
/// in `zone`) or epoch milliseconds.
pub(crate) fn to_datetime_in(value: &LocalValue, zone: &Zone) -> Result<DateTime<Utc>, String> {
    let text = match value {
        LocalValue::Integer(ms) => return from_epoch_ms(*ms),
        LocalValue::Real(ms) if ms.fract() == 0.0 => return from_epoch_ms(*ms as i64),
        LocalValue::Text(s) => s.trim().to_owned(),
        other => return Err(format!("'{}' is not a date-time", other.display())),
    };
    if let Ok(dt) = DateTime::parse_from_rfc3339(&text) {
        return Ok(dt.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&text, format) {
            return zone.instant(naive);
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(&text, "%Y-%m-%d") {
        return zone.instant(date.and_time(NaiveTime::MIN));
    }
    // Epoch milliseconds, as HubSpot sometimes returns them (`1749956429864`, `1749956429864.0`).
    let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if (8..=15).contains(&digits.len())
        && digits.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c == '0')
    {
        if let Ok(ms) = whole.parse::<i64>() {
            return from_epoch_ms(ms);
        }
    }
    Err(format!("'{text}' is not a date-time"))
}

fn from_epoch_ms(ms: i64) -> Result<DateTime<Utc>, String> {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .ok_or_else(|| format!("{ms} is out of range for a date-time"))
}

pub(crate) fn utc() -> Zone {
    Zone::Fixed(Utc.fix())
}

/// A date from `YYYY-MM-DD`, a date-time (its UTC date) or epoch milliseconds.
pub(crate) fn to_date(value: &LocalValue) -> Result<NaiveDate, String> {
    if let LocalValue::Text(s) = value {
        if let Ok(date) = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
            return Ok(date);
        }
    }
    to_datetime_in(value, &utc())
        .map(|dt| dt.date_naive())
        .map_err(|_| format!("'{}' is not a date", value.display()))
}

fn parse_number_with(
    s: &str,
    decimal: Option<&str>,
    thousands: Option<&str>,
) -> Result<LocalValue, String> {
    let mut t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(th) = thousands {
        t = t.replace(th, "");
    }
    if let Some(dec) = decimal {
        if dec != "." {
            if t.contains('.') {
                return Err(format!("'{s}' is not a number"));
            }
            t = t.replace(dec, ".");
        }
    }
    parse_number(&t).ok_or_else(|| format!("'{s}' is not a number"))
}

/// A number from plain decimal text: an integer when it has no fraction.
pub(crate) fn parse_number(s: &str) -> Option<LocalValue> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(i) = t.parse::<i64>() {
        return Some(LocalValue::Integer(i));
    }
    let ok = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'));
    match t.parse::<f64>() {
        Ok(f) if ok && f.is_finite() => Some(LocalValue::Real(f)),
        _ => None,
    }
}

pub(crate) fn to_f64(value: &LocalValue) -> Result<f64, String> {
    match value {
        LocalValue::Integer(i) => Ok(*i as f64),
        LocalValue::Real(r) => Ok(*r),
        LocalValue::Bool(b) => Ok(if *b { 1.0 } else { 0.0 }),
        LocalValue::Text(s) => match parse_number(s) {
            Some(LocalValue::Integer(i)) => Ok(i as f64),
            Some(LocalValue::Real(r)) => Ok(r),
            _ => Err(format!("'{s}' is not a number")),
        },
        LocalValue::Null => Err("an empty value is not a number".to_owned()),
    }
}

pub(crate) fn to_bool(value: &LocalValue) -> Result<bool, String> {
    match value {
        LocalValue::Bool(b) => Ok(*b),
        LocalValue::Integer(0) => Ok(false),
        LocalValue::Integer(1) => Ok(true),
        LocalValue::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "on" => Ok(true),
            "false" | "no" | "n" | "0" | "off" => Ok(false),
            _ => Err(format!(
                "'{s}' is not a yes/no value (true/false, yes/no, 1/0)"
            )),
        },
        other => Err(format!("'{}' is not a yes/no value", other.display())),
    }
}

/// Converts a value (already transformed) into a local column of type `to`. `from` is the
/// HubSpot type the value came from, when known (a multiple-checkbox list becomes a JSON array).
pub(crate) fn to_local(
    value: LocalValue,
    to: LocalType,
    from: Option<PropertyType>,
) -> Result<LocalValue, String> {
    if value.is_empty() {
        return Ok(LocalValue::Null);
    }
    Ok(match to {
        LocalType::Text => LocalValue::Text(value.as_text().unwrap_or_default()),
        LocalType::Integer => match &value {
            LocalValue::Integer(_) => value,
            LocalValue::Bool(b) => LocalValue::Integer(*b as i64),
            LocalValue::Real(r) if r.fract() == 0.0 => LocalValue::Integer(*r as i64),
            LocalValue::Text(s)
                if matches!(from, Some(PropertyType::Date | PropertyType::Datetime))
                    && parse_number(s).is_none() =>
            {
                LocalValue::Integer(to_datetime_in(&value, &utc())?.timestamp_millis())
            }
            _ => match to_f64(&value)? {
                f if f.fract() == 0.0 && f.abs() < 9.0e15 => LocalValue::Integer(f as i64),
                _ => return Err(format!("'{}' is not a whole number", value.display())),
            },
        },
        LocalType::Real => LocalValue::Real(to_f64(&value)?),
        LocalType::Boolean => LocalValue::Bool(to_bool(&value)?),
        LocalType::Date => LocalValue::Text(to_date(&value)?.format("%Y-%m-%d").to_string()),
        LocalType::Datetime => {
            LocalValue::Text(canonical_datetime(to_datetime_in(&value, &utc())?))
        }
        LocalType::Json => {
            let text = value.as_text().unwrap_or_default();
            let json = if from == Some(PropertyType::Enumeration) {
                serde_json::Value::Array(
                    text.split(';')
                        .filter(|p| !p.is_empty())
                        .map(|p| serde_json::Value::String(p.to_owned()))
                        .collect(),
                )
            } else {
                match (&value, serde_json::from_str::<serde_json::Value>(&text)) {
                    (LocalValue::Text(_), Ok(v)) if v.is_object() || v.is_array() => v,
                    (LocalValue::Text(_), _) => serde_json::Value::String(text),
                    (LocalValue::Bool(b), _) => serde_json::Value::Bool(*b),
                    (LocalValue::Integer(i), _) => serde_json::Value::from(*i),
                    (LocalValue::Real(r), _) => serde_json::Value::from(*r),
                    (LocalValue::Null, _) => serde_json::Value::Null,
                }
            };
            LocalValue::Text(json.to_string())
        }
    })
}

/// Converts a value (already transformed) into HubSpot's text form for a property of type `to`
/// (`None` = empty: nothing to write).
pub(crate) fn to_hubspot(value: &LocalValue, to: PropertyType) -> Result<Option<String>, String> {
    if value.is_empty() {
        return Ok(None);
    }
    let text = match to {
        PropertyType::Number => format_real(to_f64(value)?),
        PropertyType::Bool => to_bool(value)?.to_string(),
        PropertyType::Date => to_date(value)?.format("%Y-%m-%d").to_string(),
        PropertyType::Datetime => canonical_datetime(to_datetime_in(value, &utc())?),
        PropertyType::Enumeration => {
            let text = value.as_text().unwrap_or_default();
            // A JSON array (from a json column) becomes HubSpot's `a;b` list.
            match serde_json::from_str::<Vec<serde_json::Value>>(&text) {
                Ok(items) if text.trim_start().starts_with('[') => items
                    .iter()
                    .map(|i| {
                        i.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| i.to_string())
                    })
                    .collect::<Vec<_>>()
                    .join(";"),
                _ => text,
            }
        }
        _ => value.as_text().unwrap_or_default(),
    };
    Ok(Some(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> LocalValue {
        LocalValue::Text(s.to_owned())
    }

    fn run(tr: &Transform, v: LocalValue) -> Result<LocalValue, String> {
        tr.apply(v, &|_| LocalValue::Null)
    }

    #[test]
    fn text_transforms() {
        assert_eq!(run(&Transform::Trim, t("  a b ")).unwrap(), t("a b"));
        assert_eq!(
            run(&Transform::Case { to: Case::Upper }, t("ab")).unwrap(),
            t("AB")
        );
        assert_eq!(
            run(&Transform::Case { to: Case::Lower }, t("A@B.COM")).unwrap(),
            t("a@b.com")
        );
        assert_eq!(
            run(&Transform::Case { to: Case::Title }, t("jean-luc o'NEIL")).unwrap(),
            t("Jean-Luc O'Neil")
        );
        let split = Transform::Split {
            separator: " ".into(),
            index: 1,
            rest: true,
        };
        assert_eq!(
            run(&split, t("Ada King Lovelace")).unwrap(),
            t("King Lovelace")
        );
        let first = Transform::Split {
            separator: ";".into(),
            index: 0,
            rest: false,
        };
        assert_eq!(run(&first, t("123;456")).unwrap(), t("123"));
        let third = Transform::Split {
            separator: ";".into(),
            index: 2,
            rest: false,
        };
        assert_eq!(run(&third, t("123;456")).unwrap(), LocalValue::Null);
    }

    #[test]
    fn number_parsing_and_formatting() {
        let eu = Transform::ParseNumber {
            decimal: Some(",".into()),
            thousands: Some(".".into()),
        };
        assert_eq!(run(&eu, t("1.234,5")).unwrap(), LocalValue::Real(1234.5));
        assert_eq!(run(&eu, t(" 42 ")).unwrap(), LocalValue::Integer(42));
        let plain = Transform::ParseNumber {
            decimal: None,
            thousands: None,
        };
        assert_eq!(
            run(&plain, t("123;456")).unwrap_err(),
            "'123;456' is not a number"
        );
        assert_eq!(run(&plain, t("")).unwrap(), LocalValue::Null);
        let fmt = Transform::FormatNumber {
            decimals: Some(2),
            decimal: Some(",".into()),
        };
        assert_eq!(run(&fmt, LocalValue::Real(1.23456)).unwrap(), t("1,23"));
        assert_eq!(run(&fmt, t("abc")).unwrap_err(), "'abc' is not a number");
    }

    #[test]
    fn dates_and_time_zones() {
        let parse = Transform::ParseDate {
            format: "%d/%m/%Y".into(),
        };
        assert_eq!(run(&parse, t("15/06/2025")).unwrap(), t("2025-06-15"));
        assert!(run(&parse, t("31/02/2025"))
            .unwrap_err()
            .contains("is not a date"));
        let fmt = Transform::FormatDate {
            format: "%d.%m.%Y".into(),
        };
        assert_eq!(
            run(&fmt, t("2025-06-15T23:30:00Z")).unwrap(),
            t("15.06.2025")
        );

        // Berlin is UTC+2 in June: local wall-clock text becomes the UTC instant.
        let from_berlin = Transform::ParseDatetime {
            format: Some("%d.%m.%Y %H:%M".into()),
            zone: Some("Europe/Berlin".into()),
        };
        assert_eq!(
            run(&from_berlin, t("15.06.2025 09:00")).unwrap(),
            t("2025-06-15T07:00:00.000Z")
        );
        let flexible = Transform::ParseDatetime {
            format: None,
            zone: Some("America/New_York".into()),
        };
        assert_eq!(
            run(&flexible, t("2025-01-15 09:00")).unwrap(),
            t("2025-01-15T14:00:00.000Z")
        );
        assert_eq!(
            run(&flexible, t("2025-06-15T03:00:29.864Z")).unwrap(),
            t("2025-06-15T03:00:29.864Z")
        );
        assert_eq!(
            run(&flexible, t("1749956429864")).unwrap(),
            t("2025-06-15T03:00:29.864Z")
        );
        assert_eq!(
            run(&flexible, t("1749956429864.0")).unwrap(),
            t("2025-06-15T03:00:29.864Z")
        );
        assert!(run(&flexible, t("1749956429864.5")).is_err());
        assert!(run(&flexible, t("2025")).is_err());
        // 02:30 on 2025-03-30 does not exist in Berlin.
        assert!(run(&from_berlin, t("30.03.2025 02:30"))
            .unwrap_err()
            .contains("does not exist"));

        let to_tokyo = Transform::FormatDatetime {
            format: Some("%Y-%m-%d %H:%M".into()),
            zone: Some("Asia/Tokyo".into()),
        };
        assert_eq!(
            run(&to_tokyo, t("2025-06-15T03:00:29.864Z")).unwrap(),
            t("2025-06-15 12:00")
        );
        let offset = Transform::FormatDatetime {
            format: None,
            zone: Some("-05:00".into()),
        };
        assert_eq!(
            run(&offset, t("2025-06-15T03:00:00Z")).unwrap(),
            t("2025-06-14T22:00:00.000-05:00")
        );
        assert!(parse_zone(Some("Mars/Olympus")).is_err());
        assert!(Transform::ParseDate {
            format: "%Q".into()
        }
        .check(Kind::Text)
        .is_err());
    }

    #[test]
    fn value_map_default_constant_concat() {
        let map = Transform::ValueMap {
            values: [
                ("Gold".to_owned(), "gold".to_owned()),
                ("Silver".to_owned(), "silver".to_owned()),
            ]
            .into(),
            otherwise: None,
            strict: true,
        };
        assert_eq!(run(&map, t("GOLD")).unwrap(), t("gold"));
        assert_eq!(run(&map, t("Gold;Silver")).unwrap(), t("gold;silver"));
        assert_eq!(
            run(&map, t("Copper")).unwrap_err(),
            "'Copper' has no entry in the value map"
        );
        let lenient = Transform::ValueMap {
            values: BTreeMap::new(),
            otherwise: Some("other".into()),
            strict: false,
        };
        assert_eq!(run(&lenient, t("x")).unwrap(), t("other"));

        let default = Transform::Default { value: t("n/a") };
        assert_eq!(run(&default, LocalValue::Null).unwrap(), t("n/a"));
        assert_eq!(run(&default, t("set")).unwrap(), t("set"));
        assert_eq!(
            run(
                &Transform::Constant {
                    value: LocalValue::Integer(7)
                },
                t("x")
            )
            .unwrap(),
            LocalValue::Integer(7)
        );

        let concat = Transform::Concat {
            fields: vec!["firstname".into(), "middle".into(), "lastname".into()],
            separator: " ".into(),
        };
        let lookup = |f: &str| match f {
            "firstname" => t("Ada "),
            "lastname" => t("Lovelace"),
            _ => LocalValue::Null,
        };
        assert_eq!(
            concat.apply(LocalValue::Null, &lookup).unwrap(),
            t("Ada Lovelace")
        );
    }

    #[test]
    fn kind_checks_refuse_mismatched_steps() {
        assert!(Transform::Case { to: Case::Upper }
            .check(Kind::Number)
            .unwrap_err()
            .contains("case needs text"));
        assert_eq!(Transform::Trim.check(Kind::Number).unwrap(), Kind::Number);
        let split = Transform::Split {
            separator: ";".into(),
            index: 0,
            rest: false,
        };
        assert_eq!(split.check(Kind::Number).unwrap(), Kind::Number);
        assert!(split.check(Kind::Json).is_err());
        let huge = Transform::FormatNumber {
            decimals: Some(1_000_000),
            decimal: None,
        };
        assert!(huge.check(Kind::Number).unwrap_err().contains("at most 17"));
        assert_eq!(
            run(&huge, LocalValue::Real(0.5)).unwrap(),
            t("0.50000000000000000")
        );
        assert_eq!(
            Transform::ParseNumber {
                decimal: None,
                thousands: None
            }
            .check(Kind::Text)
            .unwrap(),
            Kind::Number
        );
        assert!(Transform::FormatDate {
            format: "%Y".into()
        }
        .check(Kind::Text)
        .is_err());
        assert_eq!(
            Transform::FormatDate {
                format: "%Y".into()
            }
            .check(Kind::Datetime)
            .unwrap(),
            Kind::Text
        );
        assert!(Transform::FormatNumber {
            decimals: Some(1_000_000),
            decimal: None
        }
        .check(Kind::Number)
        .is_err());
        assert!(Transform::ParseNumber {
            decimal: Some(",,".into()),
            thousands: None
        }
        .check(Kind::Text)
        .is_err());
    }

    #[test]
    fn conversions_to_local_and_hubspot() {
        assert_eq!(
            to_local(t("42"), LocalType::Integer, Some(PropertyType::Number)).unwrap(),
            LocalValue::Integer(42)
        );
        assert_eq!(
            to_local(t("123;456"), LocalType::Integer, Some(PropertyType::Number)).unwrap_err(),
            "'123;456' is not a number"
        );
        assert_eq!(
            to_local(t("1.5"), LocalType::Integer, None).unwrap_err(),
            "'1.5' is not a whole number"
        );
        assert_eq!(
            to_local(t("true"), LocalType::Boolean, None).unwrap(),
            LocalValue::Bool(true)
        );
        assert_eq!(
            to_local(t("2025-06-15T03:00:29.864Z"), LocalType::Date, None).unwrap(),
            t("2025-06-15")
        );
        assert_eq!(
            to_local(
                t("2025-06-15T03:00:29.864Z"),
                LocalType::Integer,
                Some(PropertyType::Datetime)
            )
            .unwrap(),
            LocalValue::Integer(1_749_956_429_864)
        );
        assert_eq!(
            to_local(
                t("api;sync"),
                LocalType::Json,
                Some(PropertyType::Enumeration)
            )
            .unwrap(),
            t(r#"["api","sync"]"#)
        );
        assert_eq!(
            to_local(t(""), LocalType::Integer, None).unwrap(),
            LocalValue::Null
        );

        assert_eq!(
            to_hubspot(&LocalValue::Integer(5), PropertyType::Number)
                .unwrap()
                .unwrap(),
            "5"
        );
        assert_eq!(
            to_hubspot(&LocalValue::Real(2.5), PropertyType::Number)
                .unwrap()
                .unwrap(),
            "2.5"
        );
        assert_eq!(
            to_hubspot(&LocalValue::Integer(1), PropertyType::Bool)
                .unwrap()
                .unwrap(),
            "true"
        );
        assert_eq!(
            to_hubspot(&t("2025-06-15 10:00:00"), PropertyType::Datetime)
                .unwrap()
                .unwrap(),
            "2025-06-15T10:00:00.000Z"
        );
        assert_eq!(
            to_hubspot(&t(r#"["api","sync"]"#), PropertyType::Enumeration)
                .unwrap()
                .unwrap(),
            "api;sync"
        );
        assert_eq!(
            to_hubspot(&LocalValue::Null, PropertyType::String).unwrap(),
            None
        );
        assert_eq!(
            to_hubspot(&t("abc"), PropertyType::Number).unwrap_err(),
            "'abc' is not a number"
        );
    }
}

/// Converts a value typed by a person (or any program) into a local column of type `to`, the
/// way values read from HubSpot are converted: `""` is null, `"yes"` a boolean, `"a;b"` a JSON
/// list for a multiple-checkbox property (`from`). The error says what the value is not.
pub fn to_local_value(
    value: LocalValue,
    to: LocalType,
    from: Option<PropertyType>,
) -> Result<LocalValue, String> {
    to_local(value, to, from)
}

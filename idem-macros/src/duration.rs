//! Durations (`"1h30m"`) parsed at compile time, and the lease/ttl check.

use proc_macro2::Span;

use crate::errors::Errors;

/// Must match `idem_core::DEFAULT_TTL` (the pass tests check that it does).
const DEFAULT_TTL_MS: u64 = 3_600_000;
/// Must match `idem_core::DEFAULT_LEASE`.
const DEFAULT_LEASE_MS: u64 = 300_000;

const DURATION_HELP: &str =
    "write numbers with units `ms`, `s`, `m`, `h`, `d`, e.g. \"30s\", \"15m\", \"48h\", \"7d\", \"1h30m\"";

/// Parses `1h30m`-style durations into milliseconds; zero is an error.
pub(crate) fn duration(text: &str, what: &str, span: Span, errors: &mut Errors) -> Option<u64> {
    match parse_ms(text) {
        Ok(0) => {
            errors.at(span, format!("`{what}` must be longer than zero"));
            None
        }
        Ok(ms) => Some(ms),
        Err(why) => {
            errors.at(
                span,
                format!("invalid duration \"{text}\" for `{what}`: {why}\n{DURATION_HELP}"),
            );
            None
        }
    }
}

fn parse_ms(text: &str) -> Result<u64, String> {
    if text.is_empty() {
        return Err("it is empty".into());
    }
    if text.contains(char::is_whitespace) {
        return Err("it contains spaces".into());
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at \"{rest}\""));
        }
        let n: u64 = rest[..digits]
            .parse()
            .map_err(|_| "the number is too large".to_owned())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let per_unit: u64 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => return Err(format!("`{n}` has no unit")),
            unit => return Err(format!("unknown unit `{unit}`")),
        };
        total = n
            .checked_mul(per_unit)
            .and_then(|ms| total.checked_add(ms))
            .ok_or_else(|| "it is too long".to_owned())?;
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// `90060000` → `"1d1h1m"`, for messages.
fn human(ms: u64) -> String {
    let mut out = String::new();
    let mut rest = ms;
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

/// A claim must lapse before the result it protects expires.
/// `ttl_ms` and `lease_ms` are the parsed values (`None`: not given, or not
/// parsed), the spans those of the arguments given.
pub(crate) fn check_lease(
    (ttl_ms, ttl_span): (Option<u64>, Option<Span>),
    (lease_ms, lease_span): (Option<u64>, Option<Span>),
    errors: &mut Errors,
) {
    let ttl = ttl_ms.unwrap_or(DEFAULT_TTL_MS);
    let lease = lease_ms.unwrap_or(DEFAULT_LEASE_MS);
    // Only values that parsed are compared; a bad one was reported already.
    let parsed = |given: Option<u64>, span: Option<Span>| given.is_some() || span.is_none();
    if lease < ttl || !parsed(ttl_ms, ttl_span) || !parsed(lease_ms, lease_span) {
        return;
    }
    let (lease_h, ttl_h) = (human(lease), human(ttl));
    match (lease_span, ttl_span) {
        (Some(span), Some(_)) => errors.at(
            span,
            format!("`lease` ({lease_h}) must be shorter than `ttl` ({ttl_h})"),
        ),
        (Some(span), None) => errors.at(
            span,
            format!("`lease` ({lease_h}) must be shorter than `ttl` (default {ttl_h}); set a longer `ttl`"),
        ),
        (None, Some(span)) => errors.at(
            span,
            format!("`ttl` ({ttl_h}) must be longer than `lease` (default {lease_h}); set a shorter `lease`, e.g. `lease = \"30s\"`"),
        ),
        (None, None) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_ms("30s"), Ok(30_000));
        assert_eq!(parse_ms("15m"), Ok(900_000));
        assert_eq!(parse_ms("48h"), Ok(172_800_000));
        assert_eq!(parse_ms("7d"), Ok(604_800_000));
        assert_eq!(parse_ms("1h30m"), Ok(5_400_000));
        assert_eq!(parse_ms("500ms"), Ok(500));
        assert!(parse_ms("").is_err());
        assert!(parse_ms("10").is_err());
        assert!(parse_ms("h").is_err());
        assert!(parse_ms("1 h").is_err());
        assert!(parse_ms("3w").is_err());
        assert!(parse_ms("99999999999999999999d").is_err());
        assert!(parse_ms("999999999999999d").is_err());
        assert_eq!(human(5_400_000), "1h30m");
        assert_eq!(human(90_061_001), "1d1h1m1s1ms");
    }
}

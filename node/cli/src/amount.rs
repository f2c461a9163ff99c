//! Amounts as people write and read them: `1000tokens` or `0.5tokens` (1 token = 10^18 of the
//! smallest unit), or a bare integer in the smallest unit; shown as `10,000 tokens`.

use anyhow::{anyhow, bail};
use tutti_primitives::Amount;

/// Smallest units per token.
pub const TOKEN: Amount = 1_000_000_000_000_000_000;

/// Reads `1000tokens`, `0.25tokens` or a bare integer (smallest units).
pub fn parse(s: &str) -> anyhow::Result<Amount> {
    let t = s.trim();
    let Some(num) = t.strip_suffix("tokens").or_else(|| t.strip_suffix("token")) else {
        return t.parse::<Amount>().map_err(|e| {
            anyhow!("amount `{s}`: {e}; write a whole number of the smallest unit, or tokens as `12.5tokens`")
        });
    };
    let num = num.trim();
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    if frac.len() > 18 {
        bail!("amount `{s}`: at most 18 decimals");
    }
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) {
        bail!("amount `{s}` is not a number of tokens like `12.5tokens`");
    }
    let whole: Amount = whole.parse().map_err(|e| anyhow!("amount `{s}`: {e}"))?;
    let frac: Amount = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<18}")
            .parse()
            .map_err(|e| anyhow!("amount `{s}`: {e}"))?
    };
    whole
        .checked_mul(TOKEN)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(|| anyhow!("amount `{s}` is too large"))
}

/// [`parse`] for clap arguments.
pub fn parse_arg(s: &str) -> Result<Amount, String> {
    parse(s).map_err(|e| e.to_string())
}

/// `12,500.25 tokens` (at most 6 decimals, rounded down; `< 0.000001 tokens` for dust).
pub fn format(a: Amount) -> String {
    let (whole, frac) = (a / TOKEN, a % TOKEN);
    let micro = frac / 1_000_000_000_000;
    if whole == 0 && micro == 0 && frac > 0 {
        return "< 0.000001 tokens".into();
    }
    let digits = whole.to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if micro > 0 {
        let f = format!("{micro:06}");
        grouped.push('.');
        grouped.push_str(f.trim_end_matches('0'));
    }
    format!("{grouped} tokens")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_amounts() {
        assert_eq!(parse("12").unwrap(), 12);
        assert_eq!(parse("1000tokens").unwrap(), 1_000 * TOKEN);
        assert_eq!(parse("0.5tokens").unwrap(), TOKEN / 2);
        assert_eq!(parse(" 1 token ").unwrap(), TOKEN);
        for bad in [
            "",
            "tokens",
            "1.2.3tokens",
            "-1tokens",
            "1e3",
            "0.0000000000000000001tokens",
            "abc",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("{}tokens", u128::MAX)).is_err());
        assert_eq!(format(12_500 * TOKEN + TOKEN / 4), "12,500.25 tokens");
        assert_eq!(format(1_000_000 * TOKEN), "1,000,000 tokens");
        assert_eq!(format(0), "0 tokens");
        assert_eq!(format(5), "< 0.000001 tokens");
        assert_eq!(format(999 * TOKEN), "999 tokens");
    }
}

//! Amounts of the native token as people write and read them. The token has 18 decimals
//! (`tutti_primitives::TOKEN_DECIMALS`) and a symbol from the genesis (`TUTTI` by default).
//!
//! - Written: a number of tokens, `1000`, `0.25`, `1,000.5`, optionally followed by `tokens` or
//!   the symbol (`12.5TUTTI`); or a whole number of the smallest unit (10^-18 token) followed by
//!   `atto` (`5000atto`).
//! - Shown: `12,500.25 TUTTI` (at most 6 decimals, rounded down; `< 0.000001 TUTTI` for dust).
//!   JSON output keeps exact integers of the smallest unit, as strings.

use anyhow::{anyhow, bail};
use tutti_primitives::{Amount, TOKEN};

/// The symbol when a node does not say.
pub const DEFAULT_SYMBOL: &str = "TUTTI";

/// Reads an amount (module doc).
pub fn parse(s: &str) -> anyhow::Result<Amount> {
    let t = s.trim();
    if let Some(raw) = t.strip_suffix("atto") {
        return raw.trim().replace(',', "").parse::<Amount>().map_err(|e| {
            anyhow!("amount `{s}`: {e}; `atto` takes a whole number of the smallest unit (10^-18 token)")
        });
    }
    let lower = t.to_ascii_lowercase();
    let num = ["tokens", "token", &DEFAULT_SYMBOL.to_ascii_lowercase()]
        .iter()
        .find_map(|suffix| lower.strip_suffix(*suffix))
        .or_else(|| {
            // Any other symbol: trailing letters.
            let cut = lower.trim_end_matches(|c: char| c.is_ascii_alphabetic());
            (cut.len() < lower.len()).then_some(cut)
        })
        .unwrap_or(&lower)
        .trim()
        .replace(',', "");
    let (whole, frac) = num.split_once('.').unwrap_or((&num, ""));
    if frac.len() > 18 {
        bail!("amount `{s}`: at most 18 decimals (for smaller amounts write the smallest unit: `5000atto`)");
    }
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) {
        bail!("amount `{s}` is not a number of tokens like `12.5` (or of the smallest unit like `5000atto`)");
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

/// `12,500.25 TUTTI` (module doc), with the chain's `symbol`.
pub fn format(a: Amount, symbol: &str) -> String {
    let (whole, frac) = (a / TOKEN, a % TOKEN);
    let micro = frac / 1_000_000_000_000;
    if whole == 0 && micro == 0 && frac > 0 {
        return format!("< 0.000001 {symbol}");
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
    format!("{grouped} {symbol}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_amounts() {
        assert_eq!(parse("12").unwrap(), 12 * TOKEN);
        assert_eq!(parse("1000tokens").unwrap(), 1_000 * TOKEN);
        assert_eq!(parse("1,000.5").unwrap(), 1_000 * TOKEN + TOKEN / 2);
        assert_eq!(parse("0.5tokens").unwrap(), TOKEN / 2);
        assert_eq!(parse(" 1 token ").unwrap(), TOKEN);
        assert_eq!(parse("2.5TUTTI").unwrap(), 5 * TOKEN / 2);
        assert_eq!(parse("2.5 ONE").unwrap(), 5 * TOKEN / 2, "another chain's symbol");
        assert_eq!(parse("5000atto").unwrap(), 5_000);
        assert_eq!(parse("0.000000000000000001").unwrap(), 1);
        for bad in [
            "",
            "tokens",
            "1.2.3tokens",
            "-1tokens",
            "1e3",
            "0.0000000000000000001",
            "abc",
            "1.5atto",
            "atto",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(parse(&format!("{}", u128::MAX)).is_err());
        assert!(parse(&format!("{}atto", u128::MAX)).is_ok());
        assert_eq!(format(12_500 * TOKEN + TOKEN / 4, "TUTTI"), "12,500.25 TUTTI");
        assert_eq!(format(1_000_000 * TOKEN, "TUTTI"), "1,000,000 TUTTI");
        assert_eq!(format(0, "TUTTI"), "0 TUTTI");
        assert_eq!(format(5, "TUTTI"), "< 0.000001 TUTTI");
        assert_eq!(format(999 * TOKEN, "ABC"), "999 ABC");
    }
}

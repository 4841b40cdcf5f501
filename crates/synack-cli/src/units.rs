//! Parsers for the values people type: probabilities (`1%`, `0.01`), durations
//! (`10ms`, `1s`, `250us`), rates (`100Mbit`, `1Gbit`) and sizes (`16MiB`,
//! `1000`). Each returns a message that says what was expected, for clap to show.

use std::time::Duration;

/// A probability in `[0, 1]`, written as a fraction (`0.01`) or a percentage (`1%`).
///
/// # Errors
/// Anything else, or a value outside `[0, 1]` (`[0%, 100%]`).
pub fn parse_probability(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, scale) = match t.strip_suffix('%') {
        Some(n) => (n.trim(), 100.0),
        None => (t, 1.0),
    };
    let v: f64 = num
        .parse()
        .map_err(|_| format!("expected a probability like 1% or 0.01, got {s:?}"))?;
    let p = v / scale;
    if !p.is_finite() || !(0.0..=1.0).contains(&p) {
        return Err(format!(
            "a probability must lie between 0 and 1 (0% and 100%), got {s:?}"
        ));
    }
    Ok(p)
}

/// A duration with a unit: `ns`, `us` (or `µs`), `ms`, `s`, `m`; decimals allowed
/// (`1.5s`). A bare `0` is zero.
///
/// # Errors
/// A missing or unknown unit, a negative or unreadable number, or more than a day.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let expected = || format!("expected a duration like 10ms, 1s or 250us, got {s:?}");
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(expected)?;
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| expected())?;
    let nanos_per = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        _ => return Err(expected()),
    };
    let nanos = v * nanos_per;
    if !(0.0..=86_400e9).contains(&nanos) {
        return Err(format!("duration out of range (at most a day): {s:?}"));
    }
    // In range: at most 8.64e13 ns, well inside u64.
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// A rate in bits per second: a number with an optional unit `bit`, `kbit`,
/// `Mbit`, `Gbit` (also `bps`, `kbps`, `Mbps`, `Gbps`; case-insensitive; decimal
/// prefixes as `tc` uses them).
///
/// # Errors
/// An unknown unit, an unreadable number, zero, or more than 10 Tbit/s.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let expected = || format!("expected a rate like 100Mbit, 1Gbit or 10kbit, got {s:?}");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| expected())?;
    let unit = unit.trim().to_ascii_lowercase();
    let unit = unit
        .strip_suffix("bit")
        .or_else(|| unit.strip_suffix("bps"))
        .or_else(|| unit.strip_suffix("bit/s"))
        .unwrap_or(&unit);
    let scale = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        _ => return Err(expected()),
    };
    let bps = v * scale;
    if !(1.0..=1e13).contains(&bps) {
        return Err(format!(
            "a rate must be between 1 bit/s and 10 Tbit/s, got {s:?}"
        ));
    }
    // In range: at most 1e13, well inside u64.
    Ok(bps.round() as u64)
}

/// A size in bytes: a whole number with an optional unit `B`, `KB`/`MB`/`GB`
/// (powers of 1000) or `KiB`/`MiB`/`GiB`/`TiB` (powers of 1024), case-insensitive.
///
/// # Errors
/// An unknown unit, an unreadable number, or more than 2^50 bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let expected = || format!("expected a size like 16MiB, 1GiB or 1000, got {s:?}");
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num.parse().map_err(|_| expected())?;
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(expected()),
    };
    let bytes = v * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > (1u64 << 50) as f64 {
        return Err(format!("size out of range (at most 1 PiB): {s:?}"));
    }
    if bytes.fract() != 0.0 {
        return Err(format!("a size must be a whole number of bytes, got {s:?}"));
    }
    // In range and whole: at most 2^50.
    Ok(bytes as u64)
}

/// Formats bytes with a binary unit (`16.0 MiB`).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Formats a rate in bits per second with a decimal unit (`94.3 Mbit/s`).
pub fn format_rate(bps: u64) -> String {
    let v = bps as f64;
    if v >= 1e9 {
        format!("{:.2} Gbit/s", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1} Mbit/s", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} kbit/s", v / 1e3)
    } else {
        format!("{bps} bit/s")
    }
}

/// Formats microseconds as milliseconds with three decimals (`10.000`).
pub fn format_ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// Formats a duration readably (`250 µs`, `10.0 ms`, `1.234 s`).
pub fn format_duration(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us} µs")
    } else if us < 1_000_000 {
        format!("{:.1} ms", us as f64 / 1e3)
    } else {
        format!("{:.3} s", us as f64 / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probabilities() {
        let ok = [
            ("1%", 0.01),
            ("0.01", 0.01),
            ("0", 0.0),
            ("100%", 1.0),
            ("1", 1.0),
            (" 5 % ", 0.05),
            ("2.5%", 0.025),
        ];
        for (s, p) in ok {
            let got = parse_probability(s).unwrap();
            assert!((got - p).abs() < 1e-12, "{s}: {got}");
        }
        for bad in ["", "x", "1.5", "101%", "-1%", "nan", "inf", "%"] {
            assert!(parse_probability(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn durations() {
        let ok = [
            ("10ms", Duration::from_millis(10)),
            ("1s", Duration::from_secs(1)),
            ("250us", Duration::from_micros(250)),
            ("250µs", Duration::from_micros(250)),
            ("1.5s", Duration::from_millis(1500)),
            ("0", Duration::ZERO),
            ("0ms", Duration::ZERO),
            ("2m", Duration::from_secs(120)),
            ("100ns", Duration::from_nanos(100)),
        ];
        for (s, d) in ok {
            assert_eq!(parse_duration(s), Ok(d), "{s}");
        }
        for bad in ["", "10", "ms", "10 parsecs", "-1s", "2d", "1e3s", "100000m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rates() {
        let ok = [
            ("100Mbit", 100_000_000),
            ("1Gbit", 1_000_000_000),
            ("10kbit", 10_000),
            ("1.5mbit", 1_500_000),
            ("64000", 64_000),
            ("10Mbps", 10_000_000),
            ("9600bit", 9600),
        ];
        for (s, r) in ok {
            assert_eq!(parse_rate(s), Ok(r), "{s}");
        }
        for bad in ["", "0", "0Mbit", "fast", "10Xbit", "-1Mbit", "100Pbit"] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sizes() {
        let ok = [
            ("16MiB", 16 << 20),
            ("1GiB", 1 << 30),
            ("1000", 1000),
            ("64KiB", 64 << 10),
            ("10KB", 10_000),
            ("0", 0),
            ("1.5KiB", 1536),
            ("2mib", 2 << 20),
        ];
        for (s, n) in ok {
            assert_eq!(parse_size(s), Ok(n), "{s}");
        }
        for bad in ["", "lots", "1.3", "5 parsecs", "-1", "2PiB", "10KiBs"] {
            assert!(parse_size(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn formatting() {
        assert_eq!(format_bytes(1000), "1000 B");
        assert_eq!(format_bytes(16 << 20), "16.0 MiB");
        assert_eq!(format_rate(94_300_000), "94.3 Mbit/s");
        assert_eq!(format_rate(2_500_000_000), "2.50 Gbit/s");
        assert_eq!(format_ms(10_000), "10.000");
        assert_eq!(format_ms(1_234_567), "1234.567");
        assert_eq!(format_duration(Duration::from_micros(250)), "250 µs");
        assert_eq!(format_duration(Duration::from_millis(20)), "20.0 ms");
    }
}

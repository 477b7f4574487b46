//! Numbers for people: binary byte units, SI rates, and durations in the
//! unit that keeps them short (µs, ms, s).

/// `512 B`, `1.5 KiB`, `20.0 MiB`, `3.2 GiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// Bytes per second: `bytes(rate) + "/s"`, from a fractional rate.
pub fn byte_rate(per_second: f64) -> String {
    format!("{}/s", bytes(per_second.max(0.0).round() as u64))
}

/// `999`, `1.2k`, `3.4M`, `5.6G`: counts and count rates.
pub fn count(n: f64) -> String {
    let n = n.max(0.0);
    if n < 1000.0 {
        // Whole counts print without decimals; rates below 1 keep one.
        return if n.fract() == 0.0 || n >= 10.0 {
            format!("{n:.0}")
        } else {
            format!("{n:.1}")
        };
    }
    let (value, suffix) = if n < 1e6 {
        (n / 1e3, "k")
    } else if n < 1e9 {
        (n / 1e6, "M")
    } else {
        (n / 1e9, "G")
    };
    format!("{value:.1}{suffix}")
}

/// A duration given in microseconds: `850µs`, `12.3ms`, `1.50s`.
pub fn micros(us: u64) -> String {
    if us < 1000 {
        format!("{us}µs")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.2}s", us as f64 / 1e6)
    }
}

/// A duration in seconds for ages and uptimes: `45s`, `12m5s`, `3h4m`, `2d3h`.
pub fn age(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s}s"),
        (0, _, _) => format!("{h}h{m}m"),
        _ => format!("{d}d{h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_use_binary_units_with_one_decimal() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024 + 256 * 1024 * 1024), "3.2 GiB");
        assert_eq!(byte_rate(2048.4), "2.0 KiB/s");
    }

    #[test]
    fn counts_shorten_with_si_suffixes() {
        assert_eq!(count(999.0), "999");
        assert_eq!(count(0.5), "0.5");
        assert_eq!(count(1500.0), "1.5k");
        assert_eq!(count(2_500_000.0), "2.5M");
    }

    #[test]
    fn durations_pick_the_unit_that_keeps_them_short() {
        assert_eq!(micros(850), "850µs");
        assert_eq!(micros(12_345), "12.3ms");
        assert_eq!(micros(1_500_000), "1.50s");
        assert_eq!(age(45), "45s");
        assert_eq!(age(725), "12m5s");
        assert_eq!(age(3 * 3600 + 4 * 60 + 5), "3h4m");
        assert_eq!(age(2 * 86_400 + 3 * 3600), "2d3h");
    }
}

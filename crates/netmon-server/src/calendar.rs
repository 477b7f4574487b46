//! UTC calendar arithmetic for ClickHouse's `Date` (days since 1970-01-01)
//! and its monthly partitions, so the server knows a row's partition
//! without asking ClickHouse.

/// The day of `unix_seconds`. Callers pass at most `u32::MAX` seconds
/// (2106), which is day 49 710 and fits in a `u16`.
pub fn day_number(unix_seconds: u64) -> u16 {
    u16::try_from(unix_seconds / 86_400).unwrap_or(u16::MAX)
}

/// `(year, month, day)` of day number `day` (Howard Hinnant's
/// `civil_from_days`, for days on or after the epoch).
pub fn civil(day: u16) -> (u32, u32, u32) {
    let z = u32::from(day) + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day_of_month = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + u32::from(month <= 2);
    (year, month, day_of_month)
}

/// ClickHouse's `toYYYYMM(date)`.
pub fn year_month(day: u16) -> u32 {
    let (year, month, _) = civil(day);
    year * 100 + month
}

/// `YYYY-MM-DD`, as a ClickHouse `Date` literal.
pub fn date_text(day: u16) -> String {
    let (year, month, day_of_month) = civil(day);
    format!("{year:04}-{month:02}-{day_of_month:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_map_to_the_calendar_dates_clickhouse_shows() {
        let cases = [
            (0, "1970-01-01", 197_001),
            (59, "1970-03-01", 197_003),
            (11_016, "2000-02-29", 200_002),
            (20_453, "2025-12-31", 202_512),
            (20_790, "2026-12-03", 202_612),
            (49_710, "2106-02-07", 210_602),
        ];
        for (day, text, month) in cases {
            assert_eq!(date_text(day), text, "day {day}");
            assert_eq!(year_month(day), month, "day {day}");
        }
    }

    #[test]
    fn a_day_starts_at_midnight_utc() {
        assert_eq!(day_number(1_796_256_000 - 1), 20_789);
        assert_eq!(day_number(1_796_256_000), 20_790);
        assert_eq!(day_number(u64::from(u32::MAX)), 49_710);
    }
}

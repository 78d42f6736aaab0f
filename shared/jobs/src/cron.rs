//! Cron expressions: the classic five fields (`minute hour day-of-month month day-of-week`,
//! UTC), parsed once and asked for the next fire time. Pure: no clock of its own.
//!
//! Each field takes `*`, a number, a range `a-b`, a step `*/n` or `a-b/n`, and comma lists
//! of those; day-of-week counts Sunday as 0 (7 is accepted too). As in Vixie cron, when both
//! day fields are restricted a day matches if either does. Also `@hourly`, `@daily`,
//! `@weekly`, `@monthly` and `@yearly`.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    expression: String,
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    days_restricted: bool,
    weekdays_restricted: bool,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    expression: String,
    reason: String,
}

fn field(text: &str, min: u32, max: u32) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| format!("bad step in {part:?}"))?;
                if step == 0 {
                    return Err(format!("zero step in {part:?}"));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = if range == "*" {
            (min, max)
        } else if let Some((low, high)) = range.split_once('-') {
            let low = low.parse().map_err(|_| format!("bad number in {part:?}"))?;
            let high = high
                .parse()
                .map_err(|_| format!("bad number in {part:?}"))?;
            (low, high)
        } else {
            let value: u32 = range
                .parse()
                .map_err(|_| format!("bad number in {part:?}"))?;
            // `5/15` means from 5 to the end in steps of 15.
            (value, if part.contains('/') { max } else { value })
        };
        if low < min || high > max || low > high {
            return Err(format!("{part:?} is outside {min}-{max}"));
        }
        let mut value = low;
        while value <= high {
            bits |= 1 << value;
            value += step;
        }
    }
    Ok(bits)
}

impl Schedule {
    /// Parses a five-field expression or a `@` shorthand.
    pub fn parse(expression: &str) -> Result<Self, CronError> {
        let expanded = match expression.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other => other,
        };
        let error = |reason: String| CronError {
            expression: expression.to_owned(),
            reason,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let [minute, hour, day, month, weekday] = fields[..] else {
            return Err(error(format!("expected 5 fields, got {}", fields.len())));
        };
        let mut weekdays = field(weekday, 0, 7).map_err(error)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Self {
            expression: expression.to_owned(),
            minutes: field(minute, 0, 59).map_err(error)?,
            hours: field(hour, 0, 23).map_err(error)?,
            days: field(day, 1, 31).map_err(error)?,
            months: field(month, 1, 12).map_err(error)?,
            weekdays,
            days_restricted: day != "*",
            weekdays_restricted: weekday != "*",
        })
    }

    /// The expression as written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    fn day_matches(&self, at: &DateTime<Utc>) -> bool {
        let day = self.days & (1 << at.day()) != 0;
        let weekday = self.weekdays & (1 << at.weekday().num_days_from_sunday()) != 0;
        match (self.days_restricted, self.weekdays_restricted) {
            (true, true) => day || weekday,
            (true, false) => day,
            (false, true) => weekday,
            (false, false) => true,
        }
    }

    /// The first fire time strictly after `after`, or `None` if there is none within five
    /// years (`0 0 31 2 *` never fires).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let start = after.with_second(0)?.with_nanosecond(0)? + Duration::minutes(1);
        let limit = start + Duration::days(5 * 366);
        let mut at = start;
        while at < limit {
            if self.months & (1 << at.month()) == 0 {
                // First minute of the next month.
                let (year, month) = if at.month() == 12 {
                    (at.year() + 1, 1)
                } else {
                    (at.year(), at.month() + 1)
                };
                at = Utc.with_ymd_and_hms(year, month, 1, 0, 0, 0).single()?;
                continue;
            }
            if !self.day_matches(&at) {
                at = at.date_naive().succ_opt()?.and_hms_opt(0, 0, 0)?.and_utc();
                continue;
            }
            if self.hours & (1 << at.hour()) == 0 {
                at = at.with_minute(0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << at.minute()) == 0 {
                at += Duration::minutes(1);
                continue;
            }
            return Some(at);
        }
        None
    }

    /// Every fire time in `(from, to]`, oldest first.
    pub fn fires_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut fires = Vec::new();
        let mut cursor = from;
        while let Some(next) = self.next_after(cursor) {
            if next > to {
                break;
            }
            fires.push(next);
            cursor = next;
        }
        fires
    }
}

impl std::str::FromStr for Schedule {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn next(expression: &str, after: &str) -> String {
        Schedule::parse(expression)
            .unwrap()
            .next_after(at(after))
            .unwrap()
            .to_rfc3339()
    }

    #[test]
    fn every_minute_fires_on_the_next_whole_minute() {
        assert_eq!(
            next("* * * * *", "2026-11-28T10:00:00Z"),
            "2026-11-28T10:01:00+00:00"
        );
        assert_eq!(
            next("* * * * *", "2026-11-28T10:00:59Z"),
            "2026-11-28T10:01:00+00:00"
        );
    }

    #[test]
    fn steps_ranges_and_lists() {
        assert_eq!(
            next("*/15 * * * *", "2026-11-28T10:16:00Z"),
            "2026-11-28T10:30:00+00:00"
        );
        assert_eq!(
            next("5/15 * * * *", "2026-11-28T10:06:00Z"),
            "2026-11-28T10:20:00+00:00"
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2026-11-28T10:00:00Z"),
            "2026-11-28T13:00:00+00:00"
        );
        assert_eq!(
            next("0 0,12 * * *", "2026-11-28T12:00:00Z"),
            "2026-11-29T00:00:00+00:00"
        );
    }

    #[test]
    fn months_days_and_weekdays() {
        // 2026-11-28 is a Saturday.
        assert_eq!(
            next("0 0 * * 1", "2026-11-28T10:00:00Z"),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-11-28T10:00:00Z"),
            "2026-11-29T00:00:00+00:00"
        );
        assert_eq!(
            next("@monthly", "2026-11-28T10:00:00Z"),
            "2026-12-01T00:00:00+00:00"
        );
        assert_eq!(
            next("@yearly", "2026-11-28T10:00:00Z"),
            "2027-01-01T00:00:00+00:00"
        );
        // Both day fields restricted: either matches (the 1st, or a Monday).
        assert_eq!(
            next("0 0 1 * 1", "2026-11-28T10:00:00Z"),
            "2026-11-30T00:00:00+00:00"
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn impossible_dates_never_fire() {
        let never = Schedule::parse("0 0 31 2 *").unwrap();
        assert_eq!(never.next_after(at("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn fires_between_lists_each_fire_once() {
        let every = Schedule::parse("* * * * *").unwrap();
        let fires = every.fires_between(at("2026-11-28T10:00:00Z"), at("2026-11-28T10:03:00Z"));
        assert_eq!(fires.len(), 3);
        assert_eq!(fires[0], at("2026-11-28T10:01:00Z"));
        assert_eq!(fires[2], at("2026-11-28T10:03:00Z"));
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "a * * * *",
            "5-1 * * * *",
            "* * 0 * *",
        ] {
            assert!(Schedule::parse(bad).is_err(), "{bad:?}");
        }
    }
}

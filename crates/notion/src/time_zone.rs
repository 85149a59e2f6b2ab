//! The time zones a date's `time_zone` may name: the tz database's names (zones and their
//! links, such as `Europe/Paris`, `America/Argentina/Buenos_Aires`, `UTC`), compiled in from
//! `time-zones.txt` (made by `scripts/time-zones.sh` from a tzdata release, named on its first
//! line), so that a zone Notion would refuse is refused offline, the same on every machine.

use std::sync::LazyLock;

/// The names, sorted (byte order), for a binary search.
static NAMES: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    include_str!("time-zones.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
});

/// `Ok` for a name of the tz database (exactly, case included); else why not, with the
/// closest name.
pub fn check(name: &str) -> Result<(), String> {
    if NAMES.binary_search(&name).is_ok() {
        return Ok(());
    }
    let hint = crate::spelling::closest(name, NAMES.iter().copied())
        .map(|n| format!(" (did you mean {}?)", crate::spelling::mention(name, n)))
        .unwrap_or_default();
    Err(format!(
        "{name:?} is not a time zone of the tz database{hint}: write an IANA name such as \
         Europe/Paris, America/New_York or UTC"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_names_are_sorted_and_known_ones_pass() {
        assert!(NAMES.windows(2).all(|w| w[0] < w[1]), "sorted, once each");
        assert!(NAMES.len() > 500, "{}", NAMES.len());
        for zone in [
            "Europe/Paris",
            "America/Argentina/Buenos_Aires",
            "Asia/Kolkata",
            "Asia/Calcutta",
            "UTC",
            "Etc/GMT+5",
            "Europe/Kyiv",
        ] {
            assert_eq!(check(zone), Ok(()), "{zone}");
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_closest() {
        let e = check("Mars/Phobos").unwrap_err();
        assert!(e.starts_with("\"Mars/Phobos\" is not a time zone"), "{e}");
        let e = check("europe/paris").unwrap_err();
        assert!(e.contains("did you mean \"Europe/Paris\""), "{e}");
        assert!(check("Factory").is_err());
        assert!(check("").is_err());
        assert!(check("# tzdata 2025b").is_err());
    }
}

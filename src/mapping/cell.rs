//! One cell's text (or one flat-JSONL value) to a typed [`PropertyValue`], with every check
//! of SPEC §3 and notion-api.md §1.4. Errors are the reason alone; the caller names the row and
//! the column.

use crate::mapping::file::{self, FileRules};
use crate::mapping::text::{split_text, utf16_len, MAX_ARRAY_ITEMS, MAX_TEXT_UNITS};
use crate::mapping::value::{DateValue, FileItem, PropertyValue, Verification};
use crate::notion::{NotionId, PropertyType};

/// The most UTF-16 units in a URL (url property, file URL).
pub const MAX_URL_UNITS: usize = 2000;
/// The most UTF-16 units in an email or phone number (Notion's OpenAPI `stringRequest`).
pub const MAX_SHORT_UNITS: usize = 100;
/// The most UTF-16 units in a select, status or multi-select option name, or a file name.
pub const MAX_NAME_UNITS: usize = 100;

/// How to read the cells of one column.
#[derive(Debug, Clone, Copy)]
pub struct CellRules<'a> {
    /// Separator between the values of a multi-valued cell.
    pub separator: char,
    /// IANA time zone for date-times written without an offset.
    pub time_zone: Option<&'a str>,
    /// The workspace's users by lowercase email, when a schema brought them.
    pub users: Option<&'a Users>,
    /// How number cells write decimals and thousands.
    pub numbers: NumberFormat,
    /// Where a files cell's local paths are and how large a file may be.
    pub files: Option<&'a FileRules>,
}

/// How number cells are written (`--decimal-comma`, `--thousands-separator`). The default is
/// the JSON way: a dot for decimals and no grouping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NumberFormat {
    /// A comma marks decimals (`12,50`), as spreadsheets write in much of Europe.
    pub decimal_comma: bool,
    /// The character that groups thousands (`.` in `1.234,5`, a space in `1 234,5`); dropped
    /// where it groups the whole part's digits by three, refused anywhere else. A space also
    /// stands for the no-break spaces spreadsheets write there (U+00A0, U+202F).
    pub thousands: Option<char>,
}

impl NumberFormat {
    fn is_thousands(self, c: char) -> bool {
        match self.thousands {
            Some(' ') => matches!(c, ' ' | '\u{A0}' | '\u{202F}'),
            Some(t) => c == t,
            None => false,
        }
    }
}

/// User ids by lowercase email.
pub type Users = std::collections::HashMap<String, NotionId>;

/// Converts a non-empty cell.
pub fn parse_cell(ty: PropertyType, cell: &str, rules: CellRules) -> Result<PropertyValue, String> {
    if ty.is_multi_valued() {
        return parse_items(ty, cell.split(rules.separator), rules.users, rules.files);
    }
    let trimmed = cell.trim();
    Ok(match ty {
        PropertyType::Title => PropertyValue::Title(text_pieces(cell)?),
        PropertyType::RichText => PropertyValue::RichText(text_pieces(cell)?),
        PropertyType::Number => {
            PropertyValue::Number(Some(parse_number_as(trimmed, rules.numbers)?))
        }
        PropertyType::Select => PropertyValue::Select(Some(option_name(trimmed)?)),
        PropertyType::Status => PropertyValue::Status(Some(option_name(trimmed)?)),
        PropertyType::Date => PropertyValue::Date(Some(parse_date(trimmed, rules.time_zone)?)),
        PropertyType::Verification => {
            PropertyValue::Verification(parse_verification(trimmed, rules.time_zone)?)
        }
        PropertyType::Checkbox => PropertyValue::Checkbox(parse_bool(trimmed)?),
        PropertyType::Url => PropertyValue::Url(Some(bounded(trimmed, MAX_URL_UNITS, "URL")?)),
        PropertyType::Email => {
            PropertyValue::Email(Some(bounded(trimmed, MAX_SHORT_UNITS, "email")?))
        }
        PropertyType::PhoneNumber => {
            PropertyValue::PhoneNumber(Some(bounded(trimmed, MAX_SHORT_UNITS, "phone number")?))
        }
        read_only => return Err(read_only_reason(read_only)),
    })
}

/// Converts the values of a multi-valued property, given one by one (split from a cell, or a
/// JSON array). Blank values are passed over.
pub fn parse_items<'a>(
    ty: PropertyType,
    items: impl Iterator<Item = &'a str>,
    users: Option<&Users>,
    files: Option<&FileRules>,
) -> Result<PropertyValue, String> {
    let items: Vec<&str> = items.map(str::trim).filter(|s| !s.is_empty()).collect();
    if items.len() > MAX_ARRAY_ITEMS {
        return Err(format!(
            "{} values; Notion takes at most {MAX_ARRAY_ITEMS} in one {ty} property",
            items.len()
        ));
    }
    Ok(match ty {
        PropertyType::MultiSelect => PropertyValue::MultiSelect(
            items
                .into_iter()
                .map(option_name)
                .collect::<Result<_, _>>()?,
        ),
        PropertyType::People => PropertyValue::People(
            items
                .into_iter()
                .map(|s| user_id(s, users))
                .collect::<Result<_, _>>()?,
        ),
        PropertyType::Relation => PropertyValue::Relation(
            items
                .into_iter()
                .map(|s| {
                    // Notion's CSV export writes `Title (https://www.notion.so/…)`.
                    NotionId::parse(s)
                        .or_else(|e| crate::mapping::related::export_form_id(s).ok_or(e))
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()?,
        ),
        PropertyType::Files => PropertyValue::Files(
            items
                .into_iter()
                .map(|item| file_item(item, files))
                .collect::<Result<_, _>>()?,
        ),
        other => return Err(format!("a {other} property takes one value, not a list")),
    })
}

/// Why a read-only type cannot be written.
pub fn read_only_reason(ty: PropertyType) -> String {
    format!(
        "{ty} properties are read-only: Notion computes them and a page update cannot set them; \
         drop the column (or leave its cells empty)"
    )
}

fn text_pieces(text: &str) -> Result<Vec<String>, String> {
    let pieces = split_text(text);
    if pieces.len() > MAX_ARRAY_ITEMS {
        return Err(format!(
            "text of {} UTF-16 units is too long: Notion takes at most {MAX_ARRAY_ITEMS} pieces of \
             {MAX_TEXT_UNITS} ({} units)",
            utf16_len(text),
            MAX_ARRAY_ITEMS * MAX_TEXT_UNITS
        ));
    }
    Ok(pieces.into_iter().map(str::to_owned).collect())
}

fn bounded(text: &str, max: usize, what: &str) -> Result<String, String> {
    let units = utf16_len(text);
    if units > max {
        return Err(format!(
            "{what} is {units} characters long; Notion takes at most {max}"
        ));
    }
    Ok(text.to_owned())
}

/// A select, status or multi-select option name: 1 to 100 characters, no comma.
fn option_name(name: &str) -> Result<String, String> {
    option_name_problem(name).map_or(Ok(name.to_owned()), |reason| {
        Err(if name.contains(',') {
            format!("{reason} (if it is a list, separate the values with the separator)")
        } else {
            reason
        })
    })
}

/// Why Notion refuses an option name (a comma, more than 100 characters), if it does: the one
/// rule for CSV cells, flat JSONL values and native lines.
pub fn option_name_problem(name: &str) -> Option<String> {
    if name.contains(',') {
        return Some(format!(
            "option {name:?} contains a comma, which Notion does not allow in option names"
        ));
    }
    let units = utf16_len(name);
    (units > MAX_NAME_UNITS).then(|| {
        format!("option name is {units} characters long; Notion takes at most {MAX_NAME_UNITS}")
    })
}

/// A user id, or an email resolved through the workspace's users.
fn user_id(text: &str, users: Option<&Users>) -> Result<NotionId, String> {
    if text.contains('@') {
        let Some(users) = users else {
            return Err(format!(
                "{text:?} looks like an email; without a schema people cells take Notion user ids \
                 (emails are resolved with --schema-from, or a --schema-file saved with its users)"
            ));
        };
        return users.get(&text.to_lowercase()).copied().ok_or_else(|| {
            let hint = crate::spelling::closest(text, users.keys().map(String::as_str))
                .map(|e| format!(" (did you mean {}?)", crate::spelling::mention(text, e)))
                .unwrap_or_default();
            format!(
                "no user of the workspace has the email {text:?}{hint}: check the address, or write \
                 the user's id"
            )
        });
    }
    NotionId::parse(text).map_err(|_| format!("{text:?} is not a Notion user id (32 hex digits)"))
}

/// A number written in `format`: its decimal mark and thousands grouping are turned into the
/// plain form [`parse_number`] reads. Under `--decimal-comma` a dot is refused unless it is the
/// stated thousands separator: `1.234,5` and `1.5` would otherwise be read by guesswork.
pub fn parse_number_as(text: &str, format: NumberFormat) -> Result<serde_json::Number, String> {
    if format == NumberFormat::default() {
        return parse_number(text);
    }
    let (decimal, other) = if format.decimal_comma {
        (',', '.')
    } else {
        ('.', ',')
    };
    let (sign, body) = match text.strip_prefix(['+', '-']) {
        Some(rest) => (&text[..1], rest),
        None => ("", text),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once(decimal).unwrap_or((mantissa, ""));
    let grouping = |part: &str| part.chars().any(|c| format.is_thousands(c));
    if grouping(fraction) || exponent.is_some_and(grouping) {
        return Err(format!(
            "{text:?} is not a number: a thousands separator may only group the digits before \
             the decimal {}",
            if format.decimal_comma {
                "comma"
            } else {
                "point"
            }
        ));
    }
    let whole = if grouping(whole) {
        let groups: Vec<&str> = whole.split(|c| format.is_thousands(c)).collect();
        let digits = |g: &str, n: std::ops::RangeInclusive<usize>| {
            n.contains(&g.len()) && g.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(groups[0], 1..=3) || !groups[1..].iter().all(|g| digits(g, 3..=3)) {
            return Err(format!(
                "{text:?} is not a number: thousands separators must group the digits by three \
                 (e.g. 1{t}234{t}567{decimal}5)",
                t = format.thousands.unwrap_or(' ')
            ));
        }
        groups.concat()
    } else {
        whole.to_string()
    };
    if format.thousands != Some(other) && (whole.contains(other) || fraction.contains(other)) {
        return Err(if format.decimal_comma {
            format!(
                "{text:?} is ambiguous: under --decimal-comma a comma marks decimals, and a dot \
                 could group thousands (1.234,5) or mark decimals (1.5); if the file groups \
                 thousands with dots, pass --thousands-separator ."
            )
        } else {
            format!(
                "{text:?} is ambiguous: a dot marks decimals, and a comma could group thousands \
                 (1,234.5) or mark decimals (12,5): pass --thousands-separator , or --decimal-comma"
            )
        });
    }
    let mut plain = format!("{sign}{whole}");
    if mantissa.contains(decimal) {
        plain.push('.');
        plain.push_str(fraction);
    }
    if let Some(e) = exponent {
        plain.push('e');
        plain.push_str(e);
    }
    parse_plain_number(&plain).map_err(|problem| match problem {
        NumberProblem::TooLarge => too_large(text),
        NumberProblem::NotANumber => format!(
            "{text:?} is not a number: write digits with {} for decimals{} (e.g. -1234{}5)",
            if format.decimal_comma {
                "a comma"
            } else {
                "a dot"
            },
            match format.thousands {
                Some(t) => format!(" and {t:?} between groups of three digits"),
                None => String::new(),
            },
            decimal
        ),
    })
}

/// A decimal number, with optional sign, fraction and exponent; never NaN or infinite.
pub fn parse_number(text: &str) -> Result<serde_json::Number, String> {
    parse_plain_number(text).map_err(|problem| match problem {
        NumberProblem::TooLarge => too_large(text),
        NumberProblem::NotANumber => {
            let hint = if text.contains(',') {
                " (if the file writes decimals with a comma, pass --decimal-comma)"
            } else {
                ""
            };
            format!(
                "{text:?} is not a number: write digits with a dot for decimals and no thousands \
                 separators (e.g. -1234.5 or 1.5e3){hint}"
            )
        }
    })
}

/// Why the text of a number is refused.
enum NumberProblem {
    NotANumber,
    /// Past the largest 64-bit float.
    TooLarge,
}

fn too_large(text: &str) -> String {
    format!(
        "{text:?} is too large: Notion keeps numbers as 64-bit floating point, at most about \
         \u{b1}1.8e308; check the cell"
    )
}

/// [`parse_number`]'s work, on text in the plain form.
fn parse_plain_number(text: &str) -> Result<serde_json::Number, NumberProblem> {
    let body = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok =
        digits(int_part) && digits(frac_part) && !(int_part.is_empty() && frac_part.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    if !mantissa_ok || !exponent_ok {
        return Err(NumberProblem::NotANumber);
    }
    if !mantissa.contains('.') && exponent.is_none() {
        if let Ok(i) = text.strip_prefix('+').unwrap_or(text).parse::<i64>() {
            return Ok(i.into());
        }
    }
    let value: f64 = text.parse().map_err(|_| NumberProblem::NotANumber)?;
    serde_json::Number::from_f64(value)
        .map(without_negative_zero)
        .ok_or(NumberProblem::TooLarge)
}

/// `n`, with -0 (written so, or a number too small for a 64-bit float that rounds to it) as 0:
/// Notion has no use for a negative zero, and JSON's `-0.0` is odd.
pub fn without_negative_zero(n: serde_json::Number) -> serde_json::Number {
    match n.as_f64() {
        Some(v) if v == 0.0 && n.is_f64() => serde_json::Number::from_f64(0.0).unwrap_or(n),
        _ => n,
    }
}

/// true/false, yes/no, 1/0, x (checked), case-insensitive.
pub fn parse_bool(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "x" => Ok(true),
        "false" | "no" | "0" => Ok(false),
        _ => Err(format!(
            "{text:?} is not a checkbox value: use true/false, yes/no, 1/0, or x for checked"
        )),
    }
}

/// An ISO 8601 date or date-time, or a range `start/end`, optionally followed by an IANA time
/// zone in brackets (`2024-05-01T09:00[Europe/Paris]`, RFC 9557's suffix), which stands for
/// the column's time zone in this one cell (it is what `export` writes for a zoned date-time).
/// A date-time carries a UTC offset or a time zone, never both.
pub fn parse_date(text: &str, time_zone: Option<&str>) -> Result<DateValue, String> {
    let cell = text;
    let (text, zone) = match text.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((rest, zone)) if !zone.trim().is_empty() => {
            let zone = zone.trim();
            crate::notion::time_zone::check(zone).map_err(|e| format!("{cell:?}: {e}"))?;
            (rest.trim_end(), Some(Zone::Cell(zone)))
        }
        _ => (text, time_zone.map(Zone::Column)),
    };
    let (start_text, end_text) = match text.split_once('/') {
        Some((s, e)) => (s.trim(), Some(e.trim())),
        None => (text, None),
    };
    let start = DatePart::parse(start_text)?;
    let end = end_text.map(DatePart::parse).transpose()?;
    for part in std::iter::once(&start).chain(&end) {
        part.check_zone(cell, zone, (&start, end.as_ref()))?;
    }
    if let Some(end) = &end {
        if end.sort_key() < start.sort_key() && start.comparable(end) {
            return Err(format!("date range {text:?} ends before it starts"));
        }
    }
    let needs_zone = !start.has_offset && start.has_time
        || end.as_ref().is_some_and(|e| !e.has_offset && e.has_time);
    Ok(DateValue {
        start: start.text,
        end: end.map(|e| e.text),
        // A cell's own zone is kept even on a date without a time: Notion holds one so (an
        // export writes it), and dropping it would change the page. The column's zone is only
        // what a time without an offset needs.
        time_zone: match zone {
            Some(Zone::Cell(z)) => Some(z.to_owned()),
            Some(Zone::Column(z)) if needs_zone => Some(z.to_owned()),
            _ => None,
        },
    })
}

/// A verification cell: `verified`, `verified DATE` (a date, date-time or range `start/end`
/// as date cells take them: until when the page counts as verified) or `unverified`, in any
/// case. A date goes with `verified` only, as Notion takes it.
pub fn parse_verification(text: &str, time_zone: Option<&str>) -> Result<Verification, String> {
    let (word, rest) = text
        .split_once(char::is_whitespace)
        .map_or((text, ""), |(w, r)| (w, r.trim()));
    match (word.to_ascii_lowercase().as_str(), rest) {
        ("verified", "") => Ok(Verification::Verified(None)),
        ("verified", date) => Ok(Verification::Verified(Some(parse_date(date, time_zone)?))),
        ("unverified", "") => Ok(Verification::Unverified),
        ("unverified", _) => Err(format!(
            "{text:?}: an unverified page has no date; write `unverified` alone, or `verified {rest}`"
        )),
        _ => Err(format!(
            "{text:?} is not a verification: write `verified`, `verified DATE` (e.g. `verified 2026-12-01` or a range `verified 2026-12-01/2027-06-01`) or `unverified`"
        )),
    }
}

/// Where a date's time zone comes from.
#[derive(Debug, Clone, Copy)]
enum Zone<'a> {
    /// The cell's own `[zone]` suffix.
    Cell(&'a str),
    /// The column's: `--time-zone`, or the job file's `time_zone`.
    Column(&'a str),
}

struct DatePart {
    text: String,
    has_time: bool,
    has_offset: bool,
    /// The length of `text` without its UTC offset.
    local_len: usize,
    /// Seconds since the epoch (local for dates and zone-less times, UTC with an offset).
    instant: i64,
}

impl DatePart {
    fn parse(text: &str) -> Result<DatePart, String> {
        use chrono::{NaiveDate, NaiveTime};
        let invalid = |why: &str| {
            format!(
                "{text:?} is not a valid date{why}: expected YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] with \
                 Z or an offset like +02:00, or a range start/end"
            )
        };
        let (date_text, time_text) = match text.find(['T', 't', ' ']) {
            Some(i) => (&text[..i], Some(&text[i + 1..])),
            None => (text, None),
        };
        if date_text.len() != 10
            || date_text.as_bytes()[4] != b'-'
            || date_text.as_bytes()[7] != b'-'
        {
            return Err(invalid(""));
        }
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d")
            .map_err(|_| invalid(" (no such day)"))?;
        let Some(time_text) = time_text else {
            let instant = date.and_time(NaiveTime::MIN).and_utc().timestamp();
            return Ok(DatePart {
                text: date_text.to_owned(),
                has_time: false,
                has_offset: false,
                local_len: date_text.len(),
                instant,
            });
        };
        let (clock, offset_seconds) = split_offset(time_text).ok_or_else(|| invalid(""))?;
        let time = parse_clock(clock).ok_or_else(|| invalid(" (bad time of day)"))?;
        let instant = date.and_time(time).and_utc().timestamp() - offset_seconds.unwrap_or(0);
        Ok(DatePart {
            text: format!("{date_text}T{time_text}"),
            has_time: true,
            has_offset: offset_seconds.is_some(),
            local_len: date_text.len() + 1 + clock.len(),
            instant,
        })
    }

    /// A date-time has a UTC offset or a time zone, one of the two. `range`: the cell's parts,
    /// for the forms a cell with both could take instead.
    fn check_zone(
        &self,
        cell: &str,
        zone: Option<Zone>,
        range: (&DatePart, Option<&DatePart>),
    ) -> Result<(), String> {
        if !self.has_time {
            return Ok(());
        }
        let text = &self.text;
        match (self.has_offset, zone) {
            (true, Some(Zone::Cell(zone))) => {
                let joined = |local: bool| {
                    let form = |p: &DatePart| {
                        if local {
                            p.text[..p.local_len].to_owned()
                        } else {
                            p.text.clone()
                        }
                    };
                    match range {
                        (start, Some(end)) => format!("{}/{}", form(start), form(end)),
                        (start, None) => form(start),
                    }
                };
                Err(format!(
                    "{cell:?} gives both a UTC offset ({}) and a time zone ([{zone}]): give one \
                     or the other: {} or {}[{zone}]",
                    &text[self.local_len..],
                    joined(false),
                    joined(true)
                ))
            }
            (true, Some(Zone::Column(zone))) => Err(format!(
                "{text:?} carries a UTC offset, but this column also has the time zone {zone:?} \
                 (from --time-zone or the job file's time_zone): give one or the other"
            )),
            (false, None) => Err(format!(
                "{text:?} has a time but no UTC offset: add one (Z, +02:00) or a time zone \
                 ({text}[Europe/Paris]), or set --time-zone or the job file's time_zone for \
                 this column"
            )),
            _ => Ok(()),
        }
    }

    fn sort_key(&self) -> i64 {
        self.instant
    }

    /// Only parts of the same kind compare meaningfully.
    fn comparable(&self, other: &DatePart) -> bool {
        self.has_offset == other.has_offset
    }
}

/// Splits `HH:MM[:SS[.fff]]` from a trailing `Z`, `±HH:MM` or `±HHMM`; the offset in seconds.
fn split_offset(time: &str) -> Option<(&str, Option<i64>)> {
    if let Some(clock) = time.strip_suffix(['Z', 'z']) {
        return Some((clock, Some(0)));
    }
    if let Some(i) = time.rfind(['+', '-']) {
        let (clock, offset) = time.split_at(i);
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
        if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let hours: i64 = digits[..2].parse().ok()?;
        let minutes: i64 = digits[2..].parse().ok()?;
        if hours > 14 || minutes > 59 {
            return None;
        }
        return Some((clock, Some(sign * (hours * 3600 + minutes * 60))));
    }
    Some((time, None))
}

fn parse_clock(clock: &str) -> Option<chrono::NaiveTime> {
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return None;
    }
    let parts: Vec<&str> = hms.split(':').collect();
    if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.len() != 2) {
        return None;
    }
    let n = |s: &str| s.parse::<u32>().ok();
    let nanos = if frac.is_empty() {
        0
    } else {
        n(&format!("{frac:0<9}"))?
    };
    chrono::NaiveTime::from_hms_nano_opt(
        n(parts[0])?,
        n(parts[1])?,
        n(parts.get(2).unwrap_or(&"00"))?,
        nanos,
    )
}

/// A files item: a local path or an `upload:` URL (a file to copy into Notion), else a link.
fn file_item(item: &str, files: Option<&FileRules>) -> Result<FileItem, String> {
    let source = if let Some(url) = item.strip_prefix("upload:") {
        file::import(url)?
    } else if file::is_local_path(item) {
        let Some(rules) = files else {
            return Err(format!(
                "{item:?} is not an http(s) URL, and local files can only be named from an input file"
            ));
        };
        file::local(item, rules)?
    } else {
        return external_file(item);
    };
    let name = source.file_name();
    Ok(FileItem {
        name: truncate_units(&name, MAX_NAME_UNITS).to_owned(),
        url: item.to_owned(),
        hosted: false,
        upload: Some(std::sync::Arc::new(source)),
    })
}

/// A file by its URL, and a name from its last non-empty path segment: a file Notion hosts
/// when the URL is one Notion signed (an export's cell), else an external file.
fn external_file(url: &str) -> Result<FileItem, String> {
    let units = utf16_len(url);
    if units > MAX_URL_UNITS {
        return Err(format!(
            "file URL is {units} characters long; Notion takes at most {MAX_URL_UNITS}"
        ));
    }
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| format!("{url:?} is not an http(s) URL; files cells take links to files"))?;
    let host = parsed.host_str().unwrap_or_default();
    let segment = file::url_file_name(&parsed);
    let name = match segment {
        Some(name) if !name.trim().is_empty() && utf16_len(&name) <= MAX_NAME_UNITS => name,
        _ => truncate_units(host, MAX_NAME_UNITS).to_owned(),
    };
    Ok(FileItem {
        name,
        url: url.to_owned(),
        hosted: FileItem::is_notion_hosted(url),
        upload: None,
    })
}

fn truncate_units(text: &str, max: usize) -> &str {
    let mut units = 0;
    for (i, c) in text.char_indices() {
        units += c.len_utf16();
        if units > max {
            return &text[..i];
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: CellRules = CellRules {
        separator: ';',
        time_zone: None,
        users: None,
        numbers: NumberFormat {
            decimal_comma: false,
            thousands: None,
        },
        files: None,
    };

    fn cell(ty: PropertyType, text: &str) -> Result<serde_json::Value, String> {
        parse_cell(ty, text, RULES).map(|v| serde_json::to_value(v).unwrap())
    }

    #[test]
    fn title_and_rich_text_split_long_text() {
        assert_eq!(
            cell(PropertyType::Title, "Ship it").unwrap(),
            json!({"title": [{"type": "text", "text": {"content": "Ship it"}}]})
        );
        let long = format!("{}😀", "a".repeat(1999));
        let PropertyValue::RichText(pieces) =
            parse_cell(PropertyType::RichText, &long, RULES).unwrap()
        else {
            panic!("not rich text")
        };
        assert_eq!(pieces, vec!["a".repeat(1999), "😀".to_owned()]);
        // 100 pieces of 2000 fit, one more unit does not.
        assert!(cell(PropertyType::RichText, &"b".repeat(200_000)).is_ok());
        let err = cell(PropertyType::RichText, &"b".repeat(200_001)).unwrap_err();
        assert!(err.contains("too long"), "{err}");
        // Emoji count two units each: 100,001 emoji are 200,002 units.
        assert!(cell(PropertyType::Title, &"😀".repeat(100_000)).is_ok());
        assert!(cell(PropertyType::Title, &"😀".repeat(100_001)).is_err());
    }

    #[test]
    fn numbers() {
        assert_eq!(
            cell(PropertyType::Number, "42").unwrap(),
            json!({"number": 42})
        );
        assert_eq!(
            cell(PropertyType::Number, "-3.5").unwrap(),
            json!({"number": -3.5})
        );
        assert_eq!(
            cell(PropertyType::Number, "+7").unwrap(),
            json!({"number": 7})
        );
        assert_eq!(
            cell(PropertyType::Number, "1.5e3").unwrap(),
            json!({"number": 1500.0})
        );
        assert_eq!(
            cell(PropertyType::Number, " 12 ").unwrap(),
            json!({"number": 12})
        );
        // -0, written so or rounded to from below the smallest float, is sent as 0.
        for zero in ["-0.0", "-1e-400", "-0e5", "1e-400"] {
            let sent = cell(PropertyType::Number, zero).unwrap().to_string();
            assert_eq!(sent, r#"{"number":0.0}"#, "{zero}");
        }
        for huge in ["1e400", "-1e309"] {
            let e = parse_number(huge).unwrap_err();
            assert!(e.contains("is too large") && e.contains("1.8e308"), "{e}");
            let comma = NumberFormat {
                decimal_comma: true,
                ..NumberFormat::default()
            };
            let e = parse_number_as(huge, comma).unwrap_err();
            assert!(e.contains("is too large"), "{e}");
        }
        for bad in [
            "NaN",
            "inf",
            "-infinity",
            "1,5",
            "1 000",
            "0x10",
            "e5",
            "1e",
            ".",
            "--1",
            "12abc",
        ] {
            let err = cell(PropertyType::Number, bad).unwrap_err();
            assert!(err.contains("is not a number"), "{bad}: {err}");
        }
        let err = cell(PropertyType::Number, "1e999").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        let err = cell(PropertyType::Number, "12,50").unwrap_err();
        assert!(err.contains("pass --decimal-comma"), "{err}");
    }

    fn number(text: &str, decimal_comma: bool, thousands: Option<char>) -> Result<String, String> {
        let format = NumberFormat {
            decimal_comma,
            thousands,
        };
        parse_number_as(text, format).map(|n| n.to_string())
    }

    #[test]
    fn decimal_comma_numbers() {
        for (text, value) in [
            ("12,50", "12.5"),
            ("-0,5", "-0.5"),
            ("+7", "7"),
            ("1234", "1234"),
            ("1,5e3", "1500.0"),
            (",5", "0.5"),
        ] {
            assert_eq!(number(text, true, None).unwrap(), value, "{text}");
        }
        for text in ["1.234,5", "1.5", "1.234"] {
            let err = number(text, true, None).unwrap_err();
            assert!(err.contains("ambiguous"), "{text}: {err}");
            assert!(err.contains("--thousands-separator ."), "{text}: {err}");
        }
        let err = number("12,5,0", true, None).unwrap_err();
        assert!(err.contains("is not a number"), "{err}");
        assert!(err.contains("a comma for decimals"), "{err}");
    }

    #[test]
    fn thousands_separators_group_by_three_only() {
        assert_eq!(number("1.234,5", true, Some('.')).unwrap(), "1234.5");
        assert_eq!(number("-1.234.567", true, Some('.')).unwrap(), "-1234567");
        assert_eq!(number("1 234,5", true, Some(' ')).unwrap(), "1234.5");
        assert_eq!(
            number("1\u{202F}234\u{A0}567,25", true, Some(' ')).unwrap(),
            "1234567.25"
        );
        assert_eq!(number("1,234.5", false, Some(',')).unwrap(), "1234.5");
        assert_eq!(number("1'234.5", false, Some('\'')).unwrap(), "1234.5");
        for (text, comma, sep) in [
            ("12.50", true, Some('.')),
            ("1.2345,6", true, Some('.')),
            ("1234.567,8", true, Some('.')),
            (".123", true, Some('.')),
        ] {
            let err = number(text, comma, sep).unwrap_err();
            assert!(err.contains("group the digits by three"), "{text}: {err}");
        }
        let err = number("1,5.000", true, Some('.')).unwrap_err();
        assert!(err.contains("before the decimal comma"), "{err}");
        let err = number("1,234.5", false, None);
        assert_eq!(number("1234.5", false, None).unwrap(), "1234.5");
        assert!(err.is_err());
        let err = number("1,234.5", false, Some(' ')).unwrap_err();
        assert!(err.contains("ambiguous"), "{err}");
    }

    #[test]
    fn select_and_status_names() {
        assert_eq!(
            cell(PropertyType::Select, " High ").unwrap(),
            json!({"select": {"name": "High"}})
        );
        assert_eq!(
            cell(PropertyType::Status, "Done").unwrap(),
            json!({"status": {"name": "Done"}})
        );
        let err = cell(PropertyType::Select, "a,b").unwrap_err();
        assert!(err.contains("comma"), "{err}");
        assert!(cell(PropertyType::Select, &"s".repeat(100)).is_ok());
        let err = cell(PropertyType::Status, &"s".repeat(101)).unwrap_err();
        assert!(err.contains("at most 100"), "{err}");
        // 50 emoji are 100 units; 51 are 102.
        assert!(cell(PropertyType::Select, &"😀".repeat(50)).is_ok());
        assert!(cell(PropertyType::Select, &"😀".repeat(51)).is_err());
    }

    #[test]
    fn multi_select_lists() {
        assert_eq!(
            cell(PropertyType::MultiSelect, "a; b;;c;").unwrap(),
            json!({"multi_select": [{"name": "a"}, {"name": "b"}, {"name": "c"}]})
        );
        let hundred: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
        assert!(cell(PropertyType::MultiSelect, &hundred.join(";")).is_ok());
        let many: Vec<String> = (0..101).map(|i| format!("t{i}")).collect();
        let err = cell(PropertyType::MultiSelect, &many.join(";")).unwrap_err();
        assert!(
            err.contains("101 values") && err.contains("at most 100"),
            "{err}"
        );
        let err = cell(PropertyType::MultiSelect, "ok;not,ok").unwrap_err();
        assert!(err.contains("comma"), "{err}");
        let rules = CellRules {
            separator: '|',
            ..RULES
        };
        let value = parse_cell(PropertyType::MultiSelect, "a|b", rules).unwrap();
        assert_eq!(
            value,
            PropertyValue::MultiSelect(vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn dates() {
        let date = |t: &str| cell(PropertyType::Date, t);
        assert_eq!(
            date("2024-05-01").unwrap(),
            json!({"date": {"start": "2024-05-01", "end": null}})
        );
        assert_eq!(
            date("2024-05-01/2024-05-03").unwrap(),
            json!({"date": {"start": "2024-05-01", "end": "2024-05-03"}})
        );
        assert_eq!(
            date("2024-05-01T09:30:00+02:00").unwrap(),
            json!({"date": {"start": "2024-05-01T09:30:00+02:00", "end": null}})
        );
        assert_eq!(
            date("2024-05-01T09:30Z/2024-05-01T10:00Z").unwrap(),
            json!({"date": {"start": "2024-05-01T09:30Z", "end": "2024-05-01T10:00Z"}})
        );
        assert!(date("2024-05-01T09:30:00.123-05:00").is_ok());
        for bad in [
            "2024-02-30",
            "2024-13-01",
            "01/05/2024",
            "2024-5-1",
            "tomorrow",
            "2024-05-01T25:00Z",
            "2024-05-01T09:30+2",
        ] {
            assert!(
                date(bad).unwrap_err().contains("is not a valid date"),
                "{bad}"
            );
        }
        let err = date("2024-05-03/2024-05-01").unwrap_err();
        assert!(err.contains("ends before it starts"), "{err}");
        let err = date("2024-05-01T09:30").unwrap_err();
        assert!(err.contains("no UTC offset"), "{err}");
    }

    #[test]
    fn dates_with_a_job_time_zone() {
        let rules = CellRules {
            time_zone: Some("Europe/Paris"),
            ..RULES
        };
        let value = serde_json::to_value(
            parse_cell(PropertyType::Date, "2024-05-01T09:30", rules).unwrap(),
        )
        .unwrap();
        assert_eq!(
            value,
            json!({"date": {"start": "2024-05-01T09:30", "end": null, "time_zone": "Europe/Paris"}})
        );
        // A plain date needs no zone.
        let value =
            serde_json::to_value(parse_cell(PropertyType::Date, "2024-05-01", rules).unwrap())
                .unwrap();
        assert_eq!(value, json!({"date": {"start": "2024-05-01", "end": null}}));
        let err = parse_cell(PropertyType::Date, "2024-05-01T09:30Z", rules).unwrap_err();
        assert!(err.contains("give one or the other"), "{err}");
    }

    #[test]
    fn verifications() {
        let v = |t: &str| cell(PropertyType::Verification, t);
        assert_eq!(
            v("verified").unwrap(),
            serde_json::json!({"verification": {"state": "verified"}})
        );
        assert_eq!(
            v("Unverified").unwrap(),
            serde_json::json!({"verification": {"state": "unverified"}})
        );
        assert_eq!(
            v("verified 2026-12-01/2027-06-01").unwrap(),
            serde_json::json!({"verification": {"state": "verified", "date": {"start": "2026-12-01", "end": "2027-06-01"}}})
        );
        assert!(v("unverified 2026-12-01").unwrap_err().contains("no date"));
        assert!(v("yes").unwrap_err().contains("not a verification"));
        assert!(v("verified 2026-13-01").is_err());
    }

    #[test]
    fn checkboxes() {
        for yes in ["true", "TRUE", "yes", "Yes", "1", "x", "X"] {
            assert_eq!(
                cell(PropertyType::Checkbox, yes).unwrap(),
                json!({"checkbox": true}),
                "{yes}"
            );
        }
        for no in ["false", "No", "0"] {
            assert_eq!(
                cell(PropertyType::Checkbox, no).unwrap(),
                json!({"checkbox": false}),
                "{no}"
            );
        }
        let err = cell(PropertyType::Checkbox, "maybe").unwrap_err();
        assert!(err.contains("not a checkbox value"), "{err}");
    }

    #[test]
    fn urls_emails_phones() {
        assert_eq!(
            cell(PropertyType::Url, "https://a.b/c").unwrap(),
            json!({"url": "https://a.b/c"})
        );
        let long_url = format!("https://a.b/{}", "x".repeat(2000 - 12));
        assert!(cell(PropertyType::Url, &long_url).is_ok());
        assert!(cell(PropertyType::Url, &format!("{long_url}x"))
            .unwrap_err()
            .contains("at most 2000"));
        assert_eq!(
            cell(PropertyType::Email, "a@b.co").unwrap(),
            json!({"email": "a@b.co"})
        );
        assert!(cell(PropertyType::Email, &format!("{}@b.co", "a".repeat(96))).is_err());
        assert_eq!(
            cell(PropertyType::PhoneNumber, "+1 415 555 0100").unwrap(),
            json!({"phone_number": "+1 415 555 0100"})
        );
        assert!(cell(PropertyType::PhoneNumber, &"1".repeat(101))
            .unwrap_err()
            .contains("at most 100"));
    }

    #[test]
    fn people_by_email_with_the_workspace_users() {
        let ada = NotionId::parse("9531985d5d9d49f89818e811892f902b").unwrap();
        let users: Users = [("ada@example.com".to_string(), ada)].into();
        let rules = CellRules {
            users: Some(&users),
            ..RULES
        };
        let value = parse_cell(PropertyType::People, "Ada@Example.com", rules).unwrap();
        assert_eq!(value, PropertyValue::People(vec![ada]));
        let err = parse_cell(PropertyType::People, "ada@exmaple.com", rules).unwrap_err();
        assert!(
            err.contains("no user of the workspace")
                && err.contains("did you mean \"ada@example.com\""),
            "{err}"
        );
    }

    #[test]
    fn people_and_relations() {
        assert_eq!(
            cell(
                PropertyType::People,
                "9531985d5d9d49f89818e811892f902b; 36F675CC-81E7-4EF5-A8E2-5D940ED90475"
            )
            .unwrap(),
            json!({"people": [{"id": "9531985d-5d9d-49f8-9818-e811892f902b"}, {"id": "36f675cc-81e7-4ef5-a8e2-5d940ed90475"}]})
        );
        assert!(cell(PropertyType::People, "ada@example.com")
            .unwrap_err()
            .contains("looks like an email"));
        assert!(cell(PropertyType::People, "Ada")
            .unwrap_err()
            .contains("not a Notion user id"));
        assert_eq!(
            cell(
                PropertyType::Relation,
                "https://www.notion.so/acme/Task-8d116ece173847d9bd9c172411e20b8f"
            )
            .unwrap(),
            json!({"relation": [{"id": "8d116ece-1738-47d9-bd9c-172411e20b8f"}]})
        );
        let err = cell(PropertyType::Relation, "8d116ece;nope").unwrap_err();
        assert!(err.contains("not a Notion page id"), "{err}");
        let ids: Vec<String> = (0..101u128).map(|i| format!("{i:032x}")).collect();
        assert!(cell(PropertyType::Relation, &ids[..100].join(";")).is_ok());
        assert!(cell(PropertyType::Relation, &ids.join(";"))
            .unwrap_err()
            .contains("at most 100"));
    }

    #[test]
    fn files_take_their_name_from_the_url() {
        assert_eq!(
            cell(
                PropertyType::Files,
                "https://cdn.example.com/docs/Q3%20report.pdf?x=1"
            )
            .unwrap(),
            json!({"files": [{"name": "Q3 report.pdf", "type": "external", "external": {"url": "https://cdn.example.com/docs/Q3%20report.pdf?x=1"}}]})
        );
        let value = cell(PropertyType::Files, "https://cdn.example.com/").unwrap();
        assert_eq!(value["files"][0]["name"], "cdn.example.com");
        let long_name = format!("https://cdn.example.com/{}", "n".repeat(101));
        assert_eq!(
            cell(PropertyType::Files, &long_name).unwrap()["files"][0]["name"],
            "cdn.example.com"
        );
        assert!(cell(PropertyType::Files, "report.pdf")
            .unwrap_err()
            .contains("not an http(s) URL"));
        assert!(cell(PropertyType::Files, "ftp://x.y/a").is_err());
    }

    #[test]
    fn read_only_types_are_refused() {
        for ty in [
            PropertyType::Formula,
            PropertyType::Rollup,
            PropertyType::UniqueId,
            PropertyType::CreatedTime,
        ] {
            let err = cell(ty, "1").unwrap_err();
            assert!(err.contains("read-only"), "{ty}: {err}");
        }
    }
}

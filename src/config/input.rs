//! `InputConfig::resolve`: the flags every command that reads rows shares, merged over the
//! job file INPUT names (the flag wins). One function per concern (where the rows come from,
//! format and delimiter, the mapping's settings, numbers, the schema's source, `--match-on`,
//! `--where`), called in the order the checks have always run, so that of two mistakes the
//! same one is reported first.

use serde_json::Value;

use crate::config::jobfile::JobFile;
use crate::config::setting::{given, notion_version, one_char, switch};
use crate::config::{
    ConfigError, InputConfig, InputFlags, KeyLookup, MatchConfig, SelectionConfig, DEFAULT_MAX_ROWS,
};
use crate::filter::Clause;
use crate::mapping::cell::NumberFormat;
use crate::mapping::{EmptyCells, MappingOptions};
use crate::notion::schema::SchemaSource;
use crate::notion::Version;
use crate::source::{InputEncoding, InputFormat, InputPath};

impl InputConfig {
    /// Merges the flags with the job file named by `flags.input` (when it ends in `.toml`).
    pub fn resolve(flags: &InputFlags) -> Result<InputConfig, ConfigError> {
        let job = load_job(flags.input.as_deref())?;
        InputConfig::merge(flags, job.as_ref())
    }

    /// Merges the flags with the job file already read (`None`: there is none).
    pub(super) fn merge(
        flags: &InputFlags,
        job: Option<&JobFile>,
    ) -> Result<InputConfig, ConfigError> {
        let named = flags.input.as_deref().unwrap_or_default();
        let data_source = given(&flags.data_source, job, |j| &j.data_source);
        let selection = SelectionConfig::resolve(flags, job, data_source.as_deref())?;
        let selecting = selection.is_some();
        let path = input_path(flags, job, selecting)?;
        let version =
            notion_version(given(&flags.notion_version, job, |j| &j.notion_version).as_deref())?;
        let format = input_format(flags, job, &path)?;
        let separator = one_char(
            given(&flags.separator, job, |j| &j.separator),
            "--separator",
        )?;
        let empty = empty_cells(given(&flags.empty, job, |j| &j.empty).as_deref())?;
        let columns = job_table(job, named, JobFile::column_mappings)?;
        let schema = schema_source(flags, job, data_source.as_deref())?;
        // With a selection, [constants] are what every selected page gets (SelectionConfig).
        let constants = job_table(job.filter(|_| !selecting), named, JobFile::constants)?;
        let expect = job_table(job, named, JobFile::expectations)?;
        let encoding = given(&flags.encoding, job, |j| &j.encoding)
            .map(|name| InputEncoding::from_name(&name).map_err(ConfigError))
            .transpose()?
            .unwrap_or_default();
        let numbers = number_format(flags, job)?;
        let columns_only = columns_only(given(&flags.columns, job, |j| &j.columns_only))?;
        let time_zone = time_zone(flags, job)?;
        let add_missing_options = missing_options(flags, job, schema.is_some(), version, &path)?;
        let mapping = MappingOptions {
            add_missing_options,
            version,
            id_column: given(&flags.id_column, job, |j| &j.id_column)
                .unwrap_or_else(|| "page_id".into()),
            separator: separator.unwrap_or(';'),
            empty,
            time_zone,
            columns,
            constants,
            numbers,
            columns_only,
            files: crate::mapping::file::FileRules {
                base: files_base(&path),
                ..Default::default()
            },
            ..MappingOptions::default()
        };
        let mut matching = matching(flags, job, data_source.is_some(), selecting)?;
        let create_missing_related = switch(flags.create_missing_related, job, |j| {
            &j.create_missing_related
        });
        let missing = mirror(
            flags,
            job,
            matching.as_mut(),
            &path,
            add_missing_options || create_missing_related,
        )?;
        Ok(InputConfig {
            path,
            format,
            encoding,
            mapping,
            schema,
            data_source,
            matching,
            selection,
            expect,
            create_missing_related,
            missing,
        })
    }
}

/// The folder a files cell's local paths are relative to: the input file's (the working
/// directory for standard input).
fn files_base(path: &InputPath) -> std::path::PathBuf {
    match path {
        InputPath::File(p) => match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => ".".into(),
        },
        _ => ".".into(),
    }
}

/// The job file INPUT names, when it ends in `.toml`.
pub(super) fn load_job(input: Option<&str>) -> Result<Option<JobFile>, ConfigError> {
    let named = input.unwrap_or_default();
    if !named.to_ascii_lowercase().ends_with(".toml") {
        return Ok(None);
    }
    JobFile::load(named.as_ref())
        .map(Some)
        .map_err(|e| ConfigError(e.to_string()))
}

/// One of the job file's tables (`[columns]`, `[constants]`, `[expect]`), each entry checked;
/// empty without a job file.
fn job_table<T>(
    job: Option<&JobFile>,
    named: &str,
    read: fn(&JobFile) -> Result<Vec<T>, String>,
) -> Result<Vec<T>, ConfigError> {
    match job {
        Some(j) => read(j).map_err(|e| ConfigError(format!("job file {named}: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// Where the rows come from: the pages a filter selects, the job file's `input`, standard
/// input (`-`), or the file given.
fn input_path(
    flags: &InputFlags,
    job: Option<&JobFile>,
    selecting: bool,
) -> Result<InputPath, ConfigError> {
    if selecting {
        return Ok(InputPath::Selection);
    }
    let named = flags.input.as_deref().unwrap_or_default();
    match (job, &flags.input) {
        (Some(j), _) => j.input.clone().map(InputPath::File).ok_or_else(|| {
            ConfigError(format!(
                "job file {named} names no input: add input = \"rows.csv\" (or where = \"NAME = VALUE\" to edit the pages a filter selects)"
            ))
        }),
        (None, None) => Err(ConfigError(
            "no INPUT: give a .csv, .jsonl or job file (.toml), - for standard input, or select the pages to edit with --data-source DS --where FILTER --set PROPERTY=VALUE".into(),
        )),
        (None, Some(named)) => Ok(InputPath::from_arg(named)),
    }
}

/// `--format` (or what the path's extension says) and `--delimiter`.
fn input_format(
    flags: &InputFlags,
    job: Option<&JobFile>,
    path: &InputPath,
) -> Result<InputFormat, ConfigError> {
    let name = given(&flags.format, job, |j| &j.format);
    let delimiter = one_char(
        given(&flags.delimiter, job, |j| &j.delimiter),
        "--delimiter",
    )?;
    with_delimiter(format_of(name.as_deref(), path)?, delimiter)
}

/// The format `--format` names, else the one the path implies.
fn format_of(name: Option<&str>, path: &InputPath) -> Result<InputFormat, ConfigError> {
    match (name, path) {
        (Some("csv"), _) => Ok(InputFormat::Csv { delimiter: b',' }),
        (Some("tsv"), _) => Ok(InputFormat::Csv { delimiter: b'\t' }),
        (Some("jsonl" | "ndjson"), _) => Ok(InputFormat::Jsonl),
        (Some(other), _) => Err(ConfigError(format!(
            "unknown --format {other:?}: expected csv, tsv or jsonl"
        ))),
        (_, InputPath::Selection) => Ok(InputFormat::Jsonl),
        (None, InputPath::Stdin) => Err(ConfigError(
            "reading standard input needs --format csv or --format jsonl".into(),
        )),
        (None, InputPath::File(p)) => InputFormat::from_extension(p).ok_or_else(|| {
            ConfigError(format!(
                "cannot tell the format of {} from its extension: name it .csv, .tsv, .jsonl or .ndjson, or pass --format",
                p.display()
            ))
        }),
    }
}

/// `--delimiter` replaces a CSV format's own; it means nothing to JSONL.
fn with_delimiter(
    format: InputFormat,
    delimiter: Option<char>,
) -> Result<InputFormat, ConfigError> {
    match (format, delimiter) {
        (InputFormat::Csv { .. }, Some(d)) if !d.is_ascii() => Err(ConfigError(format!(
            "--delimiter must be an ASCII character, got {d:?}"
        ))),
        (InputFormat::Csv { .. }, Some(d)) => Ok(InputFormat::Csv { delimiter: d as u8 }),
        (f, _) => Ok(f),
    }
}

/// `--empty`: what an empty cell means.
fn empty_cells(text: Option<&str>) -> Result<EmptyCells, ConfigError> {
    match text {
        None | Some("skip") => Ok(EmptyCells::Skip),
        Some("clear") => Ok(EmptyCells::Clear),
        Some(other) => Err(ConfigError(format!(
            "unknown --empty {other:?}: expected skip or clear"
        ))),
    }
}

/// `--schema-from` / `--schema-file` (the flags, else the job file's), then `--data-source`,
/// which reads its own schema.
fn schema_source(
    flags: &InputFlags,
    job: Option<&JobFile>,
    data_source: Option<&str>,
) -> Result<Option<SchemaSource>, ConfigError> {
    let named = flags.input.as_deref().unwrap_or_default();
    let schema = match (&flags.schema_from, &flags.schema_file) {
        (Some(id), _) => Some(SchemaSource::Fetch(id.clone())),
        (None, Some(path)) => Some(SchemaSource::File(path.clone())),
        (None, None) => match job.map(|j| (&j.schema_from, &j.schema_file)) {
            Some((Some(_), Some(_))) => {
                return Err(ConfigError(format!(
                    "job file {named} sets both schema_from and schema_file: keep one"
                )))
            }
            Some((Some(id), None)) => Some(SchemaSource::Fetch(id.clone())),
            Some((None, Some(path))) => Some(SchemaSource::File(path.clone())),
            _ => None,
        },
    };
    match (data_source, schema) {
        (None, schema) => Ok(schema),
        (Some(ds), None) => Ok(Some(SchemaSource::Fetch(ds.to_owned()))),
        (Some(ds), Some(SchemaSource::Fetch(id))) if id == ds => Ok(Some(SchemaSource::Fetch(id))),
        (Some(_), Some(_)) => Err(ConfigError(
            "--data-source reads the data source's schema itself: drop --schema-from / \
             --schema-file (or schema_from / schema_file in the job file)"
                .into(),
        )),
    }
}

/// `--decimal-comma` and `--thousands-separator`: a separator must not be the decimal mark
/// or a character numbers are written with.
fn number_format(flags: &InputFlags, job: Option<&JobFile>) -> Result<NumberFormat, ConfigError> {
    let numbers = NumberFormat {
        decimal_comma: switch(flags.decimal_comma, job, |j| &j.decimal_comma),
        thousands: one_char(
            given(&flags.thousands_separator, job, |j| &j.thousands_separator),
            "--thousands-separator",
        )?,
    };
    if let Some(t) = numbers.thousands {
        let decimal = if numbers.decimal_comma { ',' } else { '.' };
        if t == decimal || t.is_ascii_digit() || matches!(t, '+' | '-' | 'e' | 'E') {
            return Err(ConfigError(format!(
                "--thousands-separator {t:?} cannot group thousands{}",
                if t == decimal {
                    " when it also marks decimals"
                } else {
                    ": it is part of how numbers are written"
                }
            )));
        }
    }
    Ok(numbers)
}

/// `--columns A,B` (or the job file's `columns_only`), trimmed; a list of blanks names no
/// column.
fn columns_only(list: Option<Vec<String>>) -> Result<Option<Vec<String>>, ConfigError> {
    match list {
        Some(list) if list.iter().all(|c| c.trim().is_empty()) => Err(ConfigError(
            "--columns names no column: list the input columns to use, e.g. --columns SKU,Price"
                .into(),
        )),
        Some(list) => Ok(Some(
            list.into_iter()
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect(),
        )),
        None => Ok(None),
    }
}

/// The time zone of every date column, checked once here (a column's own, in the job file's
/// `[columns]`, when the job file is read; a cell's, with its row).
fn time_zone(flags: &InputFlags, job: Option<&JobFile>) -> Result<Option<String>, ConfigError> {
    let time_zone = match (&flags.time_zone, job.and_then(|j| j.time_zone.clone())) {
        (Some(zone), _) => Some((zone.clone(), "--time-zone")),
        (None, Some(zone)) => Some((zone, "the job file's time_zone")),
        (None, None) => None,
    };
    if let Some((zone, origin)) = &time_zone {
        crate::notion::time_zone::check(zone).map_err(|e| ConfigError(format!("{origin} {e}")))?;
    }
    Ok(time_zone.map(|(zone, _)| zone))
}

/// `--match-on` and its companions; a key finds the page of a file's row, so it does not go
/// with `--where`.
fn matching(
    flags: &InputFlags,
    job: Option<&JobFile>,
    data_source: bool,
    selecting: bool,
) -> Result<Option<MatchConfig>, ConfigError> {
    let matching = MatchConfig::resolve(flags, job, data_source)?;
    if matching.is_some() && selecting {
        return Err(ConfigError(
            "--match-on finds the page of each row of an input file; --where selects the pages \
             itself, with no file: use one or the other"
                .into(),
        ));
    }
    Ok(matching)
}

impl MatchConfig {
    /// `--match-on` and its companions from the flags and the job file; each companion
    /// without `--match-on`, and `--match-on` without `--data-source`, is an error.
    fn resolve(
        flags: &InputFlags,
        job: Option<&JobFile>,
        data_source: bool,
    ) -> Result<Option<MatchConfig>, ConfigError> {
        let ignore_case = switch(flags.match_ignore_case, job, |j| &j.match_ignore_case);
        let create_missing = switch(flags.create_missing, job, |j| &j.create_missing);
        let lookup = given(&flags.key_lookup, job, |j| &j.key_lookup);
        let Some(property) = given(&flags.match_on, job, |j| &j.match_on) else {
            let stray = [
                (ignore_case, "--match-ignore-case"),
                (create_missing, "--create-missing"),
                (lookup.is_some(), "--key-lookup"),
            ];
            if let Some((_, name)) = stray.iter().find(|(set, _)| *set) {
                return Err(ConfigError(format!(
                    "{name} goes with --match-on PROPERTY (rows found by a key property)"
                )));
            }
            return Ok(None);
        };
        if !data_source {
            return Err(ConfigError(format!(
                "--match-on {property:?} needs --data-source: the pages are found by reading the \
                 data source their keys are in"
            )));
        }
        Ok(Some(MatchConfig {
            property,
            ignore_case,
            create_missing,
            lookup: key_lookup(lookup.as_deref())?,
        }))
    }
}

/// `--missing-pages` and `--max-missing`: the pages of a keyed sync's data source whose key no
/// input row has. They need `--match-on` (with `--data-source`) and an input file, whose keys
/// are read ahead; the missing set needs every page's key, so the scan reads every page
/// (`--key-lookup batch` is refused). Not with the writes made before the scan
/// (`--add-missing-options`, `--create-missing-related`), so that the brake comes before any
/// write.
fn mirror(
    flags: &InputFlags,
    job: Option<&JobFile>,
    matching: Option<&mut MatchConfig>,
    path: &InputPath,
    writes_before_scan: bool,
) -> Result<Option<crate::mirror::MirrorConfig>, ConfigError> {
    use crate::mirror::{MaxMissing, MirrorConfig, MissingAction, DEFAULT_MAX_MISSING};
    let action = given(&flags.missing_pages, job, |j| &j.missing_pages);
    let max = match (&flags.max_missing, job.and_then(|j| j.max_missing.as_ref())) {
        (Some(text), _) => Some(text.clone()),
        (None, Some(entry)) => Some(entry.as_flag()),
        (None, None) => None,
    };
    let action = match action.as_deref() {
        Some(text) => MissingAction::parse(text).map_err(ConfigError)?,
        None => None,
    };
    let Some(action) = action else {
        if max.is_some() {
            return Err(ConfigError(
                "--max-missing goes with --missing-pages trash or --missing-pages set:PROPERTY=VALUE (pages whose key no input row has)".into(),
            ));
        }
        return Ok(None);
    };
    let flag = format!("--missing-pages {}", action.as_flag());
    let Some(matching) = matching else {
        return Err(ConfigError(format!(
            "{flag} needs a keyed sync: add --match-on PROPERTY and --data-source ID_OR_URL (the pages missing from the input are found by their key)"
        )));
    };
    if *path == InputPath::Stdin {
        return Err(ConfigError(format!(
            "{flag} reads the input's keys before any write, and standard input can be read only once: save it to a file and name the file"
        )));
    }
    if matching.lookup == KeyLookup::Batch {
        return Err(ConfigError(format!(
            "{flag} needs every page's key (a scan of the whole data source): drop --key-lookup batch"
        )));
    }
    if writes_before_scan {
        return Err(ConfigError(format!(
            "{flag} judges --max-missing before any write, and --add-missing-options and --create-missing-related write before the scan: run those in a run of their own first, then this one"
        )));
    }
    matching.lookup = KeyLookup::Scan;
    let max = match max {
        Some(text) => MaxMissing::parse(&text).map_err(ConfigError)?,
        None => DEFAULT_MAX_MISSING,
    };
    Ok(Some(MirrorConfig { action, max }))
}

/// `--key-lookup`: auto when not given.
fn key_lookup(text: Option<&str>) -> Result<KeyLookup, ConfigError> {
    match text {
        None | Some("auto") => Ok(KeyLookup::Auto),
        Some("scan") => Ok(KeyLookup::Scan),
        Some("batch") => Ok(KeyLookup::Batch),
        Some(other) => Err(ConfigError(format!(
            "unknown --key-lookup {other:?}: expected auto, scan or batch"
        ))),
    }
}

impl SelectionConfig {
    /// `--where`/`--set`/`--max-rows` merged over the job file's `where`, `[constants]` and
    /// `max_rows`; `None` when no filter selects the pages. A selection needs a data source,
    /// something to set, and no input file.
    pub fn resolve(
        flags: &InputFlags,
        job: Option<&JobFile>,
        data_source: Option<&str>,
    ) -> Result<Option<SelectionConfig>, ConfigError> {
        let clauses = where_clauses(flags, job)?;
        let max_rows = given(&flags.max_rows, job, |j| &j.max_rows);
        if clauses.is_empty() {
            return no_selection(flags, max_rows.is_some());
        }
        if data_source.is_none() {
            return Err(ConfigError(
                "--where selects pages of a data source: give it with --data-source ID_OR_URL (or data_source in the job file)".into(),
            ));
        }
        let input_file = match job {
            Some(j) => j.input.is_some(),
            None => flags.input.is_some(),
        };
        if input_file {
            return Err(ConfigError(
                "--where selects the pages to edit itself: drop the input file (or the job file's input), or drop --where to apply the file's rows".into(),
            ));
        }
        let set = values_to_set(flags, job)?;
        let max_rows = max_rows.unwrap_or(DEFAULT_MAX_ROWS);
        if max_rows == 0 {
            return Err(ConfigError("--max-rows must be at least 1".into()));
        }
        Ok(Some(SelectionConfig {
            clauses,
            set,
            max_rows,
        }))
    }
}

/// The filter: the command line's `--where` replaces the job file's `where`.
fn where_clauses(flags: &InputFlags, job: Option<&JobFile>) -> Result<Vec<Clause>, ConfigError> {
    let from_job = match job {
        Some(j) => j.where_clauses().map_err(ConfigError)?,
        None => Vec::new(),
    };
    if flags.where_.is_empty() {
        return Ok(from_job);
    }
    Ok(flags.where_.iter().cloned().map(Clause::Text).collect())
}

/// No filter: `--set` and `--max-rows` have nothing to act on.
fn no_selection(
    flags: &InputFlags,
    max_rows_given: bool,
) -> Result<Option<SelectionConfig>, ConfigError> {
    let stray = if !flags.set.is_empty() {
        Some("--set")
    } else if max_rows_given {
        Some("--max-rows")
    } else {
        None
    };
    match stray {
        Some(flag) => Err(ConfigError(format!(
            "{flag} goes with --where: it edits the pages a filter selects (to set a value on every row of a file, use the job file's [constants])"
        ))),
        None => Ok(None),
    }
}

/// What every selected page gets: the job file's `[constants]`, which `--set` adds to or
/// replaces key by key.
fn values_to_set(
    flags: &InputFlags,
    job: Option<&JobFile>,
) -> Result<Vec<(String, Value)>, ConfigError> {
    let mut set = match job {
        Some(j) => j.constants().map_err(ConfigError)?,
        None => Vec::new(),
    };
    for text in &flags.set {
        let (key, value) = parse_set(text)?;
        set.retain(|(k, _)| *k != key);
        set.push((key, value));
    }
    if set.is_empty() {
        return Err(ConfigError(
            "--where selects pages but nothing says what to change: add --set PROPERTY=VALUE (or [constants] in the job file)".into(),
        ));
    }
    Ok(set)
}

/// `--add-missing-options`: it writes the schema of a data source, so it needs one (its schema
/// read from Notion or a file), a version that has data sources, and the whole input before
/// the first write (a file, or `--where`; standard input is read once).
fn missing_options(
    flags: &InputFlags,
    job: Option<&JobFile>,
    has_schema: bool,
    version: Version,
    path: &InputPath,
) -> Result<bool, ConfigError> {
    if !switch(flags.add_missing_options, job, |j| &j.add_missing_options) {
        return Ok(false);
    }
    let problem = if !has_schema {
        Some("needs the data source: give --data-source (or --schema-from / --schema-file)".into())
    } else if version < Version::V2025_09_03 {
        Some(format!(
            "adds options through PATCH /v1/data_sources/{{id}}, which Notion-Version {version} \
             does not have: use 2025-09-03 or later"
        ))
    } else if matches!(path, InputPath::Stdin) {
        Some(
            "reads the whole input for the options it names before the first write, and \
             standard input can be read only once: give the input as a file"
                .to_owned(),
        )
    } else {
        None
    };
    match problem {
        Some(p) => Err(ConfigError(format!("--add-missing-options {p}"))),
        None => Ok(true),
    }
}

/// One `--set PROPERTY=VALUE`; an empty value clears the property (`--set Due=`).
fn parse_set(text: &str) -> Result<(String, Value), ConfigError> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(ConfigError(format!(
            "--set {text:?}: write PROPERTY=VALUE (e.g. --set Status=Done, --set @in_trash=true)"
        )));
    };
    let value = match value.trim() {
        "" => Value::Null,
        v => Value::String(v.to_owned()),
    };
    Ok((key.trim().to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::EmptyCells;
    use crate::notion::Version;

    fn flags(input: &str) -> InputFlags {
        InputFlags {
            input: Some(input.into()),
            ..InputFlags::default()
        }
    }

    #[test]
    fn defaults_and_formats_from_extensions() {
        let c = InputConfig::resolve(&flags("rows.csv")).unwrap();
        assert_eq!(c.format, InputFormat::Csv { delimiter: b',' });
        assert_eq!(c.mapping, MappingOptions::default());
        assert_eq!(
            InputConfig::resolve(&flags("rows.tsv")).unwrap().format,
            InputFormat::Csv { delimiter: b'\t' }
        );
        assert_eq!(
            InputConfig::resolve(&flags("rows.ndjson")).unwrap().format,
            InputFormat::Jsonl
        );
        let err = InputConfig::resolve(&flags("rows.txt")).unwrap_err();
        assert!(err.0.contains("cannot tell the format"), "{err}");
        let err = InputConfig::resolve(&flags("-")).unwrap_err();
        assert!(err.0.contains("--format"), "{err}");
    }

    #[test]
    fn each_flag_is_checked() {
        let mut f = flags("-");
        f.format = Some("jsonl".into());
        assert_eq!(InputConfig::resolve(&f).unwrap().path, InputPath::Stdin);
        let mut f = flags("a.csv");
        f.delimiter = Some(";".into());
        f.separator = Some("|".into());
        f.empty = Some("clear".into());
        f.notion_version = Some("2022-06-28".into());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(c.format, InputFormat::Csv { delimiter: b';' });
        assert_eq!(
            (c.mapping.separator, c.mapping.empty, c.mapping.version),
            ('|', EmptyCells::Clear, Version::V2022_06_28)
        );
        type Set = fn(&mut InputFlags);
        let cases: [(Set, &str); 5] = [
            (
                |f: &mut InputFlags| f.empty = Some("blank".into()),
                "unknown --empty",
            ),
            (
                |f: &mut InputFlags| f.notion_version = Some("2020-01-01".into()),
                "unknown Notion-Version",
            ),
            (
                |f: &mut InputFlags| f.delimiter = Some("ab".into()),
                "one character",
            ),
            (|f: &mut InputFlags| f.delimiter = Some("§".into()), "ASCII"),
            (
                |f: &mut InputFlags| f.format = Some("xml".into()),
                "unknown --format",
            ),
        ];
        for (set, expected) in cases {
            let mut f = flags("a.csv");
            set(&mut f);
            let err = InputConfig::resolve(&f).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
    }

    #[test]
    fn the_command_line_wins_over_the_job_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.tsv\"\nseparator = \"|\"\nid_column = \"Page\"\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(c.path, InputPath::File(dir.path().join("rows.tsv")));
        assert_eq!(
            (c.mapping.separator, c.mapping.id_column.as_str()),
            ('|', "Page")
        );
        f.separator = Some(",".into());
        assert_eq!(InputConfig::resolve(&f).unwrap().mapping.separator, ',');
        std::fs::write(&job, "format = \"csv\"\n").unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("names no input"), "{err}");
    }

    #[test]
    fn the_schema_source_comes_from_the_flags_then_the_job_file() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nschema_file = \"tasks.json\"\n[constants]\nDone = true\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        assert_eq!(
            c.schema,
            Some(SchemaSource::File(dir.path().join("tasks.json")))
        );
        assert_eq!(
            c.mapping.constants,
            [("Done".to_string(), serde_json::json!(true))]
        );
        f.schema_from =
            Some("https://www.notion.so/acme/Tasks-6513270e269e4d37b2a74de452e6b438".into());
        assert!(matches!(
            InputConfig::resolve(&f).unwrap().schema,
            Some(SchemaSource::Fetch(_))
        ));
        std::fs::write(
            &job,
            "input = \"rows.csv\"\nschema_file = \"a.json\"\nschema_from = \"x\"\n",
        )
        .unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("both schema_from and schema_file"), "{err}");
        assert_eq!(InputConfig::resolve(&flags("a.csv")).unwrap().schema, None);
    }

    fn selecting(set: &[&str]) -> InputFlags {
        InputFlags {
            input: None,
            data_source: Some("ds".into()),
            where_: vec!["Status = Done".into()],
            set: set.iter().map(|s| s.to_string()).collect(),
            ..InputFlags::default()
        }
    }

    #[test]
    fn where_set_and_max_rows_select_the_pages_instead_of_an_input() {
        use crate::filter::Clause;
        let c = InputConfig::resolve(&selecting(&[
            "Status=Not started",
            "Due=",
            "@in_trash=true",
        ]))
        .unwrap();
        assert_eq!(c.path, InputPath::Selection);
        let s = c.selection.unwrap();
        assert_eq!(s.clauses, [Clause::Text("Status = Done".into())]);
        assert_eq!(
            s.set,
            [
                ("Status".to_string(), serde_json::json!("Not started")),
                ("Due".to_string(), serde_json::Value::Null),
                ("@in_trash".to_string(), serde_json::json!("true")),
            ]
        );
        assert_eq!(s.max_rows, DEFAULT_MAX_ROWS);
        type Set = fn(&mut InputFlags);
        let cases: [(Set, &str); 7] = [
            (|f| f.data_source = None, "--data-source"),
            (|f| f.set.clear(), "nothing says what to change"),
            (|f| f.set = vec!["Status".into()], "write PROPERTY=VALUE"),
            (|f| f.max_rows = Some(0), "at least 1"),
            (|f| f.input = Some("rows.csv".into()), "drop the input file"),
            (|f| f.where_.clear(), "--set goes with --where"),
            (
                |f| {
                    f.where_.clear();
                    f.set.clear();
                    f.max_rows = Some(5);
                },
                "--max-rows goes with --where",
            ),
        ];
        for (set, expected) in cases {
            let mut f = selecting(&["@in_trash=true"]);
            set(&mut f);
            let err = InputConfig::resolve(&f).unwrap_err();
            assert!(err.0.contains(expected), "{err}");
        }
        let err = InputConfig::resolve(&InputFlags::default()).unwrap_err();
        assert!(err.0.contains("no INPUT"), "{err}");
    }

    #[test]
    fn a_job_file_selects_with_where_and_constants_and_expects_with_expect() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.toml");
        std::fs::write(
            &job,
            "data_source = \"ds\"\nwhere = [\"Status = Done\", \"Priority = Low\"]\nmax_rows = 50\n\
             [constants]\n\"@in_trash\" = true\nPriority = \"Low\"\n[expect]\nStatus = \"Done\"\n",
        )
        .unwrap();
        let mut f = flags(job.to_str().unwrap());
        let c = InputConfig::resolve(&f).unwrap();
        let s = c.selection.clone().unwrap();
        assert_eq!((s.clauses.len(), s.max_rows), (2, 50));
        assert_eq!(s.set[0], ("@in_trash".to_string(), serde_json::json!(true)));
        // The constants are what the pages get, not constants of rows.
        assert!(c.mapping.constants.is_empty());
        assert_eq!(
            c.expect,
            [("Status".to_string(), serde_json::json!("Done"))]
        );
        // The command line adds to them, or replaces them key by key, and replaces the filter.
        f.set = vec!["Priority=High".into()];
        f.where_ = vec!["Status = Not started".into()];
        let s = InputConfig::resolve(&f).unwrap().selection.unwrap();
        assert_eq!(s.clauses.len(), 1);
        assert_eq!(
            s.set[1],
            ("Priority".to_string(), serde_json::json!("High"))
        );
        std::fs::write(&job, "input = \"rows.csv\"\nwhere = \"Status = Done\"\ndata_source = \"ds\"\n[constants]\nDone = true\n").unwrap();
        let err = InputConfig::resolve(&flags(job.to_str().unwrap())).unwrap_err();
        assert!(err.0.contains("drop the input file"), "{err}");
    }

    #[test]
    fn the_format_comes_from_the_flag_then_the_path() {
        let file = InputPath::File("rows.tsv".into());
        assert_eq!(
            format_of(Some("csv"), &file).unwrap(),
            InputFormat::Csv { delimiter: b',' }
        );
        assert_eq!(
            format_of(None, &file).unwrap(),
            InputFormat::Csv { delimiter: b'\t' }
        );
        assert_eq!(
            format_of(None, &InputPath::Selection).unwrap(),
            InputFormat::Jsonl
        );
        assert_eq!(
            format_of(Some("ndjson"), &InputPath::Stdin).unwrap(),
            InputFormat::Jsonl
        );
        let err = format_of(None, &InputPath::Stdin).unwrap_err();
        assert_eq!(
            err.0,
            "reading standard input needs --format csv or --format jsonl"
        );
        let csv = InputFormat::Csv { delimiter: b',' };
        assert_eq!(
            with_delimiter(csv, Some(';')).unwrap(),
            InputFormat::Csv { delimiter: b';' }
        );
        assert_eq!(
            with_delimiter(InputFormat::Jsonl, Some(';')).unwrap(),
            InputFormat::Jsonl
        );
        let err = with_delimiter(csv, Some('§')).unwrap_err();
        assert_eq!(err.0, "--delimiter must be an ASCII character, got '§'");
    }

    #[test]
    fn empty_cells_columns_and_keys_are_checked() {
        assert_eq!(empty_cells(None).unwrap(), EmptyCells::Skip);
        assert_eq!(empty_cells(Some("clear")).unwrap(), EmptyCells::Clear);
        assert!(empty_cells(Some("blank")).is_err());
        let list = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(
            columns_only(list(&[" SKU", "", "Price "])).unwrap(),
            Some(vec!["SKU".to_string(), "Price".to_string()])
        );
        assert_eq!(columns_only(None).unwrap(), None);
        let err = columns_only(list(&[" ", ""])).unwrap_err();
        assert!(err.0.starts_with("--columns names no column"), "{err}");
        assert_eq!(key_lookup(None).unwrap(), KeyLookup::Auto);
        assert_eq!(key_lookup(Some("batch")).unwrap(), KeyLookup::Batch);
        let err = key_lookup(Some("fast")).unwrap_err();
        assert_eq!(
            err.0,
            "unknown --key-lookup \"fast\": expected auto, scan or batch"
        );
    }

    #[test]
    fn a_thousands_separator_is_not_how_numbers_are_written() {
        let mut f = flags("a.csv");
        f.thousands_separator = Some(" ".into());
        f.decimal_comma = true;
        let numbers = number_format(&f, None).unwrap();
        assert_eq!(
            (numbers.decimal_comma, numbers.thousands),
            (true, Some(' '))
        );
        for (decimal_comma, t, reason) in [
            (true, ",", "when it also marks decimals"),
            (false, ".", "when it also marks decimals"),
            (false, "3", "it is part of how numbers are written"),
            (false, "e", "it is part of how numbers are written"),
        ] {
            f.decimal_comma = decimal_comma;
            f.thousands_separator = Some(t.into());
            let err = number_format(&f, None).unwrap_err();
            assert!(err.0.contains(reason), "{t}: {err}");
        }
        let job = JobFile {
            decimal_comma: Some(true),
            thousands_separator: Some(".".into()),
            ..JobFile::default()
        };
        let numbers = number_format(&flags("a.csv"), Some(&job)).unwrap();
        assert_eq!(
            (numbers.decimal_comma, numbers.thousands),
            (true, Some('.'))
        );
    }

    #[test]
    fn the_time_zone_message_names_where_it_came_from() {
        let job = JobFile {
            time_zone: Some("Mars/Olympus".into()),
            ..JobFile::default()
        };
        let err = time_zone(&flags("a.csv"), Some(&job)).unwrap_err();
        assert!(err.0.starts_with("the job file's time_zone "), "{err}");
        let mut f = flags("a.csv");
        f.time_zone = Some("Europe/Paris".into());
        assert_eq!(
            time_zone(&f, Some(&job)).unwrap().as_deref(),
            Some("Europe/Paris")
        );
        f.time_zone = Some("Nowhere".into());
        let err = time_zone(&f, None).unwrap_err();
        assert!(err.0.starts_with("--time-zone "), "{err}");
    }

    #[test]
    fn a_data_source_reads_its_own_schema() {
        let mut f = flags("a.csv");
        assert_eq!(
            schema_source(&f, None, Some("ds")).unwrap(),
            Some(SchemaSource::Fetch("ds".into()))
        );
        f.schema_from = Some("ds".into());
        assert_eq!(
            schema_source(&f, None, Some("ds")).unwrap(),
            Some(SchemaSource::Fetch("ds".into()))
        );
        f.schema_from = Some("other".into());
        let err = schema_source(&f, None, Some("ds")).unwrap_err();
        assert!(
            err.0
                .starts_with("--data-source reads the data source's schema itself"),
            "{err}"
        );
    }

    #[test]
    fn set_values_are_property_equals_value() {
        assert_eq!(
            parse_set(" Status = Done ").unwrap(),
            ("Status".to_string(), serde_json::json!("Done"))
        );
        assert_eq!(parse_set("Due=").unwrap(), ("Due".to_string(), Value::Null));
        let err = parse_set("Status").unwrap_err();
        assert!(err.0.contains("write PROPERTY=VALUE"), "{err}");
    }
}

//! Reading rows: CSV (`.csv`, `.tsv`), JSONL (`.jsonl`, `.ndjson`) or standard input, streamed
//! one row at a time so memory stays flat whatever the file size; job files (`.toml`) that
//! name an input and its mapping; and the rows a filter selects (SPEC §11: one row per page,
//! made by `select`).

pub mod encoding;
mod quote;

pub use encoding::InputEncoding;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::notion::NotionId;
use quote::QuoteWatch;

/// Where rows come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputPath {
    Stdin,
    File(PathBuf),
    /// No file: the pages a filter selects (`--where`), one row each.
    Selection,
}

impl InputPath {
    pub fn from_arg(arg: &str) -> InputPath {
        if arg == "-" {
            InputPath::Stdin
        } else {
            InputPath::File(PathBuf::from(arg))
        }
    }

    /// For messages: the path, or "standard input".
    pub fn display(&self) -> String {
        match self {
            InputPath::Stdin => "standard input".into(),
            InputPath::File(p) => p.display().to_string(),
            InputPath::Selection => "the pages --where selects".into(),
        }
    }
}

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Csv { delimiter: u8 },
    Jsonl,
}

impl InputFormat {
    /// The format a file's extension implies: `.csv`, `.tsv` (tab), `.jsonl`, `.ndjson`.
    pub fn from_extension(path: &Path) -> Option<InputFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(InputFormat::Csv { delimiter: b',' }),
            "tsv" | "tab" => Some(InputFormat::Csv { delimiter: b'\t' }),
            "jsonl" | "ndjson" => Some(InputFormat::Jsonl),
            _ => None,
        }
    }
}

/// One input row: its 1-based data row number, the line it starts on, and its raw record.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceRow {
    pub row: u64,
    pub line: u64,
    pub record: Record,
}

/// An input file as the stages that read it ahead see it (the key lookups): where it is and
/// how it is read.
#[derive(Debug, Clone, Copy)]
pub struct InputFile<'a> {
    pub path: &'a InputPath,
    pub format: InputFormat,
    pub encoding: InputEncoding,
}

impl SourceRow {
    /// The row's content as read (each CSV field, or the JSONL line), as 16 hex digits of
    /// its SHA-256: what the report records so that `--resume` can tell the row it recorded
    /// from an edited or moved one.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        match &self.record {
            Record::Csv(record) => {
                hasher.update(b"csv");
                for field in record {
                    // Each field's length first, so that field boundaries count.
                    hasher.update((field.len() as u64).to_le_bytes());
                    hasher.update(field);
                }
            }
            Record::Json(line) => {
                hasher.update(b"json");
                hasher.update(line);
            }
        }
        hasher
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A row's raw content, kept as read so that `--failed-out` can write it back as it was.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Csv(csv::ByteRecord),
    /// One JSONL line without its line ending.
    Json(Vec<u8>),
}

/// The input cannot be read at all (as opposed to a bad row).
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot open {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("cannot read {path} after row {row}: {source}")]
    Read {
        path: String,
        row: u64,
        source: io::Error,
    },
    #[error("{path}: the header row is not valid UTF-8: save the file as UTF-8, or name its encoding with --encoding (e.g. windows-1252)")]
    HeaderEncoding { path: String },
    #[error("{path} is empty: expected a header row")]
    NoHeader { path: String },
    /// The csv crate would read everything after the quote, to the end of the file, as one
    /// cell.
    #[error(
        "{path}: the quote that opens {cell} on line {line} is never closed, so everything after \
         it to the end of the file would be read as that one cell. Close the quote, or double \
         each \" that is part of the text (\"\"), then run again"
    )]
    UnclosedQuote {
        path: String,
        line: u64,
        /// Which cell: one of the header row, or a row's in a column.
        cell: String,
    },
    #[error(
        "{path}: line {line} (row {row}) has {found} cells but the header has {expected}. A cell \
         that holds the delimiter ({delimiter}) or a line break must be in double quotes: fix \
         that line (or a quote left open above it), then run again"
    )]
    Width {
        path: String,
        line: u64,
        row: u64,
        found: usize,
        expected: usize,
        delimiter: String,
    },
}

/// A streaming reader of rows.
pub struct Source {
    path: String,
    next_row: u64,
    kind: Kind,
}

enum Kind {
    Csv {
        reader: csv::Reader<QuoteWatch<Box<dyn Read + Send>>>,
        headers: Vec<String>,
        /// Lines end in CRLF: the csv reader then counts a record from the previous line's
        /// `\n`, one line early.
        crlf: bool,
    },
    Jsonl {
        reader: BufReader<Box<dyn Read + Send>>,
        line: u64,
    },
    /// One flat JSONL line per selected page: `{"<id key>":"<page>",<rest>}`, numbered as
    /// given (a page keeps its row across resumed runs).
    Selection {
        pages: std::vec::IntoIter<(u64, NotionId)>,
        count: u64,
        id_key: String,
        rest: String,
    },
}

impl Source {
    /// Opens the input, decoded from `encoding`; for CSV, reads the header row.
    pub fn open(
        path: &InputPath,
        format: InputFormat,
        encoding: InputEncoding,
    ) -> Result<Source, SourceError> {
        let name = path.display();
        let raw: Box<dyn Read + Send> = match path {
            // Filled in once the filter's pages are known (`Source::selection`).
            InputPath::Selection => return Ok(Source::selection(Vec::new(), "page_id", "")),
            InputPath::Stdin => Box::new(io::stdin()),
            InputPath::File(p) => Box::new(File::open(p).map_err(|source| SourceError::Open {
                path: name.clone(),
                source,
            })?),
        };
        let decoded = encoding::decode(raw, encoding).map_err(|source| SourceError::Read {
            path: name.clone(),
            row: 0,
            source,
        })?;
        let crlf = first_line_ends_in_crlf(&decoded.head);
        let raw: Box<dyn Read + Send> =
            Box::new(io::Cursor::new(decoded.head).chain(decoded.reader));
        let kind = match format {
            InputFormat::Csv { delimiter } => {
                // Flexible: a line of the wrong width is reported by `read`, with its line.
                let mut reader = csv::ReaderBuilder::new()
                    .delimiter(delimiter)
                    .flexible(true)
                    .has_headers(true)
                    .buffer_capacity(256 * 1024)
                    .from_reader(QuoteWatch::new(raw, delimiter));
                let header = reader
                    .byte_headers()
                    .map_err(|e| SourceError::Read {
                        path: name.clone(),
                        row: 0,
                        source: io::Error::other(e),
                    })?
                    .clone();
                if header.is_empty() {
                    return Err(SourceError::NoHeader { path: name });
                }
                check_shape(&reader, &header, &[], (1, 0), &name)?;
                let headers = header
                    .iter()
                    .map(|h| std::str::from_utf8(h).map(|s| s.trim().to_owned()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| SourceError::HeaderEncoding { path: name.clone() })?;
                Kind::Csv {
                    reader,
                    headers,
                    crlf,
                }
            }
            InputFormat::Jsonl => Kind::Jsonl {
                reader: BufReader::with_capacity(256 * 1024, raw),
                line: 0,
            },
        };
        Ok(Source {
            path: name,
            next_row: 1,
            kind,
        })
    }

    /// The rows of a filter's pages: for each `(row, page)`, the flat JSONL line
    /// `{"<id_key>":"<page>",<rest>}` (`rest`: the other members, the values to set).
    pub fn selection(pages: Vec<(u64, NotionId)>, id_key: &str, rest: &str) -> Source {
        Source {
            path: InputPath::Selection.display(),
            next_row: 1,
            kind: Kind::Selection {
                count: pages.len() as u64,
                pages: pages.into_iter(),
                id_key: serde_json::to_string(id_key).expect("a string serialises"),
                rest: rest.to_owned(),
            },
        }
    }

    /// How many rows there are, when known before reading them (a selection).
    pub fn known_rows(&self) -> Option<u64> {
        match &self.kind {
            Kind::Selection { count, .. } => Some(*count),
            _ => None,
        }
    }

    /// The CSV header, trimmed, without a byte-order mark; `None` for JSONL.
    pub fn headers(&self) -> Option<&[String]> {
        match &self.kind {
            Kind::Csv { headers, .. } => Some(headers),
            Kind::Jsonl { .. } | Kind::Selection { .. } => None,
        }
    }

    /// A row to pass to [`Source::read`] again and again, so the loop allocates nothing.
    pub fn empty_row(&self) -> SourceRow {
        SourceRow {
            row: 0,
            line: 0,
            record: match self.kind {
                Kind::Csv { .. } => Record::Csv(csv::ByteRecord::new()),
                Kind::Jsonl { .. } | Kind::Selection { .. } => Record::Json(Vec::new()),
            },
        }
    }

    /// Reads the next row into `row`; `false` at the end of the input.
    pub fn read(&mut self, row: &mut SourceRow) -> Result<bool, SourceError> {
        let read_error = |source, row| SourceError::Read {
            path: self.path.clone(),
            row,
            source,
        };
        let found = match (&mut self.kind, &mut row.record) {
            (
                Kind::Csv {
                    reader,
                    headers,
                    crlf,
                },
                Record::Csv(record),
            ) => {
                let found = reader
                    .read_byte_record(record)
                    .map_err(|e| read_error(io::Error::other(e), self.next_row - 1))?;
                row.line = record.position().map_or(0, |p| p.line()) + u64::from(*crlf);
                if found {
                    check_shape(
                        reader,
                        record,
                        headers,
                        (row.line, self.next_row),
                        &self.path,
                    )?;
                }
                found
            }
            (Kind::Jsonl { reader, line }, Record::Json(buf)) => loop {
                buf.clear();
                let n = reader
                    .read_until(b'\n', buf)
                    .map_err(|e| read_error(e, self.next_row - 1))?;
                if n == 0 {
                    break false;
                }
                *line += 1;
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                row.line = *line;
                break true;
            },
            (
                Kind::Selection {
                    pages,
                    id_key,
                    rest,
                    ..
                },
                Record::Json(buf),
            ) => {
                let Some((number, page)) = pages.next() else {
                    return Ok(false);
                };
                buf.clear();
                let sep = if rest.is_empty() { "" } else { "," };
                buf.extend_from_slice(format!("{{{id_key}:\"{page}\"{sep}{rest}}}").as_bytes());
                (row.row, row.line) = (number, number);
                return Ok(true);
            }
            _ => unreachable!("a row from Source::empty_row matches its source"),
        };
        if found {
            row.row = self.next_row;
            self.next_row += 1;
        }
        Ok(found)
    }
}

/// A CSV record's shape, before it is mapped: its last cell is not a quote left open to the end
/// of the input, and it has as many cells as the header. `row` 0 is the header row itself.
fn check_shape<R: Read>(
    reader: &csv::Reader<QuoteWatch<R>>,
    record: &csv::ByteRecord,
    headers: &[String],
    (line, row): (u64, u64),
    path: &str,
) -> Result<(), SourceError> {
    let watch = reader.get_ref();
    if watch.ended_in_quotes() == Some(reader.position().byte()) {
        // This record ends at the end of the input: the open cell is its last. Its quote opens
        // on the record's line plus the line breaks in the quoted cells before it.
        let last = record.len().saturating_sub(1);
        let breaks: usize = (0..last)
            .map(|i| record[i].iter().filter(|&&b| b == b'\n').count())
            .sum();
        let cell = match headers.get(last) {
            _ if row == 0 => "a cell of the header row".to_owned(),
            Some(h) => format!("row {row}'s cell in column {h:?}"),
            None => format!("row {row}'s cell {}", last + 1),
        };
        return Err(SourceError::UnclosedQuote {
            path: path.to_owned(),
            line: line + breaks as u64,
            cell,
        });
    }
    if row > 0 && record.len() != headers.len() {
        return Err(SourceError::Width {
            path: path.to_owned(),
            line,
            row,
            found: record.len(),
            expected: headers.len(),
            delimiter: match watch.delimiter() {
                b'\t' => "a tab".into(),
                d => format!("{:?}", char::from(d)),
            },
        });
    }
    Ok(())
}

/// Whether the first line of `head` ends in CRLF.
fn first_line_ends_in_crlf(head: &[u8]) -> bool {
    head.iter()
        .position(|&b| b == b'\n')
        .is_some_and(|i| i > 0 && head[i - 1] == b'\r')
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    fn file(contents: &[u8], ext: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
        f.write_all(contents).unwrap();
        f
    }

    /// Every row a source reads.
    pub(crate) fn rows(source: &mut Source) -> Vec<SourceRow> {
        let mut row = source.empty_row();
        let mut out = Vec::new();
        while source.read(&mut row).unwrap() {
            out.push(row.clone());
        }
        out
    }

    #[test]
    fn csv_with_bom_crlf_and_quoted_newlines() {
        let f = file(
            b"\xEF\xBB\xBFpage_id , Notes:text\r\nabc,\"two\r\nlines\"\r\ndef,x\r\n",
            ".csv",
        );
        {
            let g = file(
                b"a,b
c,d
e,f
",
                ".csv",
            );
            let mut s = Source::open(
                &InputPath::File(g.path().into()),
                InputFormat::Csv { delimiter: b',' },
                InputEncoding::Utf8,
            )
            .unwrap();
            assert_eq!(
                rows(&mut s)
                    .iter()
                    .map(|r| (r.row, r.line))
                    .collect::<Vec<_>>(),
                [(1, 2), (2, 3)]
            );
        }
        let format = InputFormat::from_extension(f.path()).unwrap();
        let mut source = Source::open(
            &InputPath::File(f.path().into()),
            format,
            InputEncoding::Utf8,
        )
        .unwrap();
        assert_eq!(source.headers().unwrap(), ["page_id", "Notes:text"]);
        let rows = rows(&mut source);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].row, rows[0].line), (1, 2));
        assert_eq!((rows[1].row, rows[1].line), (2, 4));
        let Record::Csv(r) = &rows[0].record else {
            panic!()
        };
        assert_eq!(&r[1], b"two\r\nlines");
    }

    /// The error reading `contents` (a CSV file) ends with, after the rows it read.
    fn shape_error(contents: &[u8], delimiter: u8) -> (usize, String) {
        let f = file(contents, ".csv");
        let mut source = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter },
            InputEncoding::Utf8,
        )
        .unwrap();
        let mut row = source.empty_row();
        let mut read = 0;
        loop {
            match source.read(&mut row) {
                Ok(true) => read += 1,
                Ok(false) => panic!("no error in {contents:?}"),
                Err(e) => return (read, e.to_string()),
            }
        }
    }

    #[test]
    fn a_quote_left_open_or_a_line_of_the_wrong_width_is_an_error_naming_its_line() {
        // The open quote is on line 3: its row starts on line 2 with a cell of two lines.
        let (read, e) = shape_error(b"id,A,B\r\n1,\"x\r\ny\",\"oops\r\n2,a,b\r\n", b',');
        assert_eq!(read, 0, "the swallowing row is not a row");
        assert!(e.contains("row 1's cell in column \"B\" on line 3"), "{e}");
        let (read, e) = shape_error(b"id\tA\n1\ta\n2\ta\tb\n", b'\t');
        assert_eq!(read, 1);
        assert!(
            e.contains("line 3 (row 2) has 3 cells but the header has 2"),
            "{e}"
        );
        assert!(e.contains("the delimiter (a tab)"), "{e}");
        let f = file(b"id,\"A\n1,2\n", ".csv");
        let e = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter: b',' },
            InputEncoding::Utf8,
        )
        .err()
        .unwrap();
        assert!(
            e.to_string().contains("a cell of the header row on line 1"),
            "{e}"
        );
    }

    #[test]
    fn a_selection_reads_one_flat_line_per_page_numbered_as_given() {
        let (a, b) = (NotionId::from_u128(1), NotionId::from_u128(2));
        let mut source = Source::selection(vec![(7, a), (2, b)], "page_id", "\"@in_trash\":true");
        assert_eq!(source.known_rows(), Some(2));
        assert_eq!(source.headers(), None);
        let rows = rows(&mut source);
        assert_eq!(
            rows.iter().map(|r| (r.row, r.line)).collect::<Vec<_>>(),
            [(7, 7), (2, 2)]
        );
        assert_eq!(
            rows[0].record,
            Record::Json(format!("{{\"page_id\":\"{a}\",\"@in_trash\":true}}").into_bytes())
        );
    }

    #[test]
    fn tsv_and_jsonl_by_extension() {
        assert_eq!(
            InputFormat::from_extension(Path::new("a.TSV")),
            Some(InputFormat::Csv { delimiter: b'\t' })
        );
        assert_eq!(
            InputFormat::from_extension(Path::new("a.ndjson")),
            Some(InputFormat::Jsonl)
        );
        assert_eq!(InputFormat::from_extension(Path::new("a.txt")), None);
    }

    #[test]
    fn jsonl_skips_blank_lines_but_counts_them() {
        let f = file(b"{\"a\":1}\r\n\n  \n{\"b\":2}", ".jsonl");
        let mut source = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Jsonl,
            InputEncoding::Utf8,
        )
        .unwrap();
        let rows = rows(&mut source);
        assert_eq!(
            rows.iter().map(|r| (r.row, r.line)).collect::<Vec<_>>(),
            [(1, 1), (2, 4)]
        );
        assert_eq!(rows[1].record, Record::Json(b"{\"b\":2}".to_vec()));
    }

    #[test]
    fn unreadable_inputs() {
        let err = Source::open(
            &InputPath::File("/no/such/file.csv".into()),
            InputFormat::Csv { delimiter: b',' },
            InputEncoding::Utf8,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("cannot open /no/such/file.csv"),
            "{err}"
        );
        let f = file(b"", ".csv");
        let err = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter: b',' },
            InputEncoding::Utf8,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("is empty"), "{err}");
        let f = file(b"page_id,N\xff:text\n", ".csv");
        let err = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter: b',' },
            InputEncoding::Utf8,
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
        assert!(err.to_string().contains("--encoding"), "{err}");
    }

    #[test]
    fn a_windows_1252_semicolon_file_reads_as_utf8_and_a_jsonl_mark_is_dropped() {
        let f = file(b"page_id;Name;Price\r\nabc;Caf\xE9;12,50\r\n", ".csv");
        let mut source = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Csv { delimiter: b';' },
            InputEncoding::from_name("windows-1252").unwrap(),
        )
        .unwrap();
        assert_eq!(source.headers().unwrap(), ["page_id", "Name", "Price"]);
        let read = rows(&mut source);
        let Record::Csv(r) = &read[0].record else {
            panic!()
        };
        assert_eq!(&r[1], "Café".as_bytes());
        assert_eq!((read[0].row, read[0].line), (1, 2));

        let f = file("\u{FEFF}{\"a\":1}\n".as_bytes(), ".jsonl");
        let mut source = Source::open(
            &InputPath::File(f.path().into()),
            InputFormat::Jsonl,
            InputEncoding::Utf8,
        )
        .unwrap();
        assert_eq!(
            rows(&mut source)[0].record,
            Record::Json(b"{\"a\":1}".to_vec())
        );
    }
}

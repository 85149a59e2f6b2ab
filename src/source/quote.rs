//! What the csv crate does not report: a quoted cell still open when the input ends. csv-core
//! then ends the record at the end of the file without a word, with everything after the
//! opening quote in that one cell (a stray `"` would turn the rest of the file into one title).
//!
//! [`QuoteWatch`] sits under the CSV reader and follows, over the bytes the reader takes, the
//! grammar the reader is built with in [`Source::open`](super::Source::open): csv-core's
//! defaults, where a `"` opens a quoted cell only as the cell's first byte, `""` inside one
//! stands for a quote, there is no escape byte and no comment, and a record ends at `\r` or
//! `\n`. [`QuoteWatch::ended_in_quotes`] then says whether the input ended inside a quoted cell.

use std::io::{self, Read};

/// Where the bytes read so far leave the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a cell (or of a record).
    CellStart,
    /// In a cell that did not open with a quote: a quote there is text.
    Unquoted,
    /// In a quoted cell.
    Quoted,
    /// Just after a quote in a quoted cell: a second one is an escaped quote, anything else
    /// closes the quoting.
    QuoteInQuoted,
}

/// A reader that passes its input through, following the quoting of the CSV in it.
pub struct QuoteWatch<R> {
    inner: R,
    delimiter: u8,
    state: State,
    /// Bytes passed through.
    read: u64,
    /// The inner reader has said it has nothing more.
    at_end: bool,
}

impl<R> QuoteWatch<R> {
    pub fn new(inner: R, delimiter: u8) -> QuoteWatch<R> {
        QuoteWatch {
            inner,
            delimiter,
            state: State::CellStart,
            read: 0,
            at_end: false,
        }
    }

    /// The delimiter followed.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// With the whole input read and its last cell still quoted: the input's length in bytes
    /// (the end of the record that holds that cell).
    pub fn ended_in_quotes(&self) -> Option<u64> {
        (self.at_end && self.state == State::Quoted).then_some(self.read)
    }
}

impl<R: Read> Read for QuoteWatch<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        self.read += n as u64;
        self.state = advance(self.state, self.delimiter, &buf[..n]);
        Ok(n)
    }
}

/// The state after `bytes`, from `state`.
fn advance(mut state: State, delimiter: u8, mut bytes: &[u8]) -> State {
    let ends_cell = |b: u8| b == delimiter || b == b'\r' || b == b'\n';
    while let Some(&b) = bytes.first() {
        // Long runs inside a cell are skipped in one step.
        let (next, used) = match state {
            State::Quoted => match bytes.iter().position(|&b| b == b'"') {
                Some(i) => (State::QuoteInQuoted, i + 1),
                None => return State::Quoted,
            },
            State::Unquoted => match bytes.iter().position(|&b| ends_cell(b)) {
                Some(i) => (State::CellStart, i + 1),
                None => return State::Unquoted,
            },
            // The quote is looked at first, as csv-core does.
            State::CellStart | State::QuoteInQuoted if b == b'"' => (State::Quoted, 1),
            State::CellStart | State::QuoteInQuoted if ends_cell(b) => (State::CellStart, 1),
            State::CellStart | State::QuoteInQuoted => (State::Unquoted, 1),
        };
        state = next;
        bytes = &bytes[used..];
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether csv-core itself ends `text` inside a quoted cell: with a marker appended, a
    /// quoted cell still open at the end swallows the marker's newline and closes at its
    /// quote, leaving `\n\0"` at the end of the last cell (the second quote is text there);
    /// otherwise the newline ends the text's last record and the marker is a record of its
    /// own, `\0` alone.
    fn csv_core_ends_in_quotes(text: &[u8], delimiter: u8) -> bool {
        let mut input = text.to_vec();
        input.extend_from_slice(b"\n\"\0\"");
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .has_headers(false)
            .buffer_capacity(64)
            .from_reader(&input[..]);
        let records: Vec<csv::ByteRecord> = reader.byte_records().map(Result::unwrap).collect();
        let last = records.last().unwrap();
        last.get(last.len() - 1).unwrap().ends_with(b"\n\0\"")
    }

    fn watch_ends_in_quotes(text: &[u8], delimiter: u8, chunk: usize) -> bool {
        let mut watch = QuoteWatch::new(text, delimiter);
        let mut buf = [0; 64];
        let buf = &mut buf[..chunk];
        while watch.read(buf).unwrap() > 0 {}
        watch.ended_in_quotes() == Some(text.len() as u64)
    }

    #[test]
    fn agrees_with_csv_core_on_every_short_input() {
        // Every text of up to 6 bytes over the bytes that matter, read in chunks of 1 and 3.
        let alphabet = [b'a', b'"', b',', b'\n', b'\r'];
        let mut texts = vec![Vec::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for text in &texts {
                for &b in &alphabet {
                    let mut t: Vec<u8> = text.clone();
                    t.push(b);
                    let expected = csv_core_ends_in_quotes(&t, b',');
                    for chunk in [1, 3] {
                        assert_eq!(
                            watch_ends_in_quotes(&t, b',', chunk),
                            expected,
                            "{:?} read {chunk} at a time",
                            String::from_utf8_lossy(&t)
                        );
                    }
                    checked += 1;
                    longer.push(t);
                }
            }
            texts = longer;
        }
        assert_eq!(checked, 19_530);
    }

    #[test]
    fn a_cell_quoted_on_several_lines_is_closed_and_an_open_one_is_not() {
        for (text, open) in [
            (&b"id,Notes\n1,\"two\nlines\"\n2,x\n"[..], false),
            (b"id,Notes\n1,\"say \"\"hi\"\"\"\n", false),
            (b"id,Notes\n1,5\" screen\n", false),
            (b"id,Notes\n1,\"oops\n2,x\n3,y\n", true),
            (b"id,Notes\n1,\"ends on an escaped quote\"\"", true),
        ] {
            assert_eq!(watch_ends_in_quotes(text, b',', 64), open, "{text:?}");
            assert_eq!(csv_core_ends_in_quotes(text, b','), open, "{text:?}");
        }
        // The delimiter is the one the reader uses: a tab here.
        assert!(!watch_ends_in_quotes(b"id\tNotes\n1\t\"a\tb\"\n", b'\t', 7));
        assert!(watch_ends_in_quotes(b"id\tNotes\n1\t\"a\tb\n", b'\t', 7));
    }
}

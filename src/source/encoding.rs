//! The input's character encoding (`--encoding`): UTF-8 unless told otherwise, decoded as a
//! stream (encoding_rs through encoding_rs_io) so that memory stays flat whatever the file
//! size. Everything after the reader sees UTF-8.
//!
//! Without `--encoding`, a file that starts with a UTF-16 byte-order mark (Excel's "Unicode
//! text") is decoded as UTF-16 and a UTF-8 mark is dropped; other bytes pass through untouched,
//! so that a cell that is not UTF-8 is reported on its own row. With `--encoding`, a byte-order
//! mark still wins over the name given: a file written as UTF-8 with a mark (as `--failed-out`
//! writes one from a non-UTF-8 input) reads back right under the same flags.

use std::io::{self, Read};

use encoding_rs::Encoding;
use encoding_rs_io::DecodeReaderBytesBuilder;

/// How the input's bytes become text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum InputEncoding {
    /// UTF-8 (a UTF-16 byte-order mark is still honoured).
    #[default]
    Utf8,
    /// UTF-16, little or big endian as the file's byte-order mark says; a mark is required.
    Utf16WithBom,
    /// Any other encoding encoding_rs knows (windows-1252, iso-8859-15, utf-16le, ...).
    Other(&'static Encoding),
}

/// The names the README and error messages suggest.
pub const COMMON_NAMES: &str =
    "utf-8, windows-1252, iso-8859-1, iso-8859-15, utf-16 (with a byte-order mark), utf-16le, utf-16be";

impl InputEncoding {
    /// Parses an encoding name (WHATWG labels, case-insensitive: `windows-1252`, `cp1252`,
    /// `latin1`, `iso-8859-15`, `utf-16`, ...).
    pub fn from_name(name: &str) -> Result<InputEncoding, String> {
        let label = name.trim().to_ascii_lowercase();
        if label == "utf-16" || label == "utf16" {
            return Ok(InputEncoding::Utf16WithBom);
        }
        match Encoding::for_label(label.as_bytes()) {
            Some(e) if e == encoding_rs::UTF_8 => Ok(InputEncoding::Utf8),
            Some(e) if e == encoding_rs::REPLACEMENT => Err(format!(
                "--encoding {name:?} cannot be read (its decoder only yields errors); the common ones are: {COMMON_NAMES}"
            )),
            Some(e) => Ok(InputEncoding::Other(e)),
            None => Err(format!(
                "unknown --encoding {name:?}; the common ones are: {COMMON_NAMES}"
            )),
        }
    }

    /// For messages: the encoding's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            InputEncoding::Utf8 => "UTF-8",
            InputEncoding::Utf16WithBom => "UTF-16",
            InputEncoding::Other(e) => e.name(),
        }
    }

    /// Whether text read this way is UTF-8 as it stands in the file.
    pub fn is_utf8(self) -> bool {
        self == InputEncoding::Utf8
    }
}

/// What [`decode`] found at the start of the input.
pub struct Decoded {
    /// The input as UTF-8 (for [`InputEncoding::Utf8`] without a mark: the bytes as they are),
    /// without a byte-order mark.
    pub reader: Box<dyn Read + Send>,
    /// The first up to 64 KiB of `reader`'s output, already read from it: callers look at it
    /// (line endings) and must read it first.
    pub head: Vec<u8>,
}

/// How much of the input is looked at before reading starts.
const HEAD: u64 = 64 * 1024;

/// Wraps `raw` so that it yields UTF-8 without a byte-order mark.
pub fn decode(mut raw: Box<dyn Read + Send>, encoding: InputEncoding) -> io::Result<Decoded> {
    let mut head = Vec::with_capacity(HEAD as usize);
    (&mut raw).take(HEAD).read_to_end(&mut head)?;
    let utf16_bom = head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF");
    let chosen = match encoding {
        InputEncoding::Utf8 if !utf16_bom => {
            if head.starts_with(b"\xEF\xBB\xBF") {
                head.drain(..3);
            }
            return Ok(Decoded { reader: raw, head });
        }
        InputEncoding::Utf8 => None,
        InputEncoding::Utf16WithBom => {
            if !utf16_bom && !head.starts_with(b"\xEF\xBB\xBF") {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the file has no UTF-16 byte-order mark, so its byte order is unknown: pass \
                     --encoding utf-16le (Windows' usual) or utf-16be",
                ));
            }
            None
        }
        InputEncoding::Other(e) => Some(e),
    };
    let stream = io::Cursor::new(head).chain(raw);
    let mut decoder = DecodeReaderBytesBuilder::new()
        .encoding(chosen)
        .bom_override(true)
        .strip_bom(true)
        .build(stream);
    let mut head = Vec::with_capacity(HEAD as usize);
    (&mut decoder).take(HEAD).read_to_end(&mut head)?;
    Ok(Decoded {
        reader: Box::new(decoder),
        head,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: &[u8], encoding: InputEncoding) -> io::Result<String> {
        let d = decode(Box::new(io::Cursor::new(bytes.to_vec())), encoding)?;
        let mut out = d.head;
        let mut reader = d.reader;
        reader.read_to_end(&mut out)?;
        Ok(String::from_utf8(out).expect("decoded text is UTF-8"))
    }

    fn utf16le_with_bom(s: &str) -> Vec<u8> {
        let mut out = vec![0xFF, 0xFE];
        for unit in s.encode_utf16() {
            out.extend(unit.to_le_bytes());
        }
        out
    }

    #[test]
    fn names_parse_to_the_encodings_spreadsheets_write() {
        assert_eq!(InputEncoding::from_name("UTF-8"), Ok(InputEncoding::Utf8));
        assert_eq!(
            InputEncoding::from_name("utf-16"),
            Ok(InputEncoding::Utf16WithBom)
        );
        for (name, canonical) in [
            ("windows-1252", "windows-1252"),
            ("cp1252", "windows-1252"),
            // WHATWG decodes iso-8859-1 as windows-1252, a superset for the bytes 0x80-0x9F
            // that spreadsheets write.
            ("ISO-8859-1", "windows-1252"),
            ("latin1", "windows-1252"),
            ("iso-8859-15", "ISO-8859-15"),
            ("utf-16le", "UTF-16LE"),
            ("utf-16be", "UTF-16BE"),
        ] {
            let e = InputEncoding::from_name(name).unwrap();
            assert_eq!(e.name(), canonical, "{name}");
        }
        let err = InputEncoding::from_name("klingon").unwrap_err();
        assert!(err.contains("unknown --encoding \"klingon\""), "{err}");
        assert!(err.contains("windows-1252"), "{err}");
        assert!(InputEncoding::from_name("iso-2022-kr").is_err());
    }

    #[test]
    fn windows_1252_and_iso_8859_15_decode_to_utf8() {
        let cp1252 = InputEncoding::from_name("windows-1252").unwrap();
        assert_eq!(
            text(b"Caf\xE9;12,50 \x80\n", cp1252).unwrap(),
            "Café;12,50 €\n"
        );
        let latin9 = InputEncoding::from_name("iso-8859-15").unwrap();
        assert_eq!(text(b"\xA4 \xBD\n", latin9).unwrap(), "€ œ\n");
    }

    #[test]
    fn utf16_is_read_by_its_mark_with_or_without_the_flag() {
        let bytes = utf16le_with_bom("page_id\tName\r\nx\tCafé\r\n");
        for e in [InputEncoding::Utf8, InputEncoding::Utf16WithBom] {
            assert_eq!(text(&bytes, e).unwrap(), "page_id\tName\r\nx\tCafé\r\n");
        }
        let mut be = vec![0xFE, 0xFF];
        for unit in "é".encode_utf16() {
            be.extend(unit.to_be_bytes());
        }
        assert_eq!(text(&be, InputEncoding::Utf16WithBom).unwrap(), "é");
        let err = text(b"a\0b\0", InputEncoding::Utf16WithBom).unwrap_err();
        assert!(err.to_string().contains("utf-16le"), "{err}");
    }

    #[test]
    fn a_utf8_mark_wins_over_the_name_and_is_dropped() {
        let cp1252 = InputEncoding::from_name("windows-1252").unwrap();
        assert_eq!(text("\u{FEFF}Café".as_bytes(), cp1252).unwrap(), "Café");
        assert_eq!(
            text("\u{FEFF}Café".as_bytes(), InputEncoding::Utf8).unwrap(),
            "Café"
        );
    }

    #[test]
    fn without_the_flag_other_bytes_pass_through_for_the_row_to_report() {
        assert_eq!(
            decode(
                Box::new(io::Cursor::new(b"Caf\xE9".to_vec())),
                InputEncoding::Utf8
            )
            .unwrap()
            .head,
            b"Caf\xE9"
        );
    }

    #[test]
    fn a_long_input_is_decoded_past_the_head() {
        let line = "Café;1\n".repeat(20_000);
        let bytes: Vec<u8> = line
            .chars()
            .map(|c| if c == 'é' { 0xE9 } else { c as u8 })
            .collect();
        let cp1252 = InputEncoding::from_name("windows-1252").unwrap();
        assert_eq!(text(&bytes, cp1252).unwrap(), line);
    }
}

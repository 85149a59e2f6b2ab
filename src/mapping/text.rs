//! Text measured as Notion's servers measure it, in UTF-16 code units, and split into rich-text
//! items of at most 2000 units without cutting a character in two.

/// The most UTF-16 code units in one rich-text item's `text.content`.
pub const MAX_TEXT_UNITS: usize = 2000;
/// The most items in any array of a body (rich text, multi-select, relation, people, files).
pub const MAX_ARRAY_ITEMS: usize = 100;

/// Length in UTF-16 code units: an astral character (most emoji) counts two.
pub fn utf16_len(text: &str) -> usize {
    // Fast path: ASCII and most BMP text is one unit per char.
    text.chars().map(char::len_utf16).sum()
}

/// Splits `text` into pieces of at most [`MAX_TEXT_UNITS`] UTF-16 units, each ending on a
/// character boundary. Empty text gives no pieces.
pub fn split_text(text: &str) -> Vec<&str> {
    if text.len() <= MAX_TEXT_UNITS {
        // At most one UTF-16 unit per byte: this short text fits in one item.
        return if text.is_empty() { vec![] } else { vec![text] };
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut units = 0;
    for (i, c) in text.char_indices() {
        let w = c.len_utf16();
        if units + w > MAX_TEXT_UNITS {
            pieces.push(&text[start..i]);
            start = i;
            units = 0;
        }
        units += w;
    }
    pieces.push(&text[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_astral_characters_as_two_units() {
        assert_eq!(utf16_len("abc"), 3);
        assert_eq!(utf16_len("é"), 1);
        assert_eq!(utf16_len("😀"), 2);
        assert_eq!(utf16_len("a😀b"), 4);
    }

    #[test]
    fn short_text_is_one_piece() {
        assert_eq!(split_text("hello"), vec!["hello"]);
        assert!(split_text("").is_empty());
        let exactly = "x".repeat(2000);
        assert_eq!(split_text(&exactly), vec![exactly.as_str()]);
    }

    #[test]
    fn splits_at_2000_units() {
        let text = "x".repeat(4001);
        let pieces = split_text(&text);
        assert_eq!(
            pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [2000, 2000, 1]
        );
    }

    #[test]
    fn never_cuts_an_emoji_at_the_boundary() {
        // 1999 units, then an emoji (2 units) that would straddle unit 2000.
        let text = format!("{}😀tail", "x".repeat(1999));
        let pieces = split_text(&text);
        assert_eq!(pieces.len(), 2);
        assert_eq!(utf16_len(pieces[0]), 1999);
        assert_eq!(pieces[1], "😀tail");
        assert_eq!(pieces.concat(), text);
        // 1998 units then the emoji: exactly 2000, one piece.
        let text = format!("{}😀", "x".repeat(1998));
        assert_eq!(split_text(&text), vec![text.as_str()]);
        // All emoji: 1000 per piece.
        let text = "😀".repeat(2500);
        let pieces = split_text(&text);
        assert_eq!(
            pieces.iter().map(|p| utf16_len(p)).collect::<Vec<_>>(),
            [2000, 2000, 1000]
        );
        assert_eq!(pieces.concat(), text);
    }

    #[test]
    fn multi_byte_bmp_text_counts_by_units_not_bytes() {
        // 1500 "é" are 3000 bytes but 1500 units: one piece.
        let text = "é".repeat(1500);
        assert_eq!(split_text(&text).len(), 1);
        let text = "é".repeat(2001);
        let pieces = split_text(&text);
        assert_eq!(
            pieces.iter().map(|p| utf16_len(p)).collect::<Vec<_>>(),
            [2000, 1]
        );
    }
}

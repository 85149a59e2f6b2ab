//! "Did you mean …?": the closest known name to a misspelt one, and names that look the same
//! but are written with other code points (an accent typed as a separate mark, NFD, where
//! Notion has the precomposed letter, NFC) shown code point by code point.

use icu_normalizer::ComposingNormalizerBorrowed;

/// The candidate closest to `word` by edit distance (case-insensitive, letters compared in
/// their composed form, so that a look-alike is no edit away), if it is close enough to be a
/// likely typo: at most a third of the word's length, and at least one edit allowed.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_key = key(word);
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(&word_key, &key(c)), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `near` (a name [`closest`] found for `word`) for a message, quoted; when the two look the
/// same, both spelt out code point by code point, with what that means.
pub fn mention(word: &str, near: &str) -> String {
    if word != near && nfc(word) == nfc(near) {
        format!(
            "{} (you wrote {}: the same text with other code points, such as an accent typed as \
             a separate mark; copy the name as Notion has it)",
            code_points(near),
            code_points(word)
        )
    } else {
        format!("{near:?}")
    }
}

/// `text` quoted, with every character outside printable ASCII as its code point:
/// `"caf\u{e9}"`.
pub fn code_points(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

fn nfc(text: &str) -> std::borrow::Cow<'_, str> {
    ComposingNormalizerBorrowed::new_nfc().normalize(text)
}

/// What names are compared by: composed, lowercase.
fn key(text: &str) -> String {
    nfc(text).to_lowercase()
}

/// Edit distance over characters where swapping two neighbours counts as one edit (optimal
/// string alignment), so that "Staus" and "icno" are one typo away.
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_near_names_only() {
        let names = ["Status", "Priority", "Due date"];
        assert_eq!(closest("Staus", names), Some("Status"));
        assert_eq!(closest("status", names), Some("Status"));
        assert_eq!(closest("Due Date", names), Some("Due date"));
        assert_eq!(closest("Owner", names), None);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("icno", "icon"), 1);
    }

    #[test]
    fn a_look_alike_is_found_and_shown_code_point_by_code_point() {
        let (nfd, nfc) = ("cafe\u{301}", "caf\u{e9}");
        assert_eq!(closest(nfd, ["Caf\u{e9}", "cafes"]), Some("Caf\u{e9}"));
        assert_eq!(closest(nfc, [nfd]), Some(nfd));
        let shown = mention(nfd, nfc);
        assert!(
            shown.starts_with(r#""caf\u{e9}" (you wrote "cafe\u{301}": the same text"#),
            "{shown}"
        );
        // Not a look-alike: quoted as it is.
        assert_eq!(mention("Staus", "Status"), r#""Status""#);
        assert_eq!(mention("café", "Café"), "\"Café\"");
        assert_eq!(code_points("a \"b\"\\ é"), r#""a \"b\"\\ \u{e9}""#);
    }
}

//! The types of Notion page properties: the ones a PATCH can write and the ones it cannot.

use std::{fmt, str::FromStr};

use crate::spelling;

/// A Notion property type, as named in the API (`rich_text`, `multi_select`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyType {
    Title,
    RichText,
    Number,
    Select,
    Status,
    MultiSelect,
    Date,
    Checkbox,
    Url,
    Email,
    PhoneNumber,
    People,
    Relation,
    Files,
    /// A wiki page's verification: writable since 2026-03-25 (`verified`, with an optional
    /// date, or `unverified`).
    Verification,
    // Read-only: Notion computes these, a PATCH cannot set them.
    Formula,
    Rollup,
    CreatedTime,
    CreatedBy,
    LastEditedTime,
    LastEditedBy,
    UniqueId,
    Button,
}

const NAMES: [(&str, PropertyType); 23] = [
    ("title", PropertyType::Title),
    ("rich_text", PropertyType::RichText),
    ("number", PropertyType::Number),
    ("select", PropertyType::Select),
    ("status", PropertyType::Status),
    ("multi_select", PropertyType::MultiSelect),
    ("date", PropertyType::Date),
    ("checkbox", PropertyType::Checkbox),
    ("url", PropertyType::Url),
    ("email", PropertyType::Email),
    ("phone_number", PropertyType::PhoneNumber),
    ("people", PropertyType::People),
    ("relation", PropertyType::Relation),
    ("files", PropertyType::Files),
    ("formula", PropertyType::Formula),
    ("rollup", PropertyType::Rollup),
    ("created_time", PropertyType::CreatedTime),
    ("created_by", PropertyType::CreatedBy),
    ("last_edited_time", PropertyType::LastEditedTime),
    ("last_edited_by", PropertyType::LastEditedBy),
    ("unique_id", PropertyType::UniqueId),
    ("verification", PropertyType::Verification),
    ("button", PropertyType::Button),
];

impl PropertyType {
    /// The API's name for the type, which is also the key of its value in a body.
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(name, _)| *name)
            .unwrap_or("unknown")
    }

    /// The type Notion names exactly so (`multi_select`), without the aliases `from_str` takes.
    pub fn from_api_name(name: &str) -> Option<PropertyType> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// Whether Notion computes the value, so that no PATCH can write it.
    pub fn is_read_only(self) -> bool {
        matches!(
            self,
            PropertyType::Formula
                | PropertyType::Rollup
                | PropertyType::CreatedTime
                | PropertyType::CreatedBy
                | PropertyType::LastEditedTime
                | PropertyType::LastEditedBy
                | PropertyType::UniqueId
                | PropertyType::Button
        )
    }

    /// Whether a cell holds several values joined by the separator.
    pub fn is_multi_valued(self) -> bool {
        matches!(
            self,
            PropertyType::MultiSelect
                | PropertyType::People
                | PropertyType::Relation
                | PropertyType::Files
        )
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PropertyType {
    type Err = String;

    /// Accepts the API names, case-insensitively, and the aliases `text` (rich_text),
    /// `phone` (phone_number), `multiselect`/`multi-select`, `richtext`/`rich-text`.
    fn from_str(text: &str) -> Result<PropertyType, String> {
        let name = text.trim().to_ascii_lowercase().replace('-', "_");
        let name = match name.as_str() {
            "text" | "richtext" => "rich_text",
            "multiselect" => "multi_select",
            "phone" => "phone_number",
            other => other,
        };
        if let Some((_, t)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Ok(*t);
        }
        let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
        Err(match spelling::closest(name, known.iter().copied()) {
            Some(near) => format!("unknown property type {text:?} (did you mean {near:?}?)"),
            None => format!(
                "unknown property type {text:?}: expected one of {}",
                known[..14].join(", ")
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        for (name, t) in NAMES {
            assert_eq!(name.parse::<PropertyType>(), Ok(t));
            assert_eq!(t.as_str(), name);
        }
    }

    #[test]
    fn aliases_and_case() {
        assert_eq!("text".parse(), Ok(PropertyType::RichText));
        assert_eq!("Multi-Select".parse(), Ok(PropertyType::MultiSelect));
        assert_eq!("phone".parse(), Ok(PropertyType::PhoneNumber));
    }

    #[test]
    fn unknown_types_get_a_suggestion() {
        let err = "mutli_select".parse::<PropertyType>().unwrap_err();
        assert!(err.contains("did you mean \"multi_select\""), "{err}");
        let err = "zzzzzzzz".parse::<PropertyType>().unwrap_err();
        assert!(err.contains("expected one of title"), "{err}");
    }

    #[test]
    fn read_only_types() {
        assert!(PropertyType::Formula.is_read_only());
        assert!(PropertyType::UniqueId.is_read_only());
        assert!(!PropertyType::Status.is_read_only());
        assert!(!PropertyType::Verification.is_read_only());
    }
}

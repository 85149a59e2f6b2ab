//! Relation cells that name the related pages by a key of theirs (`Parts:relation[SKU]`, a
//! job file's `relation_key`), not by id: what the keys of one related data source found
//! ([`Related`], filled by the lookups before any row is mapped), and an item of Notion's
//! own CSV export form, `Title (https://www.notion.so/…)`, which names its page by the URL.

use std::collections::HashMap;
use std::sync::Arc;

use crate::mapping::key::KeySpec;
use crate::notion::NotionId;

/// What the keys of one relation column's related data source found.
#[derive(Debug, Clone)]
pub struct Related {
    /// The related data source's title, for messages.
    pub title: String,
    /// The key property there, with the same rules as `--match-on`.
    pub spec: Arc<KeySpec>,
    /// By canonical key. A key that is not here was looked up and no page has it.
    pub pages: HashMap<Box<str>, RelatedPage>,
}

/// What one key found.
#[derive(Debug, Clone, PartialEq)]
pub enum RelatedPage {
    One(NotionId),
    /// Several pages have the key: a row naming it is invalid, never given the first.
    Several(Vec<NotionId>),
    /// `plan --create-missing-related`: `apply` creates it; the made-up id stands for it.
    ToCreate(NotionId),
    /// `--create-missing-related` could not create it: why.
    NotCreated(String),
}

/// Why one key of a cell gives no page: the reason and the report's code.
pub type Unresolved = (String, &'static str);

impl Related {
    /// The page a key found. `Err`: why the row cannot be sent.
    pub fn page(&self, key: &str, canonical: &str) -> Result<NotionId, Unresolved> {
        let property = &self.spec.property;
        let title = &self.title;
        match self.pages.get(canonical) {
            Some(RelatedPage::One(id) | RelatedPage::ToCreate(id)) => Ok(*id),
            Some(RelatedPage::Several(pages)) => {
                Err((
                    format!(
                    "{} pages of {title:?} have {property} = {key:?} ({}): nothing was sent for \
                     this row; make the key unique in Notion, then run it again",
                    pages.len(),
                    pages.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
                ),
                    "ambiguous_key",
                ))
            }
            Some(RelatedPage::NotCreated(why)) => Err((
                format!(
                    "no page of {title:?} has {property} = {key:?}, and creating it failed: {why}; \
                     --resume tries again"
                ),
                "no_match",
            )),
            None => Err((
                format!(
                    "no page of {title:?} has {property} = {key:?} (pages in the trash never \
                     match): nothing was sent for this row; fix the key, or run with \
                     --create-missing-related to create the page"
                ),
                "no_match",
            )),
        }
    }
}

/// The page an item of Notion's CSV export names: `Title (https://www.notion.so/…-<id>)`.
pub fn export_form_id(item: &str) -> Option<NotionId> {
    let inner = item.trim().strip_suffix(')')?;
    let (_, url) = inner.rsplit_once(" (")?;
    let url = url.trim();
    (url.starts_with("https://") || url.starts_with("http://"))
        .then(|| NotionId::parse(url).ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_cell_names_its_page_by_the_url() {
        let id = "8d116ece173847d9bd9c172411e20b8f";
        let item = format!("Widget (left) (https://www.notion.so/Widget-{id})");
        assert_eq!(export_form_id(&item), NotionId::parse(id).ok());
        assert_eq!(export_form_id("SKU-12"), None);
        assert_eq!(export_form_id("Bolt (M4)"), None);
    }
}

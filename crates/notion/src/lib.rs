//! What the tool knows of the Notion API: ids, API versions, property types, data source
//! schemas, a page as read turned into request shape (`page_read`), the time zones a date may
//! name (`time_zone`), and the official `patch-page` request schema (`patch-page.schema.json`,
//! extracted from Notion's OpenAPI description by `scripts/extract-patch-schema.py`), and
//! the "did you mean" of its messages (`spelling`).
//!
//! It is the tool's ground floor, a crate of its own so that the compiler keeps it from
//! importing anything of the tool; `notion-bulk` re-exports it as `crate::notion` (and
//! `crate::spelling`).

pub mod client;
mod page_id;
pub mod page_read;
mod property_type;
pub mod schema;
pub mod spelling;
pub mod time_zone;
mod version;

pub use page_id::{IdError, NotionId};
pub use property_type::PropertyType;
pub use schema::Schema;
pub use version::Version;

/// The `patch-page` request-body schema from Notion's OpenAPI description, self-contained.
pub const PATCH_PAGE_SCHEMA: &str = include_str!("patch-page.schema.json");

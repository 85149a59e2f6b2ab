//! notion-bulk: apply many Notion page updates from CSV or JSONL.
pub mod sandbox;

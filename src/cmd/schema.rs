//! `notion-bulk schema ID_OR_URL`: read a data source's schema (and the workspace's users) once
//! and print it as the JSON that `--schema-file` reads back. The schema itself lives in
//! [`crate::notion::schema`]; how it is read, in [`crate::scan::schema`].

use std::io::Write;

use crate::config::SchemaConfig;
use crate::exit::Exit;
use crate::notion::schema::SchemaSource;
use crate::scan::schema::load_schema_blocking;
use crate::transport::Shared;

/// Runs `schema`, writing the JSON to `out` and messages to `err`.
pub fn run(
    config: &SchemaConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let source = SchemaSource::Fetch(config.id.clone());
    let client = match config.connection.client(config.version) {
        Ok(c) => c,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Exit::Usage);
        }
    };
    // The reads go at Notion's average rate (3 a second), retried as any request is.
    let reads = Shared::for_reads(client, 3.0, 3);
    let (schema, warning) = match load_schema_blocking(&source, Some(&reads), config.version) {
        Ok(loaded) => loaded,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Exit::Usage);
        }
    };
    if let Some(w) = warning {
        writeln!(err, "warning: {w}; the schema is saved without users")?;
    }
    serde_json::to_writer_pretty(&mut *out, &schema)?;
    out.write_all(b"\n")?;
    out.flush()?;
    writeln!(
        err,
        "schema: {:?} ({}): {} properties{}. Save it and pass it to --schema-file.",
        schema.title,
        schema.data_source_id,
        schema.properties.len(),
        match &schema.users {
            Some(u) => format!(", {} users", u.len()),
            None => String::new(),
        }
    )?;
    Ok(Exit::Ok)
}

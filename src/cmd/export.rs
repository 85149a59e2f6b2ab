//! `notion-bulk export DATA_SOURCE`: a scan's pages written as rows that `apply` reads back
//! (SPEC §9): CSV with `page_id` and a typed header `Name:type` per writable property, in
//! §3's cell syntax, or native JSONL, request-shaped and exact (rich text formatting, links and
//! mentions kept). Read-only properties are left out. Applied unedited with `--data-source`,
//! an export changes nothing and sends nothing.

use std::fs::File;
use std::io::{BufWriter, Write};

use serde_json::{json, Map, Value};

use crate::config::{ExportConfig, ExportFormat};
use crate::exit::Exit;
use crate::filter::{self, Clause};
use crate::notion::page_read;
use crate::notion::schema::Schema;
use crate::notion::PropertyType;
use crate::report::progress::Progress;
use crate::scan::schema::fetch_schema;
use crate::scan::{self, Current, Field, Kind, ScanRequest};
use crate::transport::Shared;

/// A problem with the command line found before any page is read (exit 2).
fn usage(err: &mut dyn Write, message: &str) -> anyhow::Result<Exit> {
    writeln!(err, "error: {message}")?;
    writeln!(err, "Nothing was exported.")?;
    Ok(Exit::Usage)
}

/// Runs `export`, writing rows to `-o` (or `out`) and messages to `err`.
pub fn run(
    config: &ExportConfig,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<Exit> {
    let client = match config.connection.client(config.version) {
        Ok(c) => c,
        Err(e) => return usage(err, &e),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // Every read, the schema's too, takes its permits and retries from the one limiter.
    let shared = Shared::for_reads(client, config.rate, config.burst);
    let schema = match runtime.block_on(fetch_schema(&shared, &config.data_source, config.version))
    {
        Ok(s) => s,
        Err(e) => return usage(err, &e.to_string()),
    };
    let fields = match chosen_fields(&schema, config.properties.as_deref()) {
        Ok(f) => f,
        Err(e) => return usage(err, &e),
    };
    let clauses: Vec<Clause> = config.filter.iter().cloned().map(Clause::Text).collect();
    let parsed = (!clauses.is_empty()).then(|| filter::parse(&clauses, &schema));
    let filter = match parsed.transpose() {
        Ok(f) => f,
        Err(e) => return usage(err, &format!("--where: {e}")),
    };
    let mut file;
    let sink: &mut dyn Write = match &config.output {
        Some(path) => match File::create(path) {
            Ok(f) => {
                file = BufWriter::new(f);
                &mut file
            }
            Err(e) => return usage(err, &format!("cannot write {}: {e}", path.display())),
        },
        None => out,
    };
    let mut writer = RowWriter::new(sink, config, &fields)?;
    let progress = Progress::new(config.progress);
    let stats = shared.stats.clone();
    let request = ScanRequest {
        schema: &schema,
        version: config.version,
        fields: &fields,
        filter,
        key: None,
        budget: None,
    };
    let mut warnings: Vec<String> = Vec::new();
    let result = runtime.block_on(scan::scan(
        &shared,
        &request,
        &mut |page| writer.write(&page, &mut warnings),
        &mut |p| progress.scan(p, &stats, false, err),
    ));
    progress.finish();
    let done = match result {
        Ok(done) => done,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            writeln!(err, "The export is incomplete: do not apply it.")?;
            return Ok(if e.is_usage() {
                Exit::Usage
            } else {
                Exit::Aborted
            });
        }
    };
    writer.finish()?;
    progress.scan(&done, &stats, true, err);
    write_closing(err, config, &schema, done.pages, warnings)?;
    Ok(Exit::Ok)
}

/// The last lines: what a CSV cannot carry exactly, how many pages, and the command that
/// applies the file back.
fn write_closing(
    err: &mut dyn Write,
    config: &ExportConfig,
    schema: &Schema,
    pages: u64,
    mut warnings: Vec<String>,
) -> std::io::Result<()> {
    warnings.sort();
    warnings.dedup();
    for w in &warnings {
        writeln!(err, "warning: {w}")?;
    }
    writeln!(
        err,
        "export: {pages} pages of {:?} ({}). Edit it, then apply only what changed:",
        schema.title, schema.data_source_id
    )?;
    writeln!(err, "  {}", apply_command(config, &schema.data_source_id))
}

/// The `apply` command that reads this export back as it was written: the format when the
/// file's name does not tell it, and the cell separator when it is not the default.
fn apply_command(config: &ExportConfig, data_source_id: &str) -> String {
    use crate::config::shell_quote;
    let mut words = vec!["notion-bulk".to_owned(), "apply".to_owned()];
    match &config.output {
        Some(path) => words.push(shell_quote(&path.display().to_string())),
        None => words.push("FILE".to_owned()),
    }
    words.push(format!("--data-source {data_source_id}"));
    if !config.format_told {
        words.push(
            match config.format {
                ExportFormat::Csv => "--format csv",
                ExportFormat::Jsonl => "--format jsonl",
            }
            .to_owned(),
        );
    }
    if config.format == ExportFormat::Csv && config.separator != ';' {
        words.push(format!(
            "--separator {}",
            shell_quote(&config.separator.to_string())
        ));
    }
    words.join(" ")
}

/// The writable properties to export: all of them, or those `--properties` names.
fn chosen_fields(schema: &Schema, names: Option<&[String]>) -> Result<Vec<Field>, String> {
    let Some(names) = names else {
        return Ok(schema
            .properties
            .iter()
            .filter_map(Field::property)
            .collect());
    };
    let mut seen: Vec<&str> = Vec::new();
    names
        .iter()
        .map(|name| {
            if let Some(property) = schema.property(name) {
                if seen.contains(&property.id.as_str()) {
                    return Err(format!(
                        "--properties names {:?} twice; each property can be exported once",
                        property.name
                    ));
                }
                seen.push(&property.id);
            }
            let Some(property) = schema.property(name) else {
                let hint = crate::spelling::closest(
                    name,
                    schema.properties.iter().map(|p| p.name.as_str()),
                )
                .map(|n| format!(" Did you mean {}?", crate::spelling::mention(name, n)))
                .unwrap_or_default();
                return Err(format!(
                    "--properties: the data source has no property {name:?}.{hint} Its properties: {}",
                    schema
                        .properties
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            Field::property(property).ok_or_else(|| {
                format!(
                    "--properties: {:?} is a {} property, which a page update cannot write, so it \
                     is not exported",
                    property.name,
                    property.ty.as_str()
                )
            })
        })
        .collect()
}

/// Writes each page as one row.
struct RowWriter<'a> {
    format: ExportFormat,
    csv: Option<csv::Writer<&'a mut dyn Write>>,
    jsonl: Option<&'a mut dyn Write>,
    fields: Vec<Field>,
    separator: char,
}

impl<'a> RowWriter<'a> {
    fn new(
        sink: &'a mut dyn Write,
        config: &ExportConfig,
        fields: &[Field],
    ) -> anyhow::Result<RowWriter<'a>> {
        let mut writer = RowWriter {
            format: config.format,
            csv: None,
            jsonl: None,
            fields: fields.to_vec(),
            separator: config.separator,
        };
        match config.format {
            ExportFormat::Csv => {
                let mut csv = csv::WriterBuilder::new()
                    .delimiter(config.delimiter)
                    .from_writer(sink);
                let mut header = vec!["page_id".to_owned()];
                for f in fields {
                    if let Kind::Property(ty) = f.kind {
                        header.push(format!("{}:{}", f.name, ty.as_str()));
                    }
                }
                csv.write_record(&header)?;
                writer.csv = Some(csv);
            }
            ExportFormat::Jsonl => writer.jsonl = Some(sink),
        }
        Ok(writer)
    }

    fn write(&mut self, page: &Value, warnings: &mut Vec<String>) -> Result<(), String> {
        let id = page["id"].as_str().unwrap_or_default().to_owned();
        let values: Vec<Current> = Field::read_all(&self.fields, page, &id)?;
        let io = |e: std::io::Error| format!("cannot write the export: {e}");
        match self.format {
            ExportFormat::Csv => {
                let mut record = vec![id.clone()];
                for (field, value) in self.fields.iter().zip(&values) {
                    check_cell(field, value, self.separator, warnings);
                    record.push(value.cell(self.separator));
                }
                self.csv
                    .as_mut()
                    .expect("a CSV writer")
                    .write_record(&record)
                    .map_err(|e| format!("cannot write the export: {e}"))
            }
            ExportFormat::Jsonl => {
                let mut properties = Map::new();
                for (field, value) in self.fields.iter().zip(&values) {
                    let Kind::Property(ty) = field.kind else {
                        continue;
                    };
                    let raw = value.to_request();
                    // Request-shaped as --backup writes values; a Notion-hosted file stays
                    // a `file` object (kept as it is when applied).
                    let shaped =
                        page_read::request_value(&json!({"type": ty.as_str(), ty.as_str(): raw}))
                            .unwrap_or_else(|_| json!({ ty.as_str(): raw }));
                    properties.insert(field.name.to_string(), shaped);
                }
                let line = json!({"page_id": id, "properties": properties});
                let sink = self.jsonl.as_mut().expect("a JSONL writer");
                serde_json::to_writer(&mut **sink, &line).map_err(|e| e.to_string())?;
                sink.write_all(b"\n").map_err(io)
            }
        }
    }

    fn finish(self) -> std::io::Result<()> {
        if let Some(mut csv) = self.csv {
            csv.flush()?;
        }
        if let Some(sink) = self.jsonl {
            sink.flush()?;
        }
        Ok(())
    }
}

/// What a CSV cell cannot carry exactly; the JSONL export can.
fn check_cell(field: &Field, value: &Current, separator: char, warnings: &mut Vec<String>) {
    let name = &field.name;
    match value {
        Current::Names(names) if names.iter().any(|n| n.contains(separator)) => warnings.push(format!(
            "{name:?}: an option name contains the separator {separator:?}, so its CSV cell reads back as several options: export as JSONL (-o FILE.jsonl) to keep it exact"
        )),
        Current::Files(files) if files.iter().any(|f| f.url.contains(separator)) => warnings.push(format!(
            "{name:?}: a file's link contains the separator {separator:?}, so its CSV cell reads back as several links: export with another --separator or as JSONL (-o FILE.jsonl) to keep it exact"
        )),
        Current::Files(files) => {
            // A Notion-hosted file keeps its name: applied with --data-source, the cell's
            // link finds the file the page holds.
            let renamed = files.iter().filter(|f| !f.hosted).any(|f| {
                match crate::mapping::cell::parse_items(
                    PropertyType::Files,
                    std::iter::once(&*f.url),
                    None,
                    None,
                ) {
                    Ok(crate::mapping::PropertyValue::Files(parsed)) => {
                        parsed.first().is_none_or(|p| *p.name != *f.name)
                    }
                    _ => true,
                }
            });
            if renamed {
                warnings.push(format!(
                    "{name:?}: a file's name is not the last part of its URL, which is the name a CSV cell gives it: applied from the CSV it would be renamed; export as JSONL to keep it"
                ));
            }
        }
        _ => {}
    }
}

//! `notion-bulk plan`: read, map and validate every row offline and print the bodies that
//! `apply` would send. Nothing is written to Notion.

use std::io::{self, Write};

use serde::Serialize;

use crate::config::PlanConfig;
use crate::exit::Exit;
use crate::job::Source;
use crate::mapping::{Body, Mapped, Mapper, TemplateGate};
use crate::notion::NotionId;
use crate::report::{unsent_outcome, ReportLine, ReportWriter};

/// Counts of a plan, by what became of the rows.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanCounts {
    pub read: u64,
    pub valid: u64,
    pub invalid: u64,
    pub skipped: u64,
}

/// One stdout line: the row, its page and exactly the body `apply` would send.
#[derive(Serialize)]
struct PlanLine<'a> {
    row: u64,
    page_id: NotionId,
    body: &'a Body,
}

/// Runs `plan`, writing bodies to `out` and messages to `err`.
pub fn run(config: &PlanConfig, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<Exit> {
    let input = &config.input;
    let mut mapping = input.mapping.clone();
    if let Some(schema) = &input.schema {
        let version = mapping.version;
        match schema.load_blocking(version, || config.connection.client(version)) {
            Ok((schema, warning)) => {
                if let Some(w) = warning {
                    writeln!(err, "warning: {w}")?;
                }
                mapping.set_schema(schema);
            }
            Err(e) => {
                writeln!(err, "error: {e}")?;
                writeln!(err, "Nothing was read; fix it and run plan again.")?;
                return Ok(Exit::Usage);
            }
        }
    }
    let mut source = match Source::open(&input.path, input.format, input.encoding) {
        Ok(s) => s,
        Err(e) => {
            writeln!(err, "error: {e}")?;
            return Ok(Exit::Usage);
        }
    };
    let mapper = Mapper::for_source(&source, mapping);
    let mut mapper = match mapper {
        Ok(m) => m,
        Err(e) => {
            writeln!(err, "error: {}: {e}", input.path.display())?;
            writeln!(
                err,
                "Nothing was read past the header; fix it and run plan again."
            )?;
            return Ok(Exit::Usage);
        }
    };
    let mut report = match &config.report {
        Some(path) => Some(
            ReportWriter::open(path)
                .map_err(|e| anyhow::anyhow!("cannot open the report {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let mut counts = PlanCounts::default();
    let mut gate = TemplateGate::default();
    let mut row = source.empty_row();
    let mut warnings = mapper.take_new_options();
    let mut emit = |mapped: Mapped, counts: &mut PlanCounts| -> anyhow::Result<()> {
        match mapped {
            Mapped::Update(update) => {
                counts.valid += 1;
                serde_json::to_writer(
                    &mut *out,
                    &PlanLine {
                        row: update.row,
                        page_id: update.page_id,
                        body: &update.body,
                    },
                )?;
                out.write_all(b"\n")?;
            }
            unsent => {
                let (outcome, message) = unsent_outcome(&unsent).expect("not an update");
                if let Mapped::Invalid(error) = &unsent {
                    counts.invalid += 1;
                    writeln!(err, "invalid: {error}")?;
                } else {
                    counts.skipped += 1;
                }
                if let Some(report) = report.as_mut() {
                    report.write(&ReportLine::unsent(
                        unsent.row(),
                        unsent.page_id().map(|p| p.to_string()),
                        outcome,
                        Some(message),
                    ))?;
                }
            }
        }
        Ok(())
    };
    loop {
        match source.read(&mut row) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                writeln!(err, "error: {e}")?;
                return Ok(Exit::Usage);
            }
        }
        counts.read += 1;
        let mapped = mapper.map(&row);
        warnings.extend(mapper.take_new_options());
        for (mapped, ()) in gate.admit(mapped, ()) {
            emit(mapped, &mut counts)?;
        }
    }
    for (mapped, ()) in gate.finish() {
        emit(mapped, &mut counts)?;
    }
    out.flush()?;
    for new in warnings {
        writeln!(err, "warning: {new}")?;
    }
    write_summary(err, config, counts)?;
    Ok(if counts.invalid > 0 {
        Exit::RowsFailed
    } else {
        Exit::Ok
    })
}

fn write_summary(err: &mut dyn Write, config: &PlanConfig, c: PlanCounts) -> io::Result<()> {
    writeln!(
        err,
        "plan: {} rows read from {}: {} to send, {} invalid, {} skipped (nothing to change). Nothing was sent.",
        c.read,
        config.input.path.display(),
        c.valid,
        c.invalid,
        c.skipped
    )?;
    if c.invalid > 0 {
        let where_ = match &config.report {
            Some(p) => format!("above and in {}", p.display()),
            None => "above".into(),
        };
        writeln!(
            err,
            "The invalid rows are listed {where_}; apply would skip them. Fix them and run plan again."
        )?;
    }
    Ok(())
}

//! The verbs: each wires the stages below for one subcommand.

pub mod apply;
pub mod export;
pub mod manual;
pub mod plan;
pub mod schema;

use crate::config::InputConfig;
use crate::mapping::{Mapper, NewOption};
use crate::notion::PropertyType;
use crate::scan::schema::MAX_OPTIONS;
use crate::select::Prepared;
use crate::source::Source;

/// `--add-missing-options`, before anything is written (`plan` and `apply` alike): the options
/// the whole input (or the `--set` values) names that the schema lacks, each once, read by a
/// mapper of their own; a property that would hold more than Notion takes is an error here,
/// before any request.
fn options_to_add(
    input: &InputConfig,
    mapper: &Mapper,
    prepared: Option<&Prepared>,
) -> Result<Vec<NewOption>, String> {
    let new = match prepared {
        Some(p) => p.new_options.clone(),
        None => {
            let mut source = Source::open(&input.path, input.format, input.encoding)
                .map_err(|e| e.to_string())?;
            let mut own =
                Mapper::for_source(&source, mapper.options().clone()).map_err(|e| e.to_string())?;
            own.options_to_add(&mut source).map_err(|e| e.to_string())?
        }
    };
    let schema = mapper.options().schema.as_deref();
    for n in &new {
        let held = schema
            .and_then(|s| s.property(&n.property))
            .map_or(0, |p| p.options.len());
        let more = new.iter().filter(|m| m.property == n.property).count();
        if held + more > MAX_OPTIONS {
            return Err(format!(
                "--add-missing-options: {:?} has {held} options and the input names {more} more; \
                 {} is past the {MAX_OPTIONS} Notion takes in one property: fix the values, or \
                 tidy the options in Notion first. Nothing was written.",
                n.property,
                held + more
            ));
        }
    }
    Ok(new)
}

/// One option to add, as `plan` lists it and `apply` says it: `Status: "Blocked" (into In
/// progress)`.
fn describe_option(n: &NewOption) -> String {
    let group = match (&n.group, n.ty) {
        (Some(g), _) => format!(" (into {g})"),
        (None, PropertyType::Status) => " (into To-do)".into(),
        (None, _) => String::new(),
    };
    format!("{}: {:?}{group}", n.property, n.option)
}

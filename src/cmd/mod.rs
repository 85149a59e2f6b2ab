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
            let (mut source, mut own) = mapper.read_ahead(input.file())?;
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

/// What `plan` and `apply` say when `--add-missing-options` finds every option there.
fn nothing_to_add(schema: &crate::notion::Schema) -> String {
    format!(
        "schema: the input names no option {:?} lacks; nothing to add",
        schema.title
    )
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

use crate::dispatch::create::{create_related, related_body};
use crate::dispatch::Creating;
use crate::mapping::RelatedPage;
use crate::scan::relations::{read_related, RelatedRead};
use crate::transport::Shared;

/// What to do with relation keys no page has.
enum MissingRelated<'a> {
    /// `plan`: listed, each given a made-up id, as `apply --create-missing-related` would
    /// create it; or left to make their rows invalid.
    Plan { create: bool },
    /// `apply --create-missing-related`: created now, each recorded in the backup.
    Create(Option<&'a crate::backup::Backup>),
    /// `apply`: their rows are invalid (no_match).
    Keep,
}

/// Relation columns of keys (`Parts:relation[SKU]`), before any row is mapped: the lookups of
/// the input's keys in each related data source, then what `missing` says of the keys no page
/// has; each column's pages go to `mapper`. `say` gets one line per column. `Err`: the run
/// stops before any page is written (a create that failed included: what it did create is
/// found by the lookups of a rerun).
async fn relations(
    shared: &Shared,
    mapper: &mut Mapper,
    input: &InputConfig,
    missing: MissingRelated<'_>,
    say: &mut dyn FnMut(String),
) -> Result<Vec<RelatedRead>, String> {
    let version = input.mapping.version;
    let create = matches!(
        missing,
        MissingRelated::Create(_) | MissingRelated::Plan { create: true }
    );
    let mut reads = read_related(shared, mapper, input.file(), version, create).await?;
    for read in &mut reads {
        let several = read
            .related
            .pages
            .values()
            .filter(|p| matches!(p, RelatedPage::Several(_)))
            .count();
        say(format!(
            "related pages by {:?} in {:?}: {} keys {} in {} queries; {} on one page, {} on several, {} on none",
            read.related.spec.property,
            read.related.title,
            read.keys,
            if read.scanned { "found by reading every page" } else { "looked up" },
            read.queries,
            read.keys - read.missing.len() - several,
            several,
            read.missing.len()
        ));
        match missing {
            MissingRelated::Keep | MissingRelated::Plan { create: false } => {}
            MissingRelated::Plan { create: true } => {
                for key in &read.missing {
                    let made_up = RelatedPage::ToCreate(key.lane());
                    read.related
                        .pages
                        .insert(Box::from(&*key.canonical), made_up);
                }
            }
            MissingRelated::Create(backup) => {
                if let Some(backup) = backup {
                    record_earlier_creates(read, backup)?;
                }
                create_missing(shared, read, version, backup, say).await?
            }
        }
        mapper.set_related(read.key.clone(), read.related.clone());
    }
    Ok(reads)
}

/// A page the lookups found that an earlier run was creating when it was stopped (its create
/// answered after the kill): recorded in the backup now, so that undo trashes it too.
fn record_earlier_creates(
    read: &RelatedRead,
    backup: &crate::backup::Backup,
) -> Result<(), String> {
    let data_source = &read.schema.data_source_id;
    for (key, page) in &read.related.pages {
        if let (RelatedPage::One(id), true) = (page, backup.was_creating(data_source, key)) {
            backup.created(*id).map_err(|e| {
                format!("--backup could not record a page an earlier run created: {e}")
            })?;
        }
    }
    Ok(())
}

/// `--create-missing-related`: a page for each key of `read` no page has, in input order.
async fn create_missing(
    shared: &Shared,
    read: &mut RelatedRead,
    version: crate::notion::Version,
    backup: Option<&crate::backup::Backup>,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let creating = Creating {
        schema: read.schema.clone(),
        version,
        key: read.related.spec.clone(),
    };
    for key in std::mem::take(&mut read.missing) {
        let body = related_body(&creating, &key)?;
        if let Some(backup) = backup {
            let data_source = &read.schema.data_source_id;
            backup.creating(data_source, &key.canonical).map_err(|e| {
                format!("--backup could not note the page it is about to create: {e}")
            })?;
        }
        let made = create_related(shared, &creating, &key, &body)
            .await
            .map_err(|e| {
                format!(
                    "creating the page {:?} in {:?}: {e}",
                    key.text, read.related.title
                )
            })?;
        let Some(id) = made else {
            return Err("the run stopped while creating related pages".into());
        };
        if let Some(backup) = backup {
            backup
                .created(id)
                .map_err(|e| format!("--backup could not record the page it created: {e}"))?;
        }
        say(format!(
            "related pages: created {id} in {:?} for {} = {:?}",
            read.related.title, read.related.spec.property, key.text
        ));
        read.related
            .pages
            .insert(Box::from(&*key.canonical), RelatedPage::One(id));
    }
    Ok(())
}

/// `--missing-pages`, after the scan and before any write: the input's keys read ahead (a
/// row has its key whenever its key cell was read) and the pages of the data source whose key
/// none of them is.
fn missing_pages(
    input: &InputConfig,
    mapper: &Mapper,
    index: &crate::scan::Index,
    prepared: &crate::mirror::Prepared,
) -> Result<crate::mirror::Missing, String> {
    let keys = crate::scan::keys::read_input_keys(input.file(), mapper, usize::MAX)?
        .ok_or("the input's keys can only be read ahead from a file")?;
    Ok(crate::mirror::find(index, &keys, prepared))
}

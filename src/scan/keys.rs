//! With `--match-on`, the scan reads the pages of the input's keys only: a scan within what
//! looking the keys up would cost, then lookups of up to 100 keys (`or` of `equals`), or
//! lookups from the start ([`read_index`] chooses, and says why).

use std::sync::Arc;

use super::{scan, Field, Index, ScanError, ScanProgress, ScanRequest};
use crate::mapping::key::{KeySpec, RowKey, KEYS_PER_LOOKUP};
use crate::notion::{Schema, Version};
use crate::transport::Shared;

/// Keys read from the input before the scan, to choose between a scan and lookups: more
/// than this and the scan is chosen without trying (lookups of that many keys cost 100
/// queries, as much as a scan of 10,000 pages).
pub const MAX_LOOKUP_KEYS: usize = 10_000;

/// Reads what the matcher compares rows with (the fields `written` names, as
/// [`crate::scan::compared_fields`] takes them): the scan of the data source, or with
/// `--match-on` the pages of the input's keys (by a scan or by lookups, as `--key-lookup`
/// and their cost say; `say` gets the line that tells which and why).
pub async fn read_index(
    shared: &crate::transport::Shared,
    matching: &crate::mapping::key::MatchConfig,
    input: crate::source::InputFile<'_>,
    mapper: &crate::mapping::Mapper,
    written: Option<Vec<String>>,
    progress: &mut dyn FnMut(&crate::scan::ScanProgress),
    say: &mut dyn FnMut(String),
) -> Result<(Index, crate::scan::ScanProgress), crate::scan::ScanError> {
    use crate::mapping::key::KeyLookup;
    use crate::scan::{self, KeyPlan, KeyRead};
    let options = mapper.options();
    let schema = options
        .schema
        .clone()
        .expect("--data-source brings its schema");
    let version = options.version;
    let fields = scan::compared_fields(&schema, written);
    let Some(key) = options.match_on.clone() else {
        return scan::build_index(shared, &schema, version, fields, progress).await;
    };
    let name = &key.property;
    let plan = if matching.lookup == KeyLookup::Scan {
        KeyPlan::Scan
    } else if !key.lookups_possible() {
        say(format!(
            "match on {name:?}: reading every page, as {}",
            if key.ignore_case {
                "--match-ignore-case needs (Notion's filters may not ignore case the same way)"
            } else {
                "a formula key needs (its result type is not in the schema)"
            }
        ));
        KeyPlan::Scan
    } else {
        let limit = match matching.lookup {
            KeyLookup::Batch => usize::MAX,
            _ => MAX_LOOKUP_KEYS,
        };
        match input_keys(input, mapper, limit) {
            Ok(Some(keys)) if matching.lookup == KeyLookup::Batch => KeyPlan::Lookup(keys),
            Ok(Some(keys)) => KeyPlan::Cheaper(keys),
            Ok(None) => {
                if *input.path != crate::source::InputPath::Stdin {
                    say(format!("match on {name:?}: reading every page (the input has more than {MAX_LOOKUP_KEYS} keys, too many to look up for less)"));
                }
                KeyPlan::Scan
            }
            Err(e) => {
                say(format!("match on {name:?}: reading every page (the input's keys could not be read ahead: {e})"));
                KeyPlan::Scan
            }
        }
    };
    let offered = match &plan {
        KeyPlan::Cheaper(keys) | KeyPlan::Lookup(keys) => Some(keys.len()),
        KeyPlan::Scan => None,
    };
    let (index, done, read) = scan::build_key_index(
        shared,
        &schema,
        version,
        fields,
        key.clone(),
        plan,
        matching.create_missing,
        progress,
    )
    .await?;
    let queries = |n: u64| match n {
        1 => "1 query".to_owned(),
        n => format!("{n} queries"),
    };
    match (read, offered) {
        (KeyRead::Scanned, Some(keys)) => say(format!(
            "match on {name:?}: read every page ({} pages, {}), no more than looking up the input's {keys} keys would cost ({} of up to 100 keys)",
            done.pages,
            queries(done.queries),
            queries(scan::lookups_for(keys))
        )),
        (KeyRead::Scanned, None) => say(format!(
            "match on {name:?}: read every page ({} pages, {})",
            done.pages,
            queries(done.queries)
        )),
        (KeyRead::LookedUp { keys, lookups, scan_queries: 0 }, _) => say(format!(
            "match on {name:?}: looked up the input's {keys} keys in {} (up to 100 keys each); {} pages have them",
            queries(lookups),
            done.pages
        )),
        (KeyRead::LookedUp { keys, lookups, scan_queries }, _) => say(format!(
            "match on {name:?}: looked up the input's {keys} keys in {} (up to 100 keys each) instead of reading every page: the data source has more pages than {} of the scan read; {} pages have the keys",
            queries(lookups),
            queries(scan_queries),
            done.pages
        )),
    }
    Ok((index, done))
}

/// The input's distinct keys in input order, read ahead with the run's own mapping; `None`
/// for standard input (it can be read once only) or past `limit` keys.
fn input_keys(
    input: crate::source::InputFile<'_>,
    mapper: &crate::mapping::Mapper,
    limit: usize,
) -> Result<Option<Vec<RowKey>>, String> {
    Ok(read_input_keys(input, mapper, limit)?.map(|k| k.keys))
}

/// The keys of an input read ahead: every distinct key a row's key cell gave (whether or not
/// the rest of the row is valid), and the rows whose key could not be read.
#[derive(Debug, Clone, Default)]
pub struct InputKeys {
    /// Distinct, in input order.
    pub keys: Vec<RowKey>,
    /// The rows (1-based) whose key cell gave no key (empty, or not a key of its type).
    pub unkeyed: Vec<u64>,
}

/// Reads the input ahead with the run's own mapping (a fresh reader and mapper,
/// [`crate::mapping::Mapper::read_ahead`]) for its keys; `None` for standard input (it can be
/// read once only) or past `limit` distinct keys.
pub fn read_input_keys(
    input: crate::source::InputFile<'_>,
    mapper: &crate::mapping::Mapper,
    limit: usize,
) -> Result<Option<InputKeys>, String> {
    use crate::source::InputPath;
    if *input.path == InputPath::Stdin {
        return Ok(None);
    }
    let (mut source, mut mapper) = mapper.read_ahead(input)?;
    let mut row = source.empty_row();
    let mut seen = std::collections::HashSet::new();
    let mut read = InputKeys::default();
    while source.read(&mut row).map_err(|e| e.to_string())? {
        match mapper.map(&row).key() {
            Some(key) => {
                if seen.insert(key.canonical.clone()) {
                    if read.keys.len() == limit {
                        return Ok(None);
                    }
                    read.keys.push(key.clone());
                }
            }
            None => read.unkeyed.push(row.row),
        }
    }
    Ok(Some(read))
}

/// How `--match-on` finds the pages of the input's keys.
#[derive(Debug, Clone)]
pub enum KeyPlan {
    /// Read every page.
    Scan,
    /// Queries of up to 100 of these keys (distinct, in canonical form).
    Lookup(Vec<RowKey>),
    /// The scan until it has cost as much as looking these keys up would; then the lookups.
    /// At most twice the cheaper of the two, without knowing the data source's size.
    Cheaper(Vec<RowKey>),
}

/// What [`build_key_index`] did, for the line that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRead {
    /// A whole scan.
    Scanned,
    /// Lookups of this many keys in this many queries (plus the scan's first queries, when it
    /// was tried first and stopped).
    LookedUp {
        keys: usize,
        lookups: u64,
        scan_queries: u64,
    },
}

/// The lookups `keys` need: queries of up to [`KEYS_PER_LOOKUP`] keys.
pub fn lookups_for(keys: usize) -> u64 {
    keys.div_ceil(KEYS_PER_LOOKUP) as u64
}

/// Reads the pages of the input's keys into an index, as `plan` says. `creating`: keys the
/// lookups miss are created, so a text key is looked up once more with `contains` first (Notion
/// may hold it with spaces around it, which `equals` misses): creating never duplicates.
#[allow(clippy::too_many_arguments)]
pub async fn build_key_index(
    shared: &Shared,
    schema: &Schema,
    version: Version,
    fields: Vec<Field>,
    key: Arc<KeySpec>,
    plan: KeyPlan,
    creating: bool,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<(Index, ScanProgress, KeyRead), ScanError> {
    let request = ScanRequest {
        schema,
        version,
        fields: &fields,
        filter: None,
        key: Some(&key),
        budget: None,
    };
    let mut index = Index::with_key(fields.clone(), key.clone());
    let scanned = match plan {
        KeyPlan::Lookup(keys) if !keys.is_empty() => {
            return look_up(
                shared,
                &request,
                index,
                &keys,
                creating,
                ScanProgress::default(),
                progress,
            )
            .await
        }
        KeyPlan::Cheaper(keys) => {
            let budget = lookups_for(keys.len());
            if budget == 0 {
                return Ok((index, ScanProgress::default(), KeyRead::Scanned));
            }
            let within = ScanRequest {
                budget: Some(budget),
                ..request.clone()
            };
            let done = scan(shared, &within, &mut |page| index.insert(&page), progress).await?;
            if !done.complete {
                // The pages the scan read stay: their keys are not looked up again.
                return look_up(shared, &request, index, &keys, creating, done, progress).await;
            }
            done
        }
        KeyPlan::Scan | KeyPlan::Lookup(_) => {
            scan(shared, &request, &mut |page| index.insert(&page), progress).await?
        }
    };
    Ok((index, scanned, KeyRead::Scanned))
}

/// Queries of up to [`KEYS_PER_LOOKUP`] keys each, of the keys `index` does not have yet;
/// `before`: what a stopped scan already cost. `creating`: the text keys still missing are
/// looked up once more with `contains`.
async fn look_up(
    shared: &Shared,
    request: &ScanRequest<'_>,
    mut index: Index,
    keys: &[RowKey],
    creating: bool,
    before: ScanProgress,
    progress: &mut dyn FnMut(&ScanProgress),
) -> Result<(Index, ScanProgress, KeyRead), ScanError> {
    let key = request.key.expect("lookups are of a key").clone();
    let mut total = ScanProgress { pages: 0, ..before };
    let mut lookups = 0;
    let missing = |index: &Index| -> Vec<RowKey> {
        keys.iter()
            .filter(|k| index.pages_of(&k.canonical).is_empty())
            .cloned()
            .collect()
    };
    let mut passes = vec![missing(&index)];
    let mut contains = false;
    while let Some(wanted) = passes.pop() {
        for chunk in wanted.chunks(KEYS_PER_LOOKUP) {
            let filter = match contains {
                false => key.lookup_filter(chunk),
                true => key.contains_filter(chunk),
            };
            let lookup = ScanRequest {
                filter: Some(filter),
                ..request.clone()
            };
            let base = total;
            let done = scan(shared, &lookup, &mut |page| index.insert(&page), &mut |p| {
                progress(&base.plus(p))
            })
            .await?;
            lookups += done.queries;
            total = base.plus(&done);
        }
        if creating && !contains && key.may_have_spaces() {
            contains = true;
            passes.push(missing(&index));
        }
    }
    total.complete = true;
    // The pages that have the input's keys, whether the scan or a lookup read them.
    total.pages = keys
        .iter()
        .map(|k| index.pages_of(&k.canonical).len() as u64)
        .sum();
    let read = KeyRead::LookedUp {
        keys: keys.len(),
        lookups,
        scan_queries: before.queries,
    };
    Ok((index, total, read))
}

//! Relation cells of keys (`Parts:relation[SKU]`): before any row is mapped, the input's
//! distinct keys of each such column are read ahead, the related data source's schema is read
//! (its key property checked with `--match-on`'s rules), and the keys are looked up in
//! queries of up to 100 keys (`or` of `equals`). Lookups cost ceil(keys / 100) queries; a scan
//! of the related data source costs at least ceil(pages found / 100), so lookups are the
//! cheaper unless most keys are missing. A key type Notion's filters cannot look up the same
//! way (a formula, `--match-ignore-case`) is found by a scan.

use std::sync::Arc;

use crate::mapping::key::{KeySpec, RowKey};
use crate::mapping::{Mapper, Related, RelatedPage, RelationKey};
use crate::notion::{Schema, Version};
use crate::scan::keys::{build_key_index, KeyPlan, KeyRead};
use crate::scan::schema::fetch_schema;
use crate::source::{InputFile, InputPath};
use crate::transport::Shared;

/// What the keys of one relation column found.
#[derive(Debug)]
pub struct RelatedRead {
    pub key: RelationKey,
    /// The related data source's schema (where `--create-missing-related` creates pages).
    pub schema: Arc<Schema>,
    pub related: Related,
    /// The keys no page has, in input order.
    pub missing: Vec<RowKey>,
    /// The distinct keys the input names.
    pub keys: usize,
    /// The queries the lookups (or the scan) made.
    pub queries: u64,
    /// Whether the related data source was scanned rather than looked up.
    pub scanned: bool,
}

/// Reads the related data sources' schemas, the input's keys and their pages, for every
/// relation column of keys. `creating` (`--create-missing-related`): text keys still missing
/// are looked up once more with `contains` (Notion may hold a key with spaces around it, which
/// `equals` misses), so that no page is created twice. `Err`: why not (the run stops before
/// any write).
pub async fn read_related(
    shared: &Shared,
    mapper: &Mapper,
    input: InputFile<'_>,
    version: Version,
    creating: bool,
) -> Result<Vec<RelatedRead>, String> {
    let columns = mapper.relation_columns();
    if columns.is_empty() {
        return Ok(Vec::new());
    }
    if *input.path == InputPath::Stdin {
        return Err(
            "relation cells of keys are looked up before the first row is written, so the input \
             is read twice: give it as a file, not standard input"
                .into(),
        );
    }
    let ignore_case = mapper
        .options()
        .match_on
        .as_ref()
        .is_some_and(|k| k.ignore_case);
    let (mut source, mut ahead) = mapper.read_ahead(input)?;
    let mut read = Vec::new();
    for key in &columns {
        let schema = fetch_schema(shared, &key.data_source, version)
            .await
            .map_err(|e| format!("the related data source of {:?}: {e}", key.property))?;
        let spec = KeySpec::from_schema(&schema, &key.property, ignore_case)
            .map(Arc::new)
            .map_err(|e| format!("relation key {:?} in {:?}: {e}", key.property, schema.title))?;
        let related = Related {
            title: schema.title.clone(),
            spec,
            pages: Default::default(),
        };
        ahead.set_related(key.clone(), related.clone());
        read.push((key.clone(), Arc::new(schema), related));
    }
    let mut keys = ahead
        .relation_keys(&mut source)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (key, schema, related) in read {
        let wanted = keys.remove(&key).unwrap_or_default();
        out.push(look_up(shared, key, schema, related, wanted, version, creating).await?);
    }
    Ok(out)
}

/// The pages of one column's keys.
async fn look_up(
    shared: &Shared,
    key: RelationKey,
    schema: Arc<Schema>,
    mut related: Related,
    wanted: Vec<RowKey>,
    version: Version,
    creating: bool,
) -> Result<RelatedRead, String> {
    let spec = related.spec.clone();
    let (mut queries, mut scanned) = (0, false);
    let mut missing = Vec::new();
    if !wanted.is_empty() {
        let plan = match spec.lookups_possible() {
            true => KeyPlan::Lookup(wanted.clone()),
            false => KeyPlan::Scan,
        };
        let (index, done, how) = build_key_index(
            shared,
            &schema,
            version,
            Vec::new(),
            spec,
            plan,
            creating,
            &mut |_| {},
        )
        .await
        .map_err(|e| format!("looking up the keys of {:?}: {e}", key.property))?;
        queries = done.queries;
        scanned = how == KeyRead::Scanned;
        for k in &wanted {
            let pages = index.pages_of(&k.canonical);
            let found = match pages {
                [] => {
                    missing.push(k.clone());
                    continue;
                }
                [one] => RelatedPage::One(*one),
                several => RelatedPage::Several(several.to_vec()),
            };
            related.pages.insert(Box::from(&*k.canonical), found);
        }
    }
    Ok(RelatedRead {
        key,
        schema,
        related,
        missing,
        keys: wanted.len(),
        queries,
        scanned,
    })
}

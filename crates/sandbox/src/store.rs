//! The in-memory store: users, databases, data sources (with their schemas) and pages, built from
//! a seed and changed only by applying a validated update or adding a validated new page.

use super::model::{
    normalize_id, random_uuid, short_id, DataSource, Database, Page, PropSchema, PropType,
    SelectOption, User, Workspace, INTEGRATION_BOT_ID, OPTION_COLORS,
};
use super::schema::SchemaUpdate;
use super::seed::{Seed, SeedError, SeedPage, SeedProperty};
use super::upload::{Hosted, Uploads};
use super::validate::{self, Update, ValueContext};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

/// Everything the sandbox serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    pub(crate) users: Vec<User>,
    pub(crate) databases: Vec<Database>,
    pub(crate) data_sources: Vec<DataSource>,
    pub(crate) pages: HashMap<String, Page>,
    /// Page ids in seed order.
    pub(crate) page_order: Vec<String>,
    /// Counts changes to pages: whatever changes a page (or adds one) must bump it, as cached
    /// query results are valid for one value of it (and of the number of pages).
    pub(crate) generation: u64,
    /// Notion's schema-size ceiling, as a number of options per data source; `None`: none.
    pub(crate) max_schema_options: Option<usize>,
    /// File uploads, and the settings and counters about them.
    pub(crate) uploads: Uploads,
}

fn invalid(message: impl Into<String>) -> SeedError {
    SeedError::Invalid(message.into())
}

fn parse_time(
    text: Option<&str>,
    default: DateTime<Utc>,
    what: &str,
) -> Result<DateTime<Utc>, SeedError> {
    match text {
        None => Ok(default),
        Some(t) => DateTime::parse_from_rfc3339(t)
            .map(|d| d.with_timezone(&Utc))
            .map_err(|e| invalid(format!("{what}: `{t}` is not an RFC 3339 date-time ({e})"))),
    }
}

/// `t` rounded down to the minute.
fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp().div_euclid(60) * 60, 0).unwrap_or(t)
}

impl Store {
    /// Build the store from a seed, checking ids, references, schemas and values.
    pub(crate) fn from_seed(seed: &Seed, now: DateTime<Utc>) -> Result<Store, SeedError> {
        let mut store = Store::default();
        let mut seen = HashSet::new();
        let mut unique_id = |id: &str, what: &str| -> Result<String, SeedError> {
            let norm = normalize_id(id).ok_or_else(|| {
                invalid(format!(
                    "{what} id `{id}` is not a UUID (32 hex digits, dashes optional)"
                ))
            })?;
            if !seen.insert(norm.clone()) {
                return Err(invalid(format!("{what} id `{id}` is used twice")));
            }
            Ok(norm)
        };

        for user in &seed.users {
            let id = unique_id(&user.id, "user")?;
            let is_bot = match user.kind.as_str() {
                "person" => false,
                "bot" => true,
                other => {
                    return Err(invalid(format!(
                        "user {id}: type `{other}` should be `person` or `bot`"
                    )))
                }
            };
            store.users.push(User {
                id,
                name: user.name.clone(),
                is_bot,
                email: user.email.clone(),
            });
        }
        for db in &seed.databases {
            let id = unique_id(&db.id, "database")?;
            let mut data_sources = Vec::new();
            for ds in &db.data_sources {
                let ds_id = normalize_id(ds).ok_or_else(|| {
                    invalid(format!(
                        "database {id}: data source id `{ds}` is not a UUID"
                    ))
                })?;
                data_sources.push(ds_id);
            }
            store.databases.push(Database {
                id,
                title: db.title.clone(),
                data_sources,
                created_time: now,
            });
        }
        for ds in &seed.data_sources {
            let id = unique_id(&ds.id, "data source")?;
            let database_id = normalize_id(&ds.database_id).ok_or_else(|| {
                invalid(format!(
                    "data source {id}: database_id `{}` is not a UUID",
                    ds.database_id
                ))
            })?;
            let Some(db) = store.databases.iter_mut().find(|d| d.id == database_id) else {
                return Err(invalid(format!(
                    "data source {id}: database {database_id} is not in the seed's databases"
                )));
            };
            if !db.data_sources.contains(&id) {
                db.data_sources.push(id.clone());
            }
            let properties = schema_from_seed(&id, &ds.properties)?;
            store.data_sources.push(DataSource {
                id,
                title: ds.title.clone(),
                database_id,
                properties,
                icon: Value::Null,
                created_time: now,
                last_edited_time: now,
            });
        }
        for db in &store.databases {
            for ds_id in &db.data_sources {
                match store.data_sources.iter().find(|d| &d.id == ds_id) {
                    None => {
                        return Err(invalid(format!(
                            "database {}: data source {ds_id} is not in the seed's data sources",
                            db.id
                        )))
                    }
                    Some(ds) if ds.database_id != db.id => {
                        return Err(invalid(format!(
                            "database {} lists data source {ds_id}, which belongs to database {}",
                            db.id, ds.database_id
                        )))
                    }
                    Some(_) => {}
                }
            }
        }
        for ds in &store.data_sources {
            for prop in &ds.properties {
                if let Some(target) = &prop.relation_data_source {
                    if !store.data_sources.iter().any(|d| &d.id == target) {
                        return Err(invalid(format!(
                            "data source {}: relation `{}` points to data source {target}, which is not in the seed",
                            ds.id, prop.name
                        )));
                    }
                }
            }
        }

        // Pages in two passes: all exist before values (relations) are checked.
        let default_author = store
            .users
            .first()
            .map_or(INTEGRATION_BOT_ID.to_string(), |u| u.id.clone());
        for sp in &seed.pages {
            let id = unique_id(&sp.id, "page")?;
            let data_source_id = normalize_id(&sp.data_source_id)
                .filter(|d| store.data_sources.iter().any(|ds| &ds.id == d))
                .ok_or_else(|| {
                    invalid(format!(
                        "page {id}: data_source_id `{}` is not a data source of the seed",
                        sp.data_source_id
                    ))
                })?;
            // Notion rounds created_time down to the minute (the changelog of July 2023).
            let created_time = minute(parse_time(
                sp.created_time.as_deref(),
                now,
                &format!("page {id}: created_time"),
            )?);
            let last_edited_time = parse_time(
                sp.last_edited_time.as_deref(),
                created_time,
                &format!("page {id}: last_edited_time"),
            )?;
            let created_by = match &sp.created_by {
                None => default_author.clone(),
                Some(u) => normalize_id(u)
                    .filter(|u| store.user(u).is_some())
                    .ok_or_else(|| {
                        invalid(format!("page {id}: created_by `{u}` is not a seed user"))
                    })?,
            };
            store.page_order.push(id.clone());
            store.pages.insert(
                id.clone(),
                Page {
                    id,
                    data_source_id,
                    created_time,
                    last_edited_time,
                    last_edited_by: created_by.clone(),
                    created_by,
                    icon: Value::Null,
                    cover: Value::Null,
                    in_trash: sp.in_trash,
                    is_locked: sp.is_locked,
                    values: HashMap::new(),
                },
            );
        }
        for sp in &seed.pages {
            store.seed_page_values(sp)?;
        }
        store.number_unique_ids();
        Ok(store)
    }

    /// Check and store one seed page's values, icon and cover.
    fn seed_page_values(&mut self, sp: &SeedPage) -> Result<(), SeedError> {
        let id = normalize_id(&sp.id).unwrap_or_default();
        let page_err = |m: String| invalid(format!("page {id}: {m}"));
        let ds_id = self.pages[&id].data_source_id.clone();
        let mut values = Vec::new();
        let mut new_options = Vec::new();
        // A seed attaches no uploads: there are none yet, so a `file_upload` is refused.
        let mut uploads = Vec::new();
        let ds = self
            .data_source(&ds_id)
            .ok_or_else(|| page_err("no data source".into()))?;
        for (key, simple) in &sp.properties {
            let prop = ds.property(key).ok_or_else(|| {
                page_err(format!(
                    "`{key}` is not a property of data source {}",
                    ds.id
                ))
            })?;
            let stored = if prop.kind.is_read_only() {
                read_only_seed_value(prop, simple).map_err(&page_err)?
            } else {
                let request = validate::simple_to_request(prop.kind, simple);
                let mut cx = ValueContext {
                    store: self,
                    data_source: ds,
                    new_options: &mut new_options,
                    uploads: &mut uploads,
                };
                validate::check_value(&mut cx, prop, &request, &format!("properties.{key}"))
                    .map_err(|e| page_err(format!("property `{key}`: {}", e.message)))?
            };
            values.push((prop.id.clone(), stored));
        }
        let icon = match &sp.icon {
            None => Value::Null,
            Some(v) => validate::check_icon(&*self, v, "icon", &mut uploads)
                .map_err(|e| page_err(e.message))?,
        };
        let cover = match &sp.cover {
            None => Value::Null,
            Some(v) => validate::check_cover(&*self, v, "cover", &mut uploads)
                .map_err(|e| page_err(e.message))?,
        };
        self.add_options(&ds_id, new_options);
        let page = self
            .pages
            .get_mut(&id)
            .ok_or_else(|| page_err("vanished".into()))?;
        page.values.extend(values);
        page.icon = icon;
        page.cover = cover;
        Ok(())
    }

    /// Give every page without a unique_id the next number of its data source, in seed order.
    fn number_unique_ids(&mut self) {
        for ds in &self.data_sources {
            for prop in ds
                .properties
                .iter()
                .filter(|p| p.kind == PropType::UniqueId)
            {
                let mut next = self.next_unique_number(&ds.id, &prop.id);
                for page_id in &self.page_order {
                    let Some(page) = self.pages.get_mut(page_id) else {
                        continue;
                    };
                    if page.data_source_id == ds.id && !page.values.contains_key(&prop.id) {
                        page.values.insert(
                            prop.id.clone(),
                            json!({"prefix": prop.prefix, "number": next}),
                        );
                        next += 1;
                    }
                }
            }
        }
    }

    /// The number the next page of data source `ds_id` gets in unique_id property `prop_id`: one
    /// past the highest any of its pages has (numbers are never reused, and no page is deleted).
    fn next_unique_number(&self, ds_id: &str, prop_id: &str) -> u64 {
        self.pages
            .values()
            .filter(|p| p.data_source_id == ds_id)
            .filter_map(|p| p.values.get(prop_id)?.get("number")?.as_u64())
            .max()
            .unwrap_or(0)
            + 1
    }

    /// Add options created by an update to their properties (once per name).
    fn add_options(&mut self, ds_id: &str, options: Vec<(String, SelectOption)>) {
        let Some(ds) = self.data_sources.iter_mut().find(|d| d.id == ds_id) else {
            return;
        };
        for (prop_id, option) in options {
            if let Some(prop) = ds.properties.iter_mut().find(|p| p.id == prop_id) {
                if !prop.options.iter().any(|o| o.name == option.name) {
                    prop.options.push(option);
                }
            }
        }
    }

    /// Add the options an update created to data source `ds_id`, which is then edited `now`.
    fn add_new_options(
        &mut self,
        ds_id: &str,
        options: Vec<(String, SelectOption)>,
        now: DateTime<Utc>,
    ) {
        if options.is_empty() {
            return;
        }
        self.add_options(ds_id, options);
        if let Some(ds) = self.data_sources.iter_mut().find(|d| d.id == ds_id) {
            ds.last_edited_time = now;
        }
    }

    /// Apply a validated update to a page: everything or (if the page vanished) nothing.
    pub(crate) fn apply(&mut self, page_id: &str, update: Update, now: DateTime<Utc>) {
        let Some(ds_id) = self.pages.get(page_id).map(|p| p.data_source_id.clone()) else {
            return;
        };
        self.add_new_options(&ds_id, update.new_options, now);
        self.uploads.attach(&update.uploads);
        let Some(page) = self.pages.get_mut(page_id) else {
            return;
        };
        self.generation += 1;
        page.values.extend(update.values);
        if let Some(icon) = update.icon {
            page.icon = icon;
        }
        if let Some(cover) = update.cover {
            page.cover = cover;
        }
        if let Some(in_trash) = update.in_trash {
            page.in_trash = in_trash;
        }
        if let Some(is_locked) = update.is_locked {
            page.is_locked = is_locked;
        }
        page.last_edited_time = now;
        page.last_edited_by = INTEGRATION_BOT_ID.to_string();
    }

    /// Apply a validated data source update: each changed property gets its new option list,
    /// and the pages of the data source lose the options removed (as Notion's pages do; their
    /// `last_edited_time` stays). The data source is then edited `now`; bumps the generation.
    pub(crate) fn update_schema(&mut self, ds_id: &str, update: SchemaUpdate, now: DateTime<Utc>) {
        let Some(ds) = self.data_sources.iter_mut().find(|d| d.id == ds_id) else {
            return;
        };
        self.uploads.attach(&update.uploads);
        let mut removed: Vec<(String, Vec<String>)> = Vec::new();
        for (prop_id, options) in update.options {
            let Some(prop) = ds.properties.iter_mut().find(|p| p.id == prop_id) else {
                continue;
            };
            let gone = prop
                .options
                .iter()
                .filter(|o| !options.iter().any(|n| n.id == o.id))
                .map(|o| o.id.clone())
                .collect();
            prop.options = options;
            removed.push((prop_id, gone));
        }
        if let Some(title) = update.title {
            ds.title = title;
        }
        if let Some(icon) = update.icon {
            ds.icon = icon;
        }
        ds.last_edited_time = now;
        self.generation += 1;
        self.clear_options(ds_id, &removed);
    }

    /// Take removed options (option ids, by property id) out of the values of the pages of
    /// data source `ds_id`: a select or status becomes empty, a multi_select loses the item.
    fn clear_options(&mut self, ds_id: &str, removed: &[(String, Vec<String>)]) {
        let is_gone = |gone: &[String], option: &Value| {
            option["id"]
                .as_str()
                .is_some_and(|id| gone.iter().any(|g| g == id))
        };
        for page in self
            .pages
            .values_mut()
            .filter(|p| p.data_source_id == ds_id)
        {
            for (prop_id, gone) in removed {
                match page.values.get_mut(prop_id) {
                    Some(Value::Array(items)) => items.retain(|o| !is_gone(gone, o)),
                    Some(value) if is_gone(gone, value) => *value = Value::Null,
                    _ => {}
                }
            }
        }
    }

    /// Add a page made from a validated create to data source `ds_id` and return its id: a fresh
    /// random UUID, created `now` (rounded down to the minute, as Notion does) by the
    /// integration's bot user, with the given values (the others empty) and the next number of
    /// each unique_id property. Last in the state's order; bumps the generation.
    pub(crate) fn create(&mut self, ds_id: &str, update: Update, now: DateTime<Utc>) -> String {
        let id = loop {
            let candidate = random_uuid();
            if !self.pages.contains_key(&candidate) {
                break candidate;
            }
        };
        self.add_new_options(ds_id, update.new_options, now);
        self.uploads.attach(&update.uploads);
        let mut values: HashMap<String, Value> = update.values.into_iter().collect();
        if let Some(ds) = self.data_source(ds_id) {
            for prop in ds
                .properties
                .iter()
                .filter(|p| p.kind == PropType::UniqueId)
            {
                let number = self.next_unique_number(ds_id, &prop.id);
                values.insert(
                    prop.id.clone(),
                    json!({"prefix": prop.prefix, "number": number}),
                );
            }
        }
        self.generation += 1;
        self.page_order.push(id.clone());
        self.pages.insert(
            id.clone(),
            Page {
                id: id.clone(),
                data_source_id: ds_id.to_string(),
                created_time: minute(now),
                last_edited_time: now,
                created_by: INTEGRATION_BOT_ID.to_string(),
                last_edited_by: INTEGRATION_BOT_ID.to_string(),
                icon: update.icon.unwrap_or(Value::Null),
                cover: update.cover.unwrap_or(Value::Null),
                in_trash: false,
                is_locked: false,
                values,
            },
        );
        id
    }
}

/// A data source's schema from the seed: names and ids unique, one title, options valid.
fn schema_from_seed(ds_id: &str, props: &[SeedProperty]) -> Result<Vec<PropSchema>, SeedError> {
    let err = |m: String| invalid(format!("data source {ds_id}: {m}"));
    let mut out: Vec<PropSchema> = Vec::new();
    for sp in props {
        let kind = PropType::parse(&sp.kind).ok_or_else(|| {
            err(format!(
                "property `{}` has unknown type `{}`",
                sp.name, sp.kind
            ))
        })?;
        if sp.name.is_empty() {
            return Err(err("a property has an empty name".into()));
        }
        if out.iter().any(|p| p.name == sp.name) {
            return Err(err(format!("property name `{}` is used twice", sp.name)));
        }
        let id = match &sp.id {
            Some(id) if !id.is_empty() => id.clone(),
            _ if kind == PropType::Title => "title".to_string(),
            _ => {
                let mut n = 0u32;
                loop {
                    let candidate = short_id(&[ds_id, &sp.name, &n.to_string()], true);
                    if candidate != "title" && !out.iter().any(|p| p.id == candidate) {
                        break candidate;
                    }
                    n += 1;
                }
            }
        };
        if out.iter().any(|p| p.id == id) {
            return Err(err(format!("property id `{id}` is used twice")));
        }
        if !kind.has_options() && !sp.options.is_empty() {
            return Err(err(format!(
                "property `{}` of type {} cannot have options",
                sp.name, sp.kind
            )));
        }
        let mut options: Vec<SelectOption> = Vec::new();
        let last = sp.options.len().saturating_sub(1);
        for (i, so) in sp.options.iter().enumerate() {
            if so.name.is_empty() || so.name.contains(',') {
                return Err(err(format!(
                    "property `{}`: option name `{}` should be non-empty and without commas",
                    sp.name, so.name
                )));
            }
            if options.iter().any(|o| o.name == so.name) {
                return Err(err(format!(
                    "property `{}`: option `{}` is given twice",
                    sp.name, so.name
                )));
            }
            let color = so.color.clone().unwrap_or_else(|| "default".into());
            if !OPTION_COLORS.contains(&color.as_str()) {
                return Err(err(format!(
                    "property `{}`: option `{}` has unknown color `{color}`",
                    sp.name, so.name
                )));
            }
            let group = if kind == PropType::Status {
                let g = so.group.clone().unwrap_or_else(|| {
                    if i == 0 {
                        "to_do".into()
                    } else if i == last {
                        "complete".into()
                    } else {
                        "in_progress".into()
                    }
                });
                if !["to_do", "in_progress", "complete"].contains(&g.as_str()) {
                    return Err(err(format!(
                        "property `{}`: option `{}` has group `{g}`, expected to_do, in_progress or complete",
                        sp.name, so.name
                    )));
                }
                Some(g)
            } else if so.group.is_some() {
                return Err(err(format!(
                    "property `{}`: only status options have a group",
                    sp.name
                )));
            } else {
                None
            };
            options.push(SelectOption {
                id: so
                    .id
                    .clone()
                    .unwrap_or_else(|| short_id(&[ds_id, &id, &so.name], false)),
                name: so.name.clone(),
                color,
                description: so.description.clone(),
                group,
            });
        }
        let relation_data_source = match (kind, &sp.data_source_id) {
            (PropType::Relation, Some(target)) => Some(normalize_id(target).ok_or_else(|| {
                err(format!(
                    "relation `{}`: data_source_id `{target}` is not a UUID",
                    sp.name
                ))
            })?),
            (PropType::Relation, None) => {
                return Err(err(format!(
                    "relation `{}` needs a data_source_id",
                    sp.name
                )))
            }
            (_, Some(_)) => {
                return Err(err(format!(
                    "property `{}`: only relations have a data_source_id",
                    sp.name
                )))
            }
            (_, None) => None,
        };
        out.push(PropSchema {
            id,
            name: sp.name.clone(),
            kind,
            description: sp.description.clone(),
            options,
            format: sp.format.clone().unwrap_or_else(|| "number".into()),
            relation_data_source,
            expression: sp.expression.clone().unwrap_or_default(),
            prefix: sp.prefix.clone(),
        });
    }
    match out.iter().filter(|p| p.kind == PropType::Title).count() {
        1 => Ok(out),
        n => Err(err(format!(
            "the schema should have exactly one title property, it has {n}"
        ))),
    }
}

/// A seed value for a read-only property, in the shape a page read returns.
fn read_only_seed_value(prop: &PropSchema, v: &Value) -> Result<Value, String> {
    let name = &prop.name;
    Ok(match prop.kind {
        PropType::Formula => match v {
            // Notion's answer when it cannot compute a formula ("when their dependency
            // graph is too complex").
            Value::Object(m) if m.get("type").is_some_and(|t| t == "unsupported") => {
                json!({"type": "unsupported", "unsupported": {}})
            }
            Value::Object(m) if m.contains_key("type") => v.clone(),
            Value::Number(_) => json!({"type": "number", "number": v}),
            Value::String(_) => json!({"type": "string", "string": v}),
            Value::Bool(_) => json!({"type": "boolean", "boolean": v}),
            Value::Null => json!({"type": "string", "string": null}),
            _ => return Err(format!("formula `{name}` should be a number, string, boolean, null or a formula object")),
        },
        PropType::Rollup if v.get("type").is_some_and(|t| t == "unsupported") => json!({
            "type": "unsupported",
            "unsupported": {},
            "function": v.get("function").cloned().unwrap_or_else(|| json!("show_original")),
        }),
        PropType::UniqueId => match v.as_u64() {
            Some(n) => json!({"prefix": prop.prefix, "number": n}),
            None => return Err(format!("unique_id `{name}` should be a positive integer")),
        },
        PropType::CreatedTime | PropType::LastEditedTime | PropType::CreatedBy | PropType::LastEditedBy => {
            return Err(format!(
                "`{name}` is a {} property: set the page's created_time, last_edited_time or created_by instead",
                prop.kind.as_str()
            ))
        }
        _ => v.clone(),
    })
}

impl Workspace for Store {
    fn database(&self, id: &str) -> Option<&Database> {
        self.databases.iter().find(|d| d.id == id)
    }

    fn data_source(&self, id: &str) -> Option<&DataSource> {
        self.data_sources.iter().find(|d| d.id == id)
    }

    fn page(&self, id: &str) -> Option<&Page> {
        self.pages.get(id)
    }

    fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    fn max_schema_options(&self) -> Option<usize> {
        self.max_schema_options
    }

    fn hosted_upload(&self, id: &str) -> Result<Hosted, String> {
        self.uploads.hosted(id)
    }
}

impl Seed {
    /// Check everything the sandbox checks at start: ids, references, schema, values. (Defined
    /// here, beside the store it builds, so that the seed format needs nothing of the store.)
    pub fn check(&self) -> Result<(), SeedError> {
        Store::from_seed(self, Utc::now()).map(drop)
    }
}

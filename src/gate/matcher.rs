//! The matcher stage (SPEC §1, §9): between the mapper and the dispatcher, with a data
//! source. Each update is compared, field by field, with its page's values as the scan read
//! them ([`Index`]); only the fields that differ stay in the body, and a row left with nothing
//! to send becomes [`Mapped::Unchanged`] (outcome `skipped`, code `unchanged`, no request).
//! Once a row sends a field, that field's value is no longer known (the write may fail), so
//! later rows of the page always send it: an older value never stays because a newer one was
//! compared with a stale read.
//!
//! With `--match-on` (SPEC §10) a row first finds its page by key: one page, and the row is
//! that page's (its key is not written again); several, and it ends `ambiguous_key`; none, and
//! it ends `no_match`, or with `--create-missing` it creates the page and the later rows of
//! the key follow it ([`NewPage`]).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::gate::edit;
use crate::mapping::key::RowKey;
use crate::mapping::{FileItem, Mapped, PageUpdate, Problem, Properties, PropertyValue, RowError};
use crate::notion::NotionId;
use crate::scan::{Current, Index, Kind};

/// Compares updates with the index.
#[derive(Debug)]
pub struct Matcher {
    index: Index,
    /// `--send-unchanged`: keep every field (the comparison still reports the changes).
    send_unchanged: bool,
    /// `--backup`: give each sent row its page's before-image from the index.
    backup: bool,
    /// `--create-missing`: a key no page has creates one.
    create_missing: bool,
    /// The pages this run creates, by key (canonical).
    created: HashMap<Arc<str>, Arc<NewPage>>,
    /// `--recheck`: items added or removed are made against the read just before the write,
    /// not the scan.
    edits_on_read: bool,
}

/// A page `--create-missing` creates: the first row of a missing key creates it; the later
/// rows of the key update it, one after another in the same lane as rows of one page.
#[derive(Debug)]
pub struct NewPage {
    pub key: RowKey,
    /// The row that creates it.
    pub row: u64,
    /// The lane its rows run in until it exists (a made-up id, never sent).
    pub lane: NotionId,
    /// The page's id, once it exists.
    pub id: OnceLock<NotionId>,
}

impl NewPage {
    fn new(key: RowKey, row: u64) -> NewPage {
        NewPage {
            lane: key.lane(),
            key,
            row,
            id: OnceLock::new(),
        }
    }
}

/// What finding a row's page by its key came to.
pub enum Found {
    /// Compare the row with its page (or pass it on: no key, not an update).
    Go(Mapped),
    /// The row is done with matching.
    Done(Matched),
}

/// What a row does about a page that does not exist yet.
#[derive(Debug, Clone)]
pub enum Creation {
    /// The row creates it.
    Create(Arc<NewPage>),
    /// A later row of its key: it updates the page once the first row has created it.
    Follow(Arc<NewPage>),
}

/// One field a row changes: its value now and the row's.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub field: Arc<str>,
    pub from: Value,
    pub to: Value,
}

/// What the matcher made of one row.
#[derive(Debug)]
pub struct Matched {
    pub mapped: Mapped,
    /// The fields that differ; `None` when the row was not compared (not an update, or its
    /// page is not in the data source as scanned).
    pub changes: Option<Vec<Change>>,
    /// With `--backup`: the page's current values of the fields sent, as a page object.
    pub before: Option<Value>,
    /// With `--create-missing`: the row creates its page, or follows the row that does.
    pub creation: Option<Creation>,
}

impl Matched {
    /// A row not compared: not an update, its page not scanned, or no data source.
    pub fn as_is(mapped: Mapped) -> Matched {
        Matched {
            mapped,
            changes: None,
            before: None,
            creation: None,
        }
    }
}

impl Matcher {
    pub fn new(index: Index, send_unchanged: bool, backup: bool) -> Matcher {
        Matcher {
            index,
            send_unchanged,
            backup,
            create_missing: false,
            created: HashMap::new(),
            edits_on_read: false,
        }
    }

    /// With `--recheck`: edits wait for the read before the write.
    pub fn rechecking(self, recheck: bool) -> Matcher {
        Matcher {
            edits_on_read: recheck,
            ..self
        }
    }

    /// With `--create-missing`: rows of a key no page has create the page.
    pub fn creating(self, create_missing: bool) -> Matcher {
        Matcher {
            create_missing,
            ..self
        }
    }

    /// With a key: the row's page, found by its key. `Err`: the row is done (not found,
    /// ambiguous, or it creates or follows a new page).
    pub fn find(&mut self, mapped: Mapped) -> Found {
        let Some(key) = self.index.key() else {
            return Found::Go(mapped);
        };
        let property = key.property.clone();
        let done = |mapped, creation| Matched {
            mapped,
            changes: None,
            before: None,
            creation,
        };
        match mapped {
            Mapped::Update(mut update) => {
                let Some(row_key) = update.key.clone() else {
                    return Found::Go(Mapped::Update(update));
                };
                if let Some(new) = self.created.get(&row_key.canonical) {
                    without_key(&mut update, &property);
                    if update.body.is_empty() {
                        return Found::Done(done(skipped(update), None));
                    }
                    update.page_id = new.lane;
                    return Found::Done(done(
                        Mapped::Update(update),
                        Some(Creation::Follow(new.clone())),
                    ));
                }
                match self.index.pages_of(&row_key.canonical) {
                    [page] => {
                        update.page_id = *page;
                        without_key(&mut update, &property);
                        if update.body.is_empty() {
                            return Found::Done(done(
                                Mapped::Unchanged {
                                    row: update.row,
                                    page_id: update.page_id,
                                    key: update.key,
                                },
                                None,
                            ));
                        }
                        Found::Go(Mapped::Update(update))
                    }
                    [] if self.create_missing => {
                        let new = Arc::new(NewPage::new(row_key.clone(), update.row));
                        self.created.insert(row_key.canonical.clone(), new.clone());
                        update.page_id = new.lane;
                        Found::Done(done(Mapped::Update(update), Some(Creation::Create(new))))
                    }
                    pages => Found::Done(done(
                        Mapped::Unmatched {
                            row: update.row,
                            key: row_key,
                            property,
                            pages: pages.to_vec(),
                            unreadable: self.index.unreadable_keys(),
                        },
                        None,
                    )),
                }
            }
            Mapped::Skipped {
                row,
                key: Some(key),
                ..
            } => {
                let page_id = match self.index.pages_of(&key.canonical) {
                    [page] => *page,
                    _ => NotionId::UNMATCHED,
                };
                Found::Go(Mapped::Skipped {
                    row,
                    page_id,
                    key: Some(key),
                })
            }
            other => Found::Go(other),
        }
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Finds one mapped row's page (with a key) and compares the row with it.
    pub fn matched(&mut self, mapped: Mapped) -> Matched {
        match self.find(mapped) {
            Found::Go(mapped) => self.compare(mapped),
            Found::Done(done) => done,
        }
    }

    /// Compares one mapped row with its page as the scan read it.
    pub fn compare(&mut self, mapped: Mapped) -> Matched {
        let Mapped::Update(mut update) = mapped else {
            return Matched::as_is(mapped);
        };
        let Some(entry) = self.index.get(&update.page_id) else {
            return Matched::as_is(Mapped::Update(update));
        };
        if !self.edits_on_read {
            if let Err(problem) = make_edits(&mut update.body, &self.index, entry) {
                return Matched::as_is(Mapped::Invalid(RowError {
                    row: update.row,
                    line: update.line,
                    page_id: Some(update.page_id),
                    key: update.key,
                    problems: vec![problem],
                }));
            }
        }
        let index = &self.index;
        let mut changes = Vec::new();
        let mut sent = Vec::new();
        // Whether the field `key` names keeps its new value in the body.
        let mut keep = |key: &str, new: Option<&Value>, native: bool| -> bool {
            let Some(i) = index.field(key) else {
                return true; // not compared: sent as is
            };
            let field = &index.fields()[i];
            let inner = match (field.kind, new) {
                (Kind::Property(ty), Some(v)) => v.get(ty.as_str()),
                (_, v) => v,
            };
            let Some(new) = inner.and_then(|v| Current::read(field.kind, v).ok()) else {
                sent.push(i);
                return true;
            };
            let current = &entry.values[i];
            if new.same(current, native) {
                if !self.send_unchanged {
                    return false;
                }
            } else {
                changes.push(Change {
                    field: field.name.clone(),
                    from: current.display(),
                    to: new.display(),
                });
            }
            sent.push(i);
            true
        };
        let body = &mut update.body;
        retain_kept(body, index, entry, &mut keep);
        if body.is_empty() {
            return Matched {
                mapped: Mapped::Unchanged {
                    row: update.row,
                    page_id: update.page_id,
                    key: update.key,
                },
                changes: Some(changes),
                before: None,
                creation: None,
            };
        }
        let before = self.backup.then(|| index.page_image(entry, &sent));
        if let Some(entry) = self.index.get_mut(&update.page_id) {
            for i in sent {
                entry.values[i] = Current::Unknown;
            }
        }
        Matched {
            mapped: Mapped::Update(update),
            changes: Some(changes),
            before,
            creation: None,
        }
    }
}

/// Makes each add or remove of the row against the page's list as the scan read it: the new
/// list replaces the edit, or the field goes when it would not change. An edit of a field the
/// scan no longer knows (a row already sent writes it) is left for the worker's read.
fn make_edits(
    body: &mut crate::mapping::Body,
    index: &Index,
    entry: &crate::scan::Entry,
) -> Result<(), Problem> {
    let made = edit::make_each(body, |name, e| match index.field(name) {
        Some(i) => edit::make(name, e, &entry.values[i]),
        None => Ok(None),
    });
    made.map_err(|(name, why)| Problem::property(&name, why))
}

/// Walks the body's fields (properties, then icon, cover, in_trash, is_locked) and drops each
/// one `keep` says not to send; a files cell's links to the page's hosted files become those
/// files first.
fn retain_kept(
    body: &mut crate::mapping::Body,
    index: &Index,
    entry: &crate::scan::Entry,
    keep: &mut dyn FnMut(&str, Option<&Value>, bool) -> bool,
) {
    match &mut body.properties {
        Properties::Typed(values) => values.retain_mut(|(name, value)| {
            if let (PropertyValue::Files(files), Some(i)) = (&mut *value, index.field(name)) {
                keep_hosted(files, &entry.values[i]);
            }
            if matches!(value, PropertyValue::Edit(_)) {
                // Made against the page when it is read: sent, and no longer known.
                return keep(name, None, false);
            }
            let json = serde_json::to_value(&*value).expect("a value serialises");
            keep(name, Some(&json), false)
        }),
        Properties::Native(map, _) => map.retain(|key, value| keep(key, Some(value), true)),
    }
    for (key, slot) in [("icon", &mut body.icon), ("cover", &mut body.cover)] {
        if slot.is_some() && !keep(key, slot.as_ref(), true) {
            *slot = None;
        }
    }
    for (key, slot) in [
        ("in_trash", &mut body.in_trash),
        ("is_locked", &mut body.is_locked),
    ] {
        if let Some(v) = *slot {
            if !keep(key, Some(&Value::Bool(v)), true) {
                *slot = None;
            }
        }
    }
}

/// The cell's links to files the page holds as Notion-hosted files (by the link without its
/// signature) become those files, as the scan read them: an unedited cell compares equal, and
/// an edited one sends them back as `file` objects, which Notion keeps.
fn keep_hosted(files: &mut [FileItem], current: &Current) {
    let Current::Files(held) = current else {
        return;
    };
    for file in files.iter_mut() {
        let identity = FileItem::identity(&file.url);
        if let Some(h) = held.iter().find(|h| h.hosted && h.identity() == identity) {
            file.name = h.name.to_string();
            file.url = h.url.to_string();
            file.hosted = true;
        }
    }
}

/// The row's body without its key: a row found by its key does not write it again (with
/// `--match-ignore-case` that would change its case).
fn without_key(update: &mut PageUpdate, property: &str) {
    if let Properties::Typed(values) = &mut update.body.properties {
        values.retain(|(name, _)| &**name != property);
    }
}

/// A row left with nothing to send once its key is dropped.
fn skipped(update: PageUpdate) -> Mapped {
    Mapped::Skipped {
        row: update.row,
        page_id: NotionId::UNMATCHED,
        key: update.key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::{Body, PageUpdate, PropertyValue};
    use crate::notion::{NotionId, PropertyType};
    use crate::scan::Field;
    use serde_json::json;

    fn matcher() -> Matcher {
        let mut index = Index::new(vec![
            Field {
                name: "Status".into(),
                id: "s".into(),
                kind: Kind::Property(PropertyType::Status),
            },
            Field {
                name: "Estimate".into(),
                id: "e".into(),
                kind: Kind::Property(PropertyType::Number),
            },
        ]);
        index
            .insert(
                &json!({"id": NotionId::from_u128(1).to_string(), "properties": {
                "Status": {"id": "s", "type": "status", "status": {"name": "In progress"}},
                "Estimate": {"id": "e", "type": "number", "number": 12.5}}}),
            )
            .unwrap();
        Matcher::new(index, false, true)
    }

    fn update(values: Vec<(&str, PropertyValue)>) -> Mapped {
        Mapped::Update(PageUpdate {
            row: 1,
            line: 2,
            page_id: NotionId::from_u128(1),
            key: None,
            body: Body {
                properties: Properties::Typed(
                    values.into_iter().map(|(k, v)| (Arc::from(k), v)).collect(),
                ),
                ..Body::default()
            },
        })
    }

    #[test]
    fn only_the_changes_are_sent_and_a_field_sent_is_no_longer_known() {
        let mut m = matcher();
        let row = update(vec![
            ("Status", PropertyValue::Status(Some("Done".into()))),
            (
                "Estimate",
                PropertyValue::Number(Some(serde_json::Number::from_f64(12.50).unwrap())),
            ),
        ]);
        let matched = m.matched(row.clone());
        let Mapped::Update(u) = &matched.mapped else {
            panic!("sent")
        };
        assert_eq!(
            u.body.to_value(),
            json!({"properties": {"Status": {"status": {"name": "Done"}}}})
        );
        assert_eq!(
            matched.changes.unwrap(),
            [Change {
                field: "Status".into(),
                from: json!("In progress"),
                to: json!("Done")
            }]
        );
        assert_eq!(
            matched.before.unwrap()["properties"]["Status"]["status"],
            json!({"name": "In progress"})
        );
        // The same row again: Status is sent again (its value is not known any more).
        let again = m.matched(row);
        assert!(matches!(again.mapped, Mapped::Update(_)));
        let unchanged = m.matched(update(vec![(
            "Estimate",
            PropertyValue::Number(Some(serde_json::Number::from_f64(12.5).unwrap())),
        )]));
        assert!(
            matches!(unchanged.mapped, Mapped::Unchanged { .. }),
            "{unchanged:?}"
        );
    }
}

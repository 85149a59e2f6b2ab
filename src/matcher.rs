//! The matcher stage (SPEC §1, §9): between the mapper and the dispatcher, with a data
//! source. Each update is compared, field by field, with its page's values as the scan read
//! them ([`Index`]); only the fields that differ stay in the body, and a row left with nothing
//! to send becomes [`Mapped::Unchanged`] (outcome `skipped`, code `unchanged`, no request).
//! Once a row sends a field, that field's value is no longer known (the write may fail), so
//! later rows of the page always send it: an older value never stays because a newer one was
//! compared with a stale read.

use std::sync::Arc;

use serde_json::Value;

use crate::mapping::{Mapped, Properties};
use crate::scan::{Current, Index, Kind};

/// Compares updates with the index.
#[derive(Debug)]
pub struct Matcher {
    index: Index,
    /// `--send-unchanged`: keep every field (the comparison still reports the changes).
    send_unchanged: bool,
    /// `--backup`: give each sent row its page's before-image from the index.
    backup: bool,
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
}

impl Matcher {
    pub fn new(index: Index, send_unchanged: bool, backup: bool) -> Matcher {
        Matcher {
            index,
            send_unchanged,
            backup,
        }
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Compares one mapped row.
    pub fn matched(&mut self, mapped: Mapped) -> Matched {
        let Mapped::Update(mut update) = mapped else {
            return Matched {
                mapped,
                changes: None,
                before: None,
            };
        };
        let Some(entry) = self.index.get(&update.page_id) else {
            return Matched {
                mapped: Mapped::Update(update),
                changes: None,
                before: None,
            };
        };
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
        match &mut body.properties {
            Properties::Typed(values) => values.retain(|(name, value)| {
                let json = serde_json::to_value(value).expect("a value serialises");
                keep(name, Some(&json), false)
            }),
            Properties::Native(map) => map.retain(|key, value| keep(key, Some(value), true)),
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
        if body.is_empty() {
            return Matched {
                mapped: Mapped::Unchanged {
                    row: update.row,
                    page_id: update.page_id,
                },
                changes: Some(changes),
                before: None,
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
        }
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

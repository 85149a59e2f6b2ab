//! Adding and removing items (`Tags+`, `Tags-`, `--set 'Tags+=Q4'`): an [`ItemEdit`] made
//! against the page's current list, as the scan read it (the matcher) or as the worker reads
//! it just before the write. The API only replaces a whole list, so the row sends the page's
//! list with the items added (at the end, in the row's order) and removed; an add of an item
//! the page has, or a remove of one it lacks, changes nothing.

use crate::mapping::{Body, Field, FileItem, ItemEdit, Properties, PropertyValue};
use crate::notion::NotionId;
use crate::scan::{Current, Kind};

/// The most items Notion takes in one list value of a request.
const MAX_ITEMS: usize = 100;

/// What an edit makes of the page's current list.
#[derive(Debug, Clone, PartialEq)]
pub enum Edited {
    /// The whole new list to send.
    Changed(PropertyValue),
    /// The page's list already is what the edit asks: nothing to send.
    Unchanged,
}

/// The new list of `property` once `edit` is made against `current`. `Ok(None)`: the current
/// value is not known (a row already sent writes it), so the edit waits for a read. `Err`:
/// the list would hold more items than Notion takes (the row is invalid).
pub fn make(property: &str, edit: &ItemEdit, current: &Current) -> Result<Option<Edited>, String> {
    let ty = edit.add.property_type();
    let made = match (&edit.add, &edit.remove, current) {
        (
            PropertyValue::MultiSelect(add),
            PropertyValue::MultiSelect(remove),
            Current::Names(held),
        ) => {
            let held: Vec<String> = held.iter().map(ToString::to_string).collect();
            edited(&held, add, remove, |a, b| a == b).map(PropertyValue::MultiSelect)
        }
        (PropertyValue::People(add), PropertyValue::People(remove), Current::Ids(held)) => {
            edited(held, add, remove, NotionId::eq).map(PropertyValue::People)
        }
        (PropertyValue::Relation(add), PropertyValue::Relation(remove), Current::Ids(held)) => {
            edited(held, add, remove, NotionId::eq).map(PropertyValue::Relation)
        }
        (PropertyValue::Files(add), PropertyValue::Files(remove), Current::Files(held)) => {
            let held: Vec<FileItem> = held
                .iter()
                .map(|f| FileItem {
                    name: f.name.to_string(),
                    url: f.url.to_string(),
                    hosted: f.hosted,
                    upload: None,
                })
                .collect();
            edited(&held, add, remove, same_file).map(PropertyValue::Files)
        }
        _ => return Ok(None),
    };
    let Some(value) = made else {
        return Ok(Some(Edited::Unchanged));
    };
    let count = item_count(&value);
    if count > MAX_ITEMS {
        return Err(format!(
            "with these items added, {property:?} would hold {count} items; Notion takes at most \
             {MAX_ITEMS} in one {ty} value, so nothing was sent: remove some items first"
        ));
    }
    Ok(Some(Edited::Changed(value)))
}

/// [`make`] against a page as read (`GET /v1/pages/{id}`, lists past 25 items completed):
/// the property's value under its type's key. A page without the property has nothing.
pub fn make_against_page(
    property: &str,
    edit: &ItemEdit,
    page: &serde_json::Value,
) -> Result<Edited, String> {
    let ty = edit.add.property_type();
    let value = page["properties"]
        .as_object()
        .and_then(|p| crate::notion::page_read::find_property(p, property))
        .map(|(_, v)| v[ty.as_str()].clone())
        .unwrap_or(serde_json::Value::Array(Vec::new()));
    let current = Current::read(Kind::Property(ty), &value)
        .map_err(|e| format!("{property:?} as read from the page: {e}"))?;
    make(property, edit, &current)?
        .ok_or_else(|| format!("{property:?} as read from the page is not a {ty} list"))
}

/// Whether a body still has an edit to make against the page.
pub fn has_edits(body: &Body) -> bool {
    match &body.properties {
        Properties::Typed(values) => values
            .iter()
            .any(|(_, v)| matches!(v, PropertyValue::Edit(_))),
        Properties::Native(..) => false,
    }
}

/// The properties a body adds items to or removes them from. They do not set the whole
/// value, so they never supersede an earlier row's value of the field (SPEC §6): a row that
/// adds `A` resumed after a later row that added `B` still adds `A`.
pub fn edited_fields(body: &Body) -> Vec<Field> {
    match &body.properties {
        Properties::Typed(values) => values
            .iter()
            .filter(|(_, v)| matches!(v, PropertyValue::Edit(_)))
            .map(|(name, _)| Field::Property(name.clone()))
            .collect(),
        Properties::Native(..) => Vec::new(),
    }
}

/// Makes every edit of a body against the page as just read: each becomes the new list, or
/// goes when it would change nothing. `Err`: why the row cannot be sent.
pub fn make_all_against_page(body: &mut Body, page: &serde_json::Value) -> Result<(), String> {
    make_each(body, |name, edit| {
        make_against_page(name, edit, page).map(Some)
    })
    .map_err(|(_, why)| why)
}

/// Makes each edit of a body with `make` (`Ok(None)`: not known yet, left as it is): the new
/// list replaces the edit, or the field goes when it would change nothing. `Err`: the property
/// and why the row cannot be sent.
pub fn make_each(
    body: &mut Body,
    mut make: impl FnMut(&str, &ItemEdit) -> Result<Option<Edited>, String>,
) -> Result<(), (std::sync::Arc<str>, String)> {
    let Properties::Typed(values) = &mut body.properties else {
        return Ok(());
    };
    let mut failure = None;
    values.retain_mut(|(name, value)| {
        let PropertyValue::Edit(e) = &*value else {
            return true;
        };
        match make(name, e) {
            Ok(Some(Edited::Changed(new))) => *value = new,
            Ok(Some(Edited::Unchanged)) => return false,
            Ok(None) => {}
            Err(why) => failure = Some((name.clone(), why)),
        }
        true
    });
    failure.map_or(Ok(()), Err)
}

/// The items of `held` without those `remove` names, then those of `add` it lacks; `None`
/// when that is `held` itself.
fn edited<T: Clone>(
    held: &[T],
    add: &[T],
    remove: &[T],
    same: impl Fn(&T, &T) -> bool,
) -> Option<Vec<T>> {
    let mut out: Vec<T> = held
        .iter()
        .filter(|h| !remove.iter().any(|r| same(h, r)))
        .cloned()
        .collect();
    let removed = out.len() != held.len();
    let mut added = false;
    for item in add {
        if !out.iter().any(|o| same(o, item)) && !remove.iter().any(|r| same(item, r)) {
            out.push(item.clone());
            added = true;
        }
    }
    (removed || added).then_some(out)
}

/// A file names another by its link (a hosted file's without its signature) or by its name.
fn same_file(a: &FileItem, b: &FileItem) -> bool {
    FileItem::identity(&a.url) == FileItem::identity(&b.url) || a.name == b.name
}

fn item_count(value: &PropertyValue) -> usize {
    match value {
        PropertyValue::MultiSelect(v) => v.len(),
        PropertyValue::People(v) | PropertyValue::Relation(v) => v.len(),
        PropertyValue::Files(v) => v.len(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::EditOp;

    fn names(list: &[&str]) -> PropertyValue {
        PropertyValue::MultiSelect(list.iter().map(|s| s.to_string()).collect())
    }

    fn held(list: &[&str]) -> Current {
        Current::Names(list.iter().map(|s| Box::from(*s)).collect())
    }

    #[test]
    fn an_add_appends_what_is_missing_and_a_remove_keeps_the_rest() {
        let add = ItemEdit::of(EditOp::Add, names(&["Q4", "backend"]));
        assert_eq!(
            make("Tags", &add, &held(&["backend", "urgent"])),
            Ok(Some(Edited::Changed(names(&["backend", "urgent", "Q4"]))))
        );
        let mut both = ItemEdit::of(EditOp::Remove, names(&["urgent"]));
        both.merge(ItemEdit::of(EditOp::Add, names(&["Q4"])));
        assert_eq!(
            make("Tags", &both, &held(&["backend", "urgent"])),
            Ok(Some(Edited::Changed(names(&["backend", "Q4"]))))
        );
    }

    #[test]
    fn an_edit_the_page_already_has_changes_nothing() {
        let add = ItemEdit::of(EditOp::Add, names(&["Q4"]));
        assert_eq!(
            make("Tags", &add, &held(&["Q4", "x"])),
            Ok(Some(Edited::Unchanged))
        );
        let remove = ItemEdit::of(EditOp::Remove, names(&["old"]));
        assert_eq!(
            make("Tags", &remove, &held(&["Q4"])),
            Ok(Some(Edited::Unchanged))
        );
        assert_eq!(make("Tags", &add, &Current::Unknown), Ok(None));
    }

    #[test]
    fn more_than_a_hundred_items_is_refused_with_the_count() {
        let ids: Vec<NotionId> = (1..=100).map(NotionId::from_u128).collect();
        let add = ItemEdit::of(
            EditOp::Add,
            PropertyValue::Relation(vec![NotionId::from_u128(500)]),
        );
        let err = make("Parts", &add, &Current::Ids(ids.into())).unwrap_err();
        assert!(err.contains("101 items"), "{err}");
    }
}

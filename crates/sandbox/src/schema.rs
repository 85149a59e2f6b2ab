//! Checking a data source PATCH body (`PATCH /v1/data_sources/{id}`) from the API's side. The
//! sandbox models option changes only: a select or multi_select property's options given as its
//! whole new list (existing ones kept by id or name, new ones added, omitted ones removed), new
//! status options (each into a group), and the data source's title and icon. Every other schema
//! change (renames, type changes, deleting a property, other configurations) is refused with a
//! message that says so. Nothing is applied here: the store applies the [`SchemaUpdate`].

use super::error::ApiError;
use super::model::{
    plain_text, short_id, DataSource, PropSchema, PropType, SelectOption, Workspace, OPTION_COLORS,
    STATUS_GROUPS,
};
use super::validate::{
    array, check_icon, check_schema_size, object, one_of, only_keys, required, rich_text_item,
    string, text, utf16_len, MAX_OPTION_NAME, MAX_SHORT, MAX_TEXT,
};
use serde_json::{Map, Value};

/// A checked data source update, ready to apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SchemaUpdate {
    /// The new title's plain text.
    pub(crate) title: Option<String>,
    /// The new icon (`null` clears it), in the shape reads show it.
    pub(crate) icon: Option<Value>,
    /// Each changed property's whole new option list, by property id, in the request's order.
    pub(crate) options: Vec<(String, Vec<SelectOption>)>,
    /// File uploads the icon attaches, by id.
    pub(crate) uploads: Vec<String>,
}

/// Check a whole data source PATCH body against `ds`: top-level keys, each property's change,
/// and the schema-size ceiling. The first problem is the error; nothing is half-checked.
pub(crate) fn check_schema_patch(
    store: &dyn Workspace,
    ds: &DataSource,
    body: &Value,
) -> Result<SchemaUpdate, ApiError> {
    let m = object(body, "body")?;
    only_keys(m, &["properties", "title", "icon"], "body")?;
    let mut uploads = Vec::new();
    let mut update = SchemaUpdate {
        title: m.get("title").map(|t| check_title(store, t)).transpose()?,
        icon: m
            .get("icon")
            .map(|v| check_icon(store, v, "body.icon", &mut uploads))
            .transpose()?,
        options: Vec::new(),
        uploads,
    };
    let properties = m
        .get("properties")
        .map(|v| object(v, "body.properties"))
        .transpose()?;
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in properties.into_iter().flatten() {
        let prop = ds.property(key).ok_or_else(|| {
            ApiError::validation(format!("Could not find property with name or id: {key}"))
        })?;
        if seen.contains(&prop.id.as_str()) {
            return Err(ApiError::validation(format!(
                "body.properties.{key} names the property `{}` a second time.",
                prop.name
            )));
        }
        seen.push(&prop.id);
        if let Some(options) = check_property(ds, prop, value, &format!("body.properties.{key}"))? {
            update.options.push((prop.id.clone(), options));
        }
    }
    check_ceiling(store, ds, &update.options)?;
    Ok(update)
}

/// A new title: rich text items, kept as their plain text.
fn check_title(store: &dyn Workspace, v: &Value) -> Result<String, ApiError> {
    let items = array(v, "body.title")?;
    let shown = items
        .iter()
        .enumerate()
        .map(|(i, item)| rich_text_item(store, item, &format!("body.title[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plain_text(&Value::Array(shown)))
}

/// The schema-size ceiling, counting the changed properties' new lists.
fn check_ceiling(
    store: &dyn Workspace,
    ds: &DataSource,
    changes: &[(String, Vec<SelectOption>)],
) -> Result<(), ApiError> {
    let mut total = 0;
    let mut adds = false;
    for prop in &ds.properties {
        match changes.iter().find(|(id, _)| id == &prop.id) {
            Some((_, options)) => {
                total += options.len();
                adds |= options
                    .iter()
                    .any(|o| !prop.options.iter().any(|e| e.id == o.id));
            }
            None => total += prop.options.len(),
        }
    }
    check_schema_size(store, total, adds)
}

/// What the sandbox refuses because it does not model it, in one wording.
fn not_modelled(what: &str) -> ApiError {
    ApiError::validation(format!(
        "{what} is not modelled by the sandbox, which models only option changes: adding and \
         removing select and multi_select options, and adding status options."
    ))
}

/// One property's change: `{name?, description?, type?, <type>?: {options: […]}}`, where name,
/// description and type must be the property's own. The new option list, if one is given.
fn check_property(
    ds: &DataSource,
    prop: &PropSchema,
    value: &Value,
    path: &str,
) -> Result<Option<Vec<SelectOption>>, ApiError> {
    if value.is_null() {
        return Err(not_modelled(&format!(
            "Deleting the property `{}` ({path} is null)",
            prop.name
        )));
    }
    let m = object(value, path)?;
    check_unchanged(prop, m, path)?;
    let kind = prop.kind.as_str();
    for (key, v) in m {
        if ["name", "description", "type", kind].contains(&key.as_str()) {
            continue;
        }
        if PropType::parse(key).is_some() {
            return Err(type_change(prop, key));
        }
        return Err(ApiError::body(
            &format!("{path}.{key}"),
            "not present",
            Some(v),
        ));
    }
    let Some(config) = m.get(kind) else {
        return Ok(None);
    };
    if !prop.kind.has_options() {
        return Err(not_modelled(&format!(
            "Changing the {kind} configuration of `{}`",
            prop.name
        )));
    }
    let config_path = format!("{path}.{kind}");
    let cm = object(config, &config_path)?;
    if cm.contains_key("groups") {
        return Err(not_modelled(&format!(
            "Changing the groups of `{}`",
            prop.name
        )));
    }
    only_keys(cm, &["options"], &config_path)?;
    let options_path = format!("{config_path}.options");
    let items = array(required(cm, "options", &config_path)?, &options_path)?;
    check_options(ds, prop, items, &options_path).map(Some)
}

/// `name`, `description` and `type`, when given, must be what the property has.
fn check_unchanged(prop: &PropSchema, m: &Map<String, Value>, path: &str) -> Result<(), ApiError> {
    if let Some(name) = m.get("name") {
        let name = string(name, &format!("{path}.name"))?;
        if name != prop.name {
            return Err(not_modelled(&format!(
                "Renaming the property `{}` to `{name}`",
                prop.name
            )));
        }
    }
    if let Some(d) = m.get("description") {
        let same = match d {
            Value::Null => prop.description.is_none(),
            Value::String(s) => prop.description.as_deref() == Some(s.as_str()),
            _ => false,
        };
        if !same {
            return Err(not_modelled(&format!(
                "Changing the description of `{}`",
                prop.name
            )));
        }
    }
    if let Some(t) = m.get("type") {
        let t = string(t, &format!("{path}.type"))?;
        if t != prop.kind.as_str() {
            return Err(type_change(prop, t));
        }
    }
    Ok(())
}

fn type_change(prop: &PropSchema, to: &str) -> ApiError {
    not_modelled(&format!(
        "Changing the type of `{}` from {} to {to}",
        prop.name,
        prop.kind.as_str()
    ))
}

/// A property's whole new option list. A status property must keep every option it has.
fn check_options(
    ds: &DataSource,
    prop: &PropSchema,
    items: &[Value],
    path: &str,
) -> Result<Vec<SelectOption>, ApiError> {
    let mut out: Vec<SelectOption> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let option = option_item(ds, prop, item, &format!("{path}[{i}]"), &out)?;
        out.push(option);
    }
    if prop.kind == PropType::Status {
        if let Some(gone) = prop
            .options
            .iter()
            .find(|o| !out.iter().any(|n| n.id == o.id))
        {
            return Err(ApiError::validation(format!(
                "{path} leaves out the status option `{}` of `{}`: the API only adds status \
                 options, so the list must keep every existing one.",
                gone.name, prop.name
            )));
        }
    }
    Ok(out)
}

/// One item of an option list: an existing option (by id, or by its exact name), unchanged, or
/// a new option. Each option may appear once.
fn option_item(
    ds: &DataSource,
    prop: &PropSchema,
    item: &Value,
    path: &str,
    so_far: &[SelectOption],
) -> Result<SelectOption, ApiError> {
    let m = object(item, path)?;
    let fields = OptionFields::parse(prop, m, path)?;
    let existing = match fields.id {
        Some(id) => Some(prop.options.iter().find(|o| o.id == id).ok_or_else(|| {
            ApiError::body(
                &format!("{path}.id"),
                &format!("the id of an option of `{}`", prop.name),
                m.get("id"),
            )
        })?),
        None => fields
            .name
            .and_then(|name| prop.options.iter().find(|o| o.name == name)),
    };
    let option = match existing {
        Some(o) => {
            fields.check_same(o, path)?;
            o.clone()
        }
        None => fields.new_option(ds, prop, path, so_far)?,
    };
    if so_far
        .iter()
        .any(|o| o.id == option.id || o.name == option.name)
    {
        return Err(ApiError::validation(format!(
            "{path}: the option `{}` is given twice.",
            option.name
        )));
    }
    Ok(option)
}

/// The fields of an option list item, shape-checked.
struct OptionFields<'v> {
    id: Option<&'v str>,
    name: Option<&'v str>,
    color: Option<&'v str>,
    /// `Some(None)` when given as `null`.
    description: Option<Option<&'v str>>,
    /// status only: the group's key.
    group: Option<&'static str>,
}

impl<'v> OptionFields<'v> {
    fn parse(prop: &PropSchema, m: &'v Map<String, Value>, path: &str) -> Result<Self, ApiError> {
        let mut keys = vec!["id", "name", "color", "description"];
        if prop.kind == PropType::Status {
            keys.push("group");
        }
        only_keys(m, &keys, path)?;
        let at = |key: &str| format!("{path}.{key}");
        let fields = OptionFields {
            id: m
                .get("id")
                .map(|v| text(v, &at("id"), 1, MAX_SHORT))
                .transpose()?,
            name: m.get("name").map(|v| string(v, &at("name"))).transpose()?,
            color: m.get("color").map(|v| color(v, &at("color"))).transpose()?,
            description: m
                .get("description")
                .map(|v| description(v, &at("description")))
                .transpose()?,
            group: m.get("group").map(|v| group(v, &at("group"))).transpose()?,
        };
        if fields.id.is_none() && fields.name.is_none() {
            return Err(ApiError::body(&at("name"), "defined", None));
        }
        Ok(fields)
    }

    /// An existing option given again: whatever the item says about it must be what it is.
    fn check_same(&self, o: &SelectOption, path: &str) -> Result<(), ApiError> {
        for (field, was, now) in [
            ("name", &o.name, self.name),
            ("color", &o.color, self.color),
        ] {
            if let Some(now) = now.filter(|now| now != was) {
                return Err(ApiError::validation(format!(
                    "{path}: the name and color of an existing option cannot be updated (the \
                     option `{}` has {field} `{was}`, the request gives `{now}`).",
                    o.name
                )));
            }
        }
        if self
            .description
            .is_some_and(|d| d != o.description.as_deref())
        {
            return Err(not_modelled(&format!(
                "{path}: changing the description of the existing option `{}`",
                o.name
            )));
        }
        if let Some(g) = self.group.filter(|g| o.group.as_deref() != Some(*g)) {
            return Err(not_modelled(&format!(
                "{path}: moving the existing status option `{}` to the group {g}",
                o.name
            )));
        }
        Ok(())
    }

    /// A new option: a valid, unused name; a fresh id; status options in a group (to_do by
    /// default).
    fn new_option(
        &self,
        ds: &DataSource,
        prop: &PropSchema,
        path: &str,
        so_far: &[SelectOption],
    ) -> Result<SelectOption, ApiError> {
        let name_path = format!("{path}.name");
        let name = self
            .name
            .ok_or_else(|| ApiError::body(&name_path, "defined", None))?;
        check_new_name(name, &name_path)?;
        Ok(SelectOption {
            id: fresh_id(ds, prop, name, so_far),
            name: name.to_string(),
            color: self.color.unwrap_or("default").to_string(),
            description: self.description.flatten().map(str::to_string),
            group: (prop.kind == PropType::Status).then(|| self.group.unwrap_or("to_do").into()),
        })
    }
}

fn color<'v>(v: &'v Value, path: &str) -> Result<&'v str, ApiError> {
    let s = string(v, path)?;
    if !OPTION_COLORS.contains(&s) {
        return Err(ApiError::body(path, &one_of(&OPTION_COLORS), Some(v)));
    }
    Ok(s)
}

fn description<'v>(v: &'v Value, path: &str) -> Result<Option<&'v str>, ApiError> {
    match v {
        Value::Null => Ok(None),
        _ => text(v, path, 1, MAX_TEXT).map(Some),
    }
}

/// A status group named by its id, its name or its key (`"to_do"`, `"To-do"`), as a string or
/// as `{"id": …}` / `{"name": …}`; its key.
fn group(v: &Value, path: &str) -> Result<&'static str, ApiError> {
    let named = match v {
        Value::Object(m) => m
            .get("id")
            .or_else(|| m.get("name"))
            .and_then(Value::as_str),
        _ => v.as_str(),
    };
    STATUS_GROUPS
        .iter()
        .find(|(key, name, _)| named == Some(*key) || named == Some(*name))
        .map(|(key, _, _)| *key)
        .ok_or_else(|| {
            let known: Vec<&str> = STATUS_GROUPS
                .iter()
                .flat_map(|(key, name, _)| [*key, *name])
                .collect();
            ApiError::body(
                path,
                &format!("a status group's id, name or key: {}", one_of(&known)),
                Some(v),
            )
        })
}

/// A new option's name: 1 to 100 characters (UTF-16 code units), no commas.
fn check_new_name(name: &str, path: &str) -> Result<(), ApiError> {
    let len = utf16_len(name);
    if len == 0 {
        return Err(ApiError::length(path, "≥", 1, 0));
    }
    if len > MAX_OPTION_NAME {
        return Err(ApiError::length(path, "≤", MAX_OPTION_NAME, len));
    }
    if name.contains(',') {
        return Err(ApiError::validation(format!(
            "Commas (\",\") are not valid for select values: {path} is `{}`.",
            Value::String(name.to_string())
        )));
    }
    Ok(())
}

/// A new option's id, derived as the seed derives them, and used by no option of the property
/// (nor of the list so far).
fn fresh_id(ds: &DataSource, prop: &PropSchema, name: &str, so_far: &[SelectOption]) -> String {
    let taken = |id: &str| prop.options.iter().chain(so_far).any(|o| o.id == id);
    let mut id = short_id(&[&ds.id, &prop.id, name], false);
    let mut n = 1u32;
    while taken(&id) {
        id = short_id(&[&ds.id, &prop.id, name, &n.to_string()], false);
        n += 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_named_by_id_name_or_key() {
        for (v, key) in [
            (Value::from("to_do"), "to_do"),
            (Value::from("In progress"), "in_progress"),
            (serde_json::json!({"id": "complete"}), "complete"),
            (serde_json::json!({"name": "To-do"}), "to_do"),
        ] {
            assert_eq!(group(&v, "g").unwrap(), key, "{v}");
        }
        for bad in [
            Value::from("done"),
            Value::from("to-do"),
            Value::from(3),
            serde_json::json!({}),
        ] {
            let err = group(&bad, "body.g").unwrap_err();
            assert!(
                err.message.contains("body.g should be a status group"),
                "{bad}: {}",
                err.message
            );
        }
    }

    #[test]
    fn new_names_are_checked_in_utf16_units() {
        assert!(check_new_name("ok", "p").is_ok());
        assert!(check_new_name(&"é".repeat(100), "p").is_ok());
        assert!(check_new_name(&"😀".repeat(51), "p").is_err());
        assert!(check_new_name("", "p").is_err());
        let err = check_new_name("a,b", "p").unwrap_err();
        assert!(
            err.message
                .starts_with("Commas (\",\") are not valid for select values"),
            "{}",
            err.message
        );
    }
}

//! Resolving a CSV header (or a flat JSONL key) once into what its cells mean: the page id,
//! a page-level field, a typed property, or nothing. Header problems end the run before any
//! row is read. With a schema, every property column is checked against it here, in one
//! place for CSV headers and flat JSONL keys alike.

use std::collections::HashMap;
use std::sync::Arc;

use crate::mapping::page::PageField;
use crate::mapping::value::EditOp;
use crate::mapping::MappingOptions;
use crate::notion::schema::{SchemaProperty, SchemaType};
use crate::notion::{PropertyType, Schema};
use crate::spelling;

/// How the job file maps one input column (or flat JSONL key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnMapping {
    /// The column's header as it appears in the input.
    pub column: String,
    /// The property it writes, when named differently from the column.
    pub property: Option<String>,
    pub ty: Option<PropertyType>,
    /// Separator for this column's multi-valued cells, instead of the run's.
    pub separator: Option<char>,
    /// IANA time zone for this column's date-times written without an offset.
    pub time_zone: Option<String>,
    /// Leave the column out entirely.
    pub ignore: bool,
    /// The column's cells add items to the property, or remove them, instead of setting it
    /// (`op = "add"` / `"remove"`).
    pub edit: Option<EditOp>,
    /// A relation column's cells name the related pages by this property of theirs
    /// (`relation_key = "SKU"`), not by id.
    pub relation_key: Option<String>,
}

/// What one column's cells mean.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnPlan {
    Id,
    Ignore,
    Page(PageField),
    Property(PropertyColumn),
    /// The `--match-on` key: what finds the row's page, and (for a writable key) a value a
    /// created page gets.
    Key(KeyColumn),
}

/// The column holding the `--match-on` key.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyColumn {
    /// The header, for messages.
    pub column: Arc<str>,
    /// A writable key's value as a property column (`None` for unique_id and formula keys).
    pub value: Option<PropertyColumn>,
}

/// A column that writes one property.
#[derive(Debug, Clone, PartialEq)]
pub struct PropertyColumn {
    /// The header, for messages.
    pub column: Arc<str>,
    /// The property name (or id) written in the body.
    pub property: Arc<str>,
    pub ty: PropertyType,
    pub separator: char,
    pub time_zone: Option<String>,
    /// With a schema: the property's options (select, multi_select, status), to check values
    /// against.
    pub choices: Option<Arc<[String]>>,
    /// `Tags+` / `Tags-`: the cells' items are added to the page's, or removed from them.
    pub edit: Option<EditOp>,
    /// `Status:status[In progress]`: the group a new status option goes into with
    /// `--add-missing-options` (else To-do).
    pub group: Option<Arc<str>>,
    /// `Parts:relation[SKU]`: the cells name the related pages by their `SKU`.
    pub relation_key: Option<RelationKey>,
}

/// Where a relation column's keys are looked up.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RelationKey {
    /// The related data source, from the schema.
    pub data_source: Arc<str>,
    /// The key property there, as the header or job file names it.
    pub property: Arc<str>,
}

/// What starts a precondition column (`if:Status`) or flat JSONL key (SPEC §11): the
/// mapper ignores it, the preconditions read it.
pub const PREFIX: &str = "if:";

/// A problem with the header itself; the run exits 2 before reading any row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HeaderError(pub String);

/// Resolves one header or key. `Ok(None)` means the key has no type from any source: for CSV
/// that is a header error, for flat JSONL a row error.
pub fn resolve(header: &str, options: &MappingOptions) -> Result<Option<ColumnPlan>, String> {
    let mapping = options.columns.iter().find(|m| m.column == header);
    if let Some(key) = key_column(header, mapping, options) {
        return Ok(Some(key));
    }
    if header == options.id_column {
        // With --match-on the key finds the page: an id column is read as any other column
        // would be, and ignored.
        if options.match_on.is_some() {
            return Ok(Some(ColumnPlan::Ignore));
        }
        return Ok(Some(ColumnPlan::Id));
    }
    // A precondition (`if:Status`, SPEC §11) writes nothing: `precondition` reads it.
    if header.starts_with(PREFIX) {
        return Ok(Some(ColumnPlan::Ignore));
    }
    if let Some(only) = &options.columns_only {
        if !only.iter().any(|c| names_column(c, header)) {
            return Ok(Some(ColumnPlan::Ignore));
        }
    }
    if mapping.is_some_and(|m| m.ignore) {
        return Ok(Some(ColumnPlan::Ignore));
    }
    if header.starts_with('@') {
        return PageField::from_header(header)
            .map(|f| Some(ColumnPlan::Page(f)))
            .ok_or_else(|| {
                let names = PageField::ALL.map(|(n, _)| n);
                let hint = spelling::closest(header, names)
                    .map(|n| format!(" (did you mean {}?)", spelling::mention(header, n)))
                    .unwrap_or_default();
                format!(
                    "column {header:?} is not a page-level column{hint}: those are {}",
                    names.join(", ")
                )
            });
    }
    // `Name:type`: the type follows the last colon, unless the job maps the whole header or
    // the schema has a property named by the whole header.
    let schema = options.schema.as_deref();
    let whole_is_property = schema.is_some_and(|s| s.property(header.trim()).is_some());
    let (name, typed) = match (mapping, header.rsplit_once(':')) {
        (None, Some((name, ty))) if !name.is_empty() && !whole_is_property => (name, Some(ty)),
        _ => (header, None),
    };
    // `Tags:multi_select+`, `Tags+` (and `-`): the cells add items (or remove them).
    let (name, typed, header_op) = match typed.map(|t| (t, EditOp::split(t))) {
        Some((_, Some((ty, op)))) => (name, Some(ty), Some(op)),
        Some((ty, None)) => (name, Some(ty), None),
        None if mapping.is_none() && !whole_is_property => {
            match EditOp::split(name.trim()).filter(|(n, _)| !n.trim().is_empty()) {
                Some((n, op)) => (n, None, Some(op)),
                None => (name, None, None),
            }
        }
        None => (name, None, None),
    };
    let edit = header_op.or(mapping.and_then(|m| m.edit));
    // `status[In progress]`: what follows the type in brackets.
    let (typed, argument) = match typed.map(type_argument) {
        Some((ty, argument)) => (Some(ty), argument),
        None => (None, None),
    };
    let header_type = typed
        .map(|t| {
            t.parse::<PropertyType>()
                .map_err(|e| format!("column {header:?}: {e}"))
        })
        .transpose()?;
    let mapped_type = mapping.and_then(|m| m.ty);
    if let (Some(h), Some(m)) = (header_type, mapped_type) {
        if h != m {
            return Err(format!(
                "column {header:?} says type {h} but the job file maps it as {m}: make them agree"
            ));
        }
    }
    let declared = header_type.or(mapped_type);
    let property = mapping
        .and_then(|m| m.property.clone())
        .unwrap_or_else(|| name.trim().to_owned());
    let mut related = None;
    let (property, ty, choices) = match schema {
        None => {
            let Some(ty) = declared else {
                return Ok(None);
            };
            if property.is_empty() {
                return Err(format!("column {header:?} names no property"));
            }
            (property, ty, None)
        }
        Some(schema) => {
            let (found, ty) = column_property(schema, header, &property, declared)?;
            related = found.related.clone();
            let choices = matches!(
                ty,
                PropertyType::Select | PropertyType::MultiSelect | PropertyType::Status
            )
            .then(|| Arc::from(found.options.as_slice()));
            (found.name.clone(), ty, choices)
        }
    };
    if let Some(op) = edit.filter(|_| !ty.is_multi_valued()) {
        let verb = match op {
            EditOp::Add => "adds items to",
            EditOp::Remove => "removes items from",
        };
        return Err(format!(
            "column {header:?} {verb} {property:?}, a {ty} property: only multi_select, \
             relation, people and files properties hold items to add or remove; set the whole \
             value with a column named {property:?}"
        ));
    }
    let key = argument.or(mapping.and_then(|m| m.relation_key.as_deref()));
    let (group, relation_key) = match (key, ty) {
        (None, _) => (None, None),
        (Some(group), PropertyType::Status) => (Some(Arc::from(group.trim())), None),
        (Some(key), PropertyType::Relation) => {
            let Some(data_source) = related else {
                return Err(format!(
                    "column {header:?} names its related pages by {key:?}: that needs the \
                     schema (--data-source or --schema-from), which says where they are"
                ));
            };
            let key = RelationKey {
                data_source: data_source.into(),
                property: key.trim().into(),
            };
            (None, Some(key))
        }
        (Some(argument), _) => {
            return Err(format!(
                "column {header:?}: [{argument}] after the type names the group of new options \
                 of a status property (Status:status[In progress]) or the key of a relation's \
                 pages (Parts:relation[SKU]); {property:?} is a {ty} property"
            ))
        }
    };
    Ok(Some(ColumnPlan::Property(PropertyColumn {
        edit,
        group,
        relation_key,
        column: header.into(),
        property: property.into(),
        ty,
        separator: mapping
            .and_then(|m| m.separator)
            .unwrap_or(options.separator),
        time_zone: mapping
            .and_then(|m| m.time_zone.clone())
            .or_else(|| options.time_zone.clone()),
        choices,
    })))
}

/// The key column of `--match-on`: the header (or the job file's mapping of it) names the key
/// property. It is used whatever `--columns` says.
fn key_column(
    header: &str,
    mapping: Option<&ColumnMapping>,
    options: &MappingOptions,
) -> Option<ColumnPlan> {
    let key = options.match_on.as_deref()?;
    let schema = options.schema.as_deref()?;
    if mapping.is_some_and(|m| m.ignore) {
        return None;
    }
    let named = match mapping.and_then(|m| m.property.as_deref()) {
        Some(property) => property.to_owned(),
        None if schema.property(header.trim()).is_some() => header.trim().to_owned(),
        None => header
            .rsplit_once(':')
            .map_or(header, |(name, _)| name)
            .trim()
            .to_owned(),
    };
    if schema.property(&named)?.name != *key.property {
        return None;
    }
    Some(ColumnPlan::Key(KeyColumn {
        column: header.into(),
        value: key.writable().then(|| PropertyColumn {
            column: header.into(),
            property: key.property.clone(),
            ty: key.ty,
            separator: options.separator,
            time_zone: None,
            choices: None,
            edit: None,
            group: None,
            relation_key: None,
        }),
    }))
}

/// Why the schema refuses what a column (or a native line's property key) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaMismatch {
    /// No property by that name or id: the closest name, if one is close, and every name.
    Unknown {
        hint: Option<String>,
        names: Vec<String>,
    },
    /// A type Notion's API cannot set (place, …).
    Unsupported { property: String, ty: String },
    /// A read-only type (formula, rollup, …).
    ReadOnly { property: String, ty: PropertyType },
    /// The value's type is not the property's.
    WrongType {
        property: String,
        declared: PropertyType,
        actual: PropertyType,
    },
}

impl SchemaMismatch {
    /// " Did you mean \"X\"?" or nothing.
    pub fn did_you_mean(hint: &Option<String>) -> String {
        hint.as_ref()
            .map(|n| format!(" Did you mean {n}?"))
            .unwrap_or_default()
    }
}

/// The schema's property named by name or id, and its writable type. A value typed `title`
/// (or the key `title`, the title property's id) is the title property whatever its name. A
/// property the schema lacks, a read-only or unsupported one, or a type that disagrees with the
/// schema is refused. The one place names meet the schema: CSV headers, flat JSONL keys and
/// native JSONL property keys all come here, and only the wording of the message differs.
pub fn schema_property<'s>(
    schema: &'s Schema,
    property: &str,
    declared: Option<PropertyType>,
) -> Result<(&'s SchemaProperty, PropertyType), SchemaMismatch> {
    let found = schema.property(property).or_else(|| {
        (declared == Some(PropertyType::Title))
            .then(|| schema.title_property())
            .flatten()
    });
    let Some(found) = found else {
        let names = schema.properties.iter().map(|p| p.name.as_str());
        return Err(SchemaMismatch::Unknown {
            hint: spelling::closest(property, names.clone())
                .map(|n| spelling::mention(property, n)),
            names: names.map(str::to_owned).collect(),
        });
    };
    let ty = match &found.ty {
        SchemaType::Unsupported(t) => {
            return Err(SchemaMismatch::Unsupported {
                property: found.name.clone(),
                ty: t.clone(),
            })
        }
        SchemaType::Known(t) if t.is_read_only() => {
            return Err(SchemaMismatch::ReadOnly {
                property: found.name.clone(),
                ty: *t,
            })
        }
        SchemaType::Known(t) => *t,
    };
    if let Some(d) = declared.filter(|d| *d != ty) {
        return Err(SchemaMismatch::WrongType {
            property: found.name.clone(),
            declared: d,
            actual: ty,
        });
    }
    Ok((found, ty))
}

/// A header's type with what follows it in brackets: `status[In progress]` -> (`status`,
/// `In progress`).
fn type_argument(typed: &str) -> (&str, Option<&str>) {
    match typed.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((ty, argument)) => (ty, Some(argument)),
        None => (typed, None),
    }
}

/// Whether a `--columns` entry names this header: the whole header, or its name before the
/// type (`Price` names `Price:number`).
fn names_column(entry: &str, header: &str) -> bool {
    entry == header
        || header
            .rsplit_once(':')
            .is_some_and(|(name, _)| name == entry)
        || EditOp::split(header).is_some_and(|(name, _)| name == entry)
}

/// [`schema_property`] for a CSV column or flat JSONL key, with the message for a header.
fn column_property<'s>(
    schema: &'s Schema,
    header: &str,
    property: &str,
    declared: Option<PropertyType>,
) -> Result<(&'s SchemaProperty, PropertyType), String> {
    schema_property(schema, property, declared).map_err(|m| match m {
        SchemaMismatch::Unknown { hint, names } => format!(
            "column {header:?}: the data source {:?} has no property {property:?}.{} Its \
             properties are: {}. Rename the column, map it with property = \"...\" in the job \
             file's [columns], or set it to ignore.",
            schema.title,
            SchemaMismatch::did_you_mean(&hint),
            names.join(", ")
        ),
        SchemaMismatch::Unsupported { property, ty } => format!(
            "column {header:?} writes property {property:?}, a {ty} property, which Notion's API \
             cannot set: drop the column or set it to ignore in the job file"
        ),
        SchemaMismatch::ReadOnly { property, ty } => format!(
            "column {header:?} writes property {property:?}, a {ty} property: read-only, Notion \
             computes it and a page update cannot set it; drop the column or set it to \
             ignore in the job file"
        ),
        SchemaMismatch::WrongType {
            property,
            declared,
            actual,
        } => format!(
            "column {header:?} says type {declared}, but {property:?} is a {actual} property in \
             the schema of {:?}: write the column as {property:?} (the schema gives the type) or \
             \"{property}:{actual}\"",
            schema.title
        ),
    })
}

/// Resolves a whole CSV header: every column, the id column present, no column or property
/// twice, every job-file mapping used.
pub fn resolve_header(
    headers: &[String],
    options: &MappingOptions,
) -> Result<Vec<ColumnPlan>, HeaderError> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(first) = seen.insert(h.as_str(), i) {
            return Err(HeaderError(format!(
                "column {h:?} appears twice in the header (columns {} and {}): rename or drop one",
                first + 1,
                i + 1
            )));
        }
    }
    if options.match_on.is_none() && !headers.contains(&options.id_column) {
        let hint = spelling::closest(&options.id_column, headers.iter().map(String::as_str))
            .map(|n| {
                format!(
                    " Did you mean {}? Pass --id-column {n:?} or set id_column in the job file.",
                    spelling::mention(&options.id_column, n)
                )
            })
            .unwrap_or_else(|| " Name the id column with --id-column.".into());
        return Err(HeaderError(format!(
            "the input has no id column {:?}; its columns are: {}.{hint}",
            options.id_column,
            headers.join(", ")
        )));
    }
    for wanted in options.columns_only.iter().flatten() {
        if !headers.iter().any(|h| names_column(wanted, h)) {
            let names = headers
                .iter()
                .map(|h| h.rsplit_once(':').map_or(h.as_str(), |(name, _)| name));
            let hint = spelling::closest(wanted, names)
                .map(|n| format!(" (did you mean {}?)", spelling::mention(wanted, n)))
                .unwrap_or_default();
            return Err(HeaderError(format!(
                "--columns names {wanted:?}, which the input does not have{hint}; its columns are: {}",
                headers.join(", ")
            )));
        }
    }
    for m in &options.columns {
        if !headers.contains(&m.column) {
            let hint = spelling::closest(&m.column, headers.iter().map(String::as_str))
                .map(|n| format!(" (did you mean {}?)", spelling::mention(&m.column, n)))
                .unwrap_or_default();
            return Err(HeaderError(format!(
                "the job file maps column {:?}, which the input does not have{hint}",
                m.column
            )));
        }
    }
    let mut plans = Vec::with_capacity(headers.len());
    let mut properties: HashMap<Arc<str>, (Arc<str>, Option<EditOp>)> = HashMap::new();
    for header in headers {
        let plan = resolve(header, options).map_err(HeaderError)?.ok_or_else(|| {
            HeaderError(format!(
                "column {header:?} has no type: write the header as \"{header}:<type>\" (e.g. \"{header}:select\"), \
                 or map it in the job file's [columns], or set it to ignore"
            ))
        })?;
        if let ColumnPlan::Property(p) = &plan {
            let this = (p.column.clone(), p.edit);
            match properties.insert(p.property.clone(), this) {
                // One column adds items, the other removes them: both edit the one value.
                Some((_, Some(op))) if p.edit.is_some_and(|e| e != op) => {}
                Some((other, _)) => {
                    return Err(HeaderError(format!(
                        "columns {other:?} and {:?} both write property {:?}: keep one (a \
                         property may have one column that adds items and one that removes \
                         them, but not two of a kind, nor one that sets its whole value too)",
                        p.column, p.property
                    )));
                }
                None => {}
            }
        }
        plans.push(plan);
    }
    if let Some(key) = options.match_on.as_deref() {
        if !plans.iter().any(|p| matches!(p, ColumnPlan::Key(_))) {
            let names = headers
                .iter()
                .map(|h| h.rsplit_once(':').map_or(h.as_str(), |(name, _)| name));
            let hint = spelling::closest(&key.property, names)
                .map(|n| {
                    format!(
                        " Did you mean {}? Map it with [columns] {n:?} = {{ property = {:?} }}.",
                        spelling::mention(&key.property, n),
                        key.property
                    )
                })
                .unwrap_or_default();
            return Err(HeaderError(format!(
                "--match-on {:?}: no input column holds the key (a column named {:?}, or one the \
                 job file maps to it); the columns are: {}.{hint}",
                key.property,
                key.property,
                headers.join(", ")
            )));
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn options() -> MappingOptions {
        MappingOptions::default()
    }

    #[test]
    fn typed_headers_and_page_columns() {
        let plans = resolve_header(
            &headers(&[
                "page_id",
                "Status:status",
                "Due:date",
                "@icon",
                "Ratio: a:b:number",
            ]),
            &options(),
        )
        .unwrap();
        assert_eq!(plans[0], ColumnPlan::Id);
        let ColumnPlan::Property(status) = &plans[1] else {
            panic!()
        };
        assert_eq!(
            (&*status.property, status.ty),
            ("Status", PropertyType::Status)
        );
        assert_eq!(plans[3], ColumnPlan::Page(PageField::Icon));
        let ColumnPlan::Property(ratio) = &plans[4] else {
            panic!()
        };
        assert_eq!(&*ratio.property, "Ratio: a:b");
    }

    #[test]
    fn header_problems() {
        let err =
            resolve_header(&headers(&["page_id", "A:select", "A:select"]), &options()).unwrap_err();
        assert!(err.0.contains("appears twice"), "{err}");
        let err = resolve_header(&headers(&["Page ID", "A:select"]), &options()).unwrap_err();
        assert!(
            err.0.contains("no id column") && err.0.contains("did you mean \"Page ID\"")
                || err.0.contains("Did you mean \"Page ID\""),
            "{err}"
        );
        let err = resolve_header(&headers(&["page_id", "A:selcet"]), &options()).unwrap_err();
        assert!(err.0.contains("did you mean \"select\""), "{err}");
        let err = resolve_header(&headers(&["page_id", "Status"]), &options()).unwrap_err();
        assert!(err.0.contains("has no type"), "{err}");
        let err = resolve_header(&headers(&["page_id", "@icno"]), &options()).unwrap_err();
        assert!(err.0.contains("did you mean \"@icon\""), "{err}");
        let err =
            resolve_header(&headers(&["page_id", "A:select", "A:status"]), &options()).unwrap_err();
        assert!(err.0.contains("both write property"), "{err}");
    }

    #[test]
    fn a_plus_or_minus_after_the_name_or_type_adds_or_removes_items() {
        let edit_of = |plan: &ColumnPlan| match plan {
            ColumnPlan::Property(p) => (p.property.to_string(), p.ty, p.edit),
            other => panic!("{other:?}"),
        };
        let plans = resolve_header(
            &headers(&[
                "page_id",
                "Tags:multi_select+",
                "Tags:multi_select-",
                "Parts:relation",
            ]),
            &options(),
        )
        .unwrap();
        assert_eq!(
            edit_of(&plans[1]),
            ("Tags".into(), PropertyType::MultiSelect, Some(EditOp::Add))
        );
        assert_eq!(edit_of(&plans[2]).2, Some(EditOp::Remove));
        assert_eq!(edit_of(&plans[3]).2, None);
        let err = resolve_header(&headers(&["page_id", "A:select+"]), &options()).unwrap_err();
        assert!(err.0.contains("a select property"), "{err}");
        // Two adds of one property are two columns writing it.
        let err = resolve_header(
            &headers(&["page_id", "Tags:multi_select+", "Tags:multi_select+"]),
            &options(),
        )
        .unwrap_err();
        assert!(err.0.contains("appears twice"), "{err}");
        let err = resolve_header(
            &headers(&["page_id", "Tags:multi_select", "Tags:multi_select-"]),
            &options(),
        )
        .unwrap_err();
        assert!(err.0.contains("both write property"), "{err}");
        // --columns Tags names the edit columns of Tags.
        assert!(names_column("Tags", "Tags+") && names_column("Tags", "Tags:multi_select-"));
    }

    #[test]
    fn columns_only_ignores_the_rest_and_must_name_real_columns() {
        let mut opts = options();
        opts.columns_only = Some(vec!["Price".into(), "@icon".into()]);
        // "Warehouse" has no type and "Notes:nonsense" a bad one: outside --columns, neither
        // is an error.
        let plans = resolve_header(
            &headers(&[
                "page_id",
                "Warehouse",
                "Price:number",
                "Notes:nonsense",
                "@icon",
            ]),
            &opts,
        )
        .unwrap();
        assert_eq!(plans[0], ColumnPlan::Id);
        assert_eq!(plans[1], ColumnPlan::Ignore);
        assert!(matches!(&plans[2], ColumnPlan::Property(p) if &*p.property == "Price"));
        assert_eq!(plans[3], ColumnPlan::Ignore);
        assert!(matches!(plans[4], ColumnPlan::Page(_)));
        let err =
            resolve_header(&headers(&["page_id", "Prices:number", "@icon"]), &opts).unwrap_err();
        assert!(
            err.0.contains("--columns names \"Price\"")
                && err.0.contains("did you mean \"Prices\""),
            "{err}"
        );
    }

    #[test]
    fn job_mappings_rename_type_and_ignore() {
        let mut opts = options();
        opts.columns = vec![
            ColumnMapping {
                column: "State".into(),
                property: Some("Status".into()),
                ty: Some(PropertyType::Status),
                ..Default::default()
            },
            ColumnMapping {
                column: "Tags".into(),
                ty: Some(PropertyType::MultiSelect),
                separator: Some('|'),
                ..Default::default()
            },
            ColumnMapping {
                column: "Comment".into(),
                ignore: true,
                ..Default::default()
            },
        ];
        let plans =
            resolve_header(&headers(&["page_id", "State", "Tags", "Comment"]), &opts).unwrap();
        let ColumnPlan::Property(state) = &plans[1] else {
            panic!()
        };
        assert_eq!(
            (&*state.property, state.ty),
            ("Status", PropertyType::Status)
        );
        let ColumnPlan::Property(tags) = &plans[2] else {
            panic!()
        };
        assert_eq!(tags.separator, '|');
        assert_eq!(plans[3], ColumnPlan::Ignore);
        let err =
            resolve_header(&headers(&["page_id", "Stat", "Tags", "Comment"]), &opts).unwrap_err();
        assert!(
            err.0.contains("maps column \"State\"") && err.0.contains("did you mean \"Stat\""),
            "{err}"
        );
    }

    fn with_schema() -> MappingOptions {
        let schema: Schema = serde_json::from_value(serde_json::json!({
            "format": 1, "data_source_id": "ds", "title": "Tasks",
            "properties": [
                {"id": "title", "name": "Task", "type": "title"},
                {"id": "a%3Fb", "name": "Status", "type": "status", "options": ["Done"]},
                {"id": "t%3Am", "name": "Time: start", "type": "date"},
                {"id": "pl", "name": "Where", "type": "place"},
                {"id": "sc", "name": "Score", "type": "formula"},
            ]
        }))
        .unwrap();
        let mut opts = options();
        opts.set_schema(schema);
        opts
    }

    fn property(header: &str, opts: &MappingOptions) -> Result<PropertyColumn, String> {
        match resolve(header, opts)? {
            Some(ColumnPlan::Property(p)) => Ok(p),
            other => panic!("{header}: {other:?}"),
        }
    }

    #[test]
    fn the_schema_types_plain_headers_by_name_or_id() {
        let opts = with_schema();
        let status = property("Status", &opts).unwrap();
        assert_eq!(
            (&*status.property, status.ty),
            ("Status", PropertyType::Status)
        );
        assert_eq!(status.choices.as_deref(), Some(&["Done".to_string()][..]));
        assert_eq!(&*property("a?b", &opts).unwrap().property, "Status");
        assert_eq!(
            &*property("Status:status", &opts).unwrap().property,
            "Status"
        );
        // A property whose name holds a colon is named whole, not split into name and type.
        let time = property("Time: start", &opts).unwrap();
        assert_eq!(
            (&*time.property, time.ty),
            ("Time: start", PropertyType::Date)
        );
    }

    #[test]
    fn the_title_property_is_found_whatever_its_name() {
        let opts = with_schema();
        for header in ["title", "Name:title", "Task", "Task:title"] {
            let p = property(header, &opts).unwrap();
            assert_eq!(
                (&*p.property, p.ty),
                ("Task", PropertyType::Title),
                "{header}"
            );
        }
        // Without the title type, an unknown name is an unknown name.
        assert!(property("Name", &opts)
            .unwrap_err()
            .contains("no property \"Name\""));
    }

    #[test]
    fn the_schema_refuses_unknown_read_only_unsupported_and_mistyped_columns() {
        let opts = with_schema();
        let err = property("Staus", &opts).unwrap_err();
        assert!(err.contains("Did you mean \"Status\"?"), "{err}");
        let err = property("Score", &opts).unwrap_err();
        assert!(err.contains("a formula property: read-only"), "{err}");
        let err = property("Where", &opts).unwrap_err();
        assert!(
            err.contains("a place property, which Notion's API cannot set"),
            "{err}"
        );
        let err = property("Status:select", &opts).unwrap_err();
        assert!(
            err.contains("\"Status\" is a status property in the schema"),
            "{err}"
        );
        let err = resolve_header(&headers(&["page_id", "Task", "title"]), &opts).unwrap_err();
        assert!(err.0.contains("both write property \"Task\""), "{err}");
    }
}

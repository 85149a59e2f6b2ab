//! A data source's schema: its properties with their types and options, read once from Notion
//! (`GET /v1/data_sources/{id}`, or `GET /v1/databases/{id}`) or from the JSON that
//! `notion-bulk schema` prints, plus the workspace's users for resolving emails in people
//! cells. The mapping uses it to type plain headers and to check names and options. Here are
//! the types, the parsing of Notion's answer ([`from_object`]) and the saved file; the reads
//! themselves, through the run's limiter and retries, are the scan's (`scan::schema`).
//!
//! The saved form is this crate's own, stable shape (see README "Schemas"):
//!
//! ```json
//! {"format": 1, "data_source_id": "…", "database_id": "…", "title": "Tasks",
//!  "properties": [{"id": "a%3Fb", "name": "Status", "type": "status", "options": ["Done"]}],
//!  "users": [{"id": "…", "name": "Ada Lovelace", "email": "ada@example.com"}]}
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{NotionId, PropertyType};

/// The version of the saved JSON shape.
pub const FORMAT: u32 = 1;

/// The schema of one data source (under 2022-06-28: of one database).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// The shape of this JSON; [`FORMAT`].
    pub format: u32,
    /// The data source the properties belong to (under 2022-06-28, the database's id).
    pub data_source_id: String,
    /// The database that holds the data source, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_id: Option<String>,
    /// The data source's title, as plain text.
    pub title: String,
    /// Every property, in Notion's order.
    pub properties: Vec<SchemaProperty>,
    /// The workspace's users, for people cells written as emails; absent when they could not
    /// be listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<Vec<SchemaUser>>,
}

/// One property of the schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaProperty {
    /// Notion's property id (URL-encoded short id; `title` for the title property).
    pub id: String,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: SchemaType,
    /// select, multi_select, status: the option names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// unique_id: the prefix of its numbers (`PRD` of `PRD-42`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// relation: the data source its pages are in (under 2022-06-28, the database).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub related: Option<String>,
}

/// A property's type: one this tool models, or another Notion type (place, …) it cannot write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaType {
    Known(PropertyType),
    Unsupported(String),
}

impl SchemaType {
    fn from_api_name(name: &str) -> SchemaType {
        match PropertyType::from_api_name(name) {
            Some(t) => SchemaType::Known(t),
            None => SchemaType::Unsupported(name.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SchemaType::Known(t) => t.as_str(),
            SchemaType::Unsupported(name) => name,
        }
    }
}

impl Serialize for SchemaType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SchemaType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Ok(SchemaType::from_api_name(&name))
    }
}

/// A workspace user, as saved for email resolution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaUser {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The schema cannot be read; the run exits 2 before any row.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{0:?} is not a data source or database id or URL: {1}")]
    BadId(String, crate::IdError),
    #[error("cannot read the schema of {id}: {endpoint} answered {answer}")]
    Refused {
        id: NotionId,
        endpoint: String,
        answer: String,
    },
    #[error(
        "cannot read the schema of {id}: it is neither a data source \
         (GET /v1/data_sources/{id}: {as_source}) nor a database (GET /v1/databases/{id}: \
         {as_database}). Check the id, and that the database is shared with the integration \
         (its ••• menu, Connections)."
    )]
    NotFound {
        id: NotionId,
        as_source: String,
        as_database: String,
    },
    #[error(
        "database {id} has {} data sources: {}. A schema is one data source's: pass one of \
         these ids to --schema-from.",
        .sources.len(),
        .sources.iter().map(|(id, name)| format!("{name:?} ({id})")).collect::<Vec<_>>().join(", ")
    )]
    SeveralSources {
        id: NotionId,
        sources: Vec<(String, String)>,
    },
    #[error("{endpoint} answered something that is not a {what}: {detail}")]
    Unexpected {
        endpoint: String,
        what: &'static str,
        detail: String,
    },
    #[error(
        "cannot list the workspace's users (GET /v1/users answered {0}): people cells can only \
         name users by id; give the integration the \"Read user information including email \
         addresses\" capability to use emails"
    )]
    Users(String),
    #[error("cannot read the schema file {path}: {message}")]
    File { path: String, message: String },
}

/// Where a run's schema comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaSource {
    /// `--schema-from`: a data source or database id or URL, read from Notion.
    Fetch(String),
    /// `--schema-file`: the JSON `notion-bulk schema` printed.
    File(std::path::PathBuf),
}

impl SchemaSource {
    /// Whether the schema is read from Notion (so a token and a client are needed).
    pub fn is_fetched(&self) -> bool {
        matches!(self, SchemaSource::Fetch(_))
    }
}

impl Schema {
    /// Reads a schema saved by `notion-bulk schema`.
    pub fn load(path: &Path) -> Result<Schema, SchemaError> {
        let file_error = |message: String| SchemaError::File {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| file_error(e.to_string()))?;
        let schema: Schema = serde_json::from_str(&text).map_err(|e| {
            file_error(format!(
                "{e} (expected the JSON that `notion-bulk schema ID` prints)"
            ))
        })?;
        if schema.format != FORMAT {
            return Err(file_error(format!(
                "it has format {}, this notion-bulk reads format {FORMAT}: save it again with `notion-bulk schema`",
                schema.format
            )));
        }
        Ok(schema)
    }

    /// The property a header or key names: by name, then by id (as Notion shows it or
    /// percent-decoded).
    pub fn property(&self, name_or_id: &str) -> Option<&SchemaProperty> {
        self.properties
            .iter()
            .find(|p| p.name == name_or_id)
            .or_else(|| {
                self.properties.iter().find(|p| {
                    p.id == name_or_id
                        || percent_encoding::percent_decode_str(&p.id).decode_utf8_lossy()
                            == name_or_id
                })
            })
    }

    /// The title property, whatever its name.
    pub fn title_property(&self) -> Option<&SchemaProperty> {
        self.properties
            .iter()
            .find(|p| p.ty == SchemaType::Known(PropertyType::Title))
    }

    /// Whether any property holds people, so that users are worth listing.
    pub fn has_people(&self) -> bool {
        self.properties
            .iter()
            .any(|p| p.ty == SchemaType::Known(PropertyType::People))
    }

    /// Users by lowercase email, when the users were listed.
    pub fn users_by_email(&self) -> Option<HashMap<String, NotionId>> {
        self.users.as_ref().map(|users| {
            users
                .iter()
                .filter_map(|u| {
                    let email = u.email.as_ref()?.trim().to_lowercase();
                    Some((email, NotionId::parse(&u.id).ok()?))
                })
                .collect()
        })
    }
}

/// Parses a data source (or 2022-06-28 database) object into a schema; `endpoint` is the
/// request that answered it, named in the error when it has no properties.
pub fn from_object(
    object: &Value,
    endpoint: &str,
    data_source_id: String,
    database_id: Option<String>,
) -> Result<Schema, SchemaError> {
    let unexpected = |detail: &str| SchemaError::Unexpected {
        endpoint: endpoint.to_owned(),
        what: "schema with properties",
        detail: detail.to_owned(),
    };
    let properties = object
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| unexpected("no properties object"))?;
    let title = object.get("title").map(plain_text).unwrap_or_default();
    let properties = properties
        .iter()
        .map(|(key, config)| {
            let text = |k: &str| config.get(k).and_then(Value::as_str);
            let ty_name =
                text("type").ok_or_else(|| unexpected(&format!("property {key:?} has no type")))?;
            let options = config
                .pointer(&format!("/{ty_name}/options"))
                .and_then(Value::as_array)
                .map(|options| {
                    options
                        .iter()
                        .filter_map(|o| o.get("name").and_then(Value::as_str).map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            Ok(SchemaProperty {
                id: text("id").unwrap_or(key).to_owned(),
                name: text("name").unwrap_or(key).to_owned(),
                ty: SchemaType::from_api_name(ty_name),
                options,
                prefix: config
                    .pointer(&format!("/{ty_name}/prefix"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                related: ["data_source_id", "database_id"].iter().find_map(|k| {
                    config
                        .pointer(&format!("/relation/{k}"))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                }),
            })
        })
        .collect::<Result<Vec<_>, SchemaError>>()?;
    Ok(Schema {
        format: FORMAT,
        data_source_id,
        database_id,
        title,
        properties,
        users: None,
    })
}

impl FromStr for Schema {
    type Err = serde_json::Error;

    fn from_str(text: &str) -> Result<Schema, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// The plain text of a rich-text array (a title, a rich_text value): its pieces'
/// `plain_text`, or `text.content` where a piece has none.
pub fn plain_text(pieces: &Value) -> String {
    pieces
        .as_array()
        .map(|pieces| {
            pieces
                .iter()
                .filter_map(|p| {
                    p.get("plain_text")
                        .or_else(|| p.pointer("/text/content"))
                        .and_then(Value::as_str)
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tasks() -> Schema {
        let object = json!({
            "object": "data_source",
            "title": [{"plain_text": "Tasks"}],
            "properties": {
                "Name": {"id": "title", "name": "Name", "type": "title", "title": {}},
                "Status": {"id": "a%3Fb", "name": "Status", "type": "status",
                           "status": {"options": [{"name": "Done"}, {"name": "Not started"}], "groups": []}},
                "Where": {"id": "pl", "name": "Where", "type": "place", "place": {}},
            }
        });
        from_object(&object, "GET x", "ds".into(), None).unwrap()
    }

    #[test]
    fn properties_types_and_options_are_read() {
        let s = tasks();
        assert_eq!(s.title, "Tasks");
        assert_eq!(s.properties.len(), 3);
        assert_eq!(
            s.property("Status").unwrap().options,
            ["Done", "Not started"]
        );
        assert_eq!(
            s.property("Where").unwrap().ty,
            SchemaType::Unsupported("place".into())
        );
        assert_eq!(s.title_property().unwrap().name, "Name");
    }

    #[test]
    fn properties_are_found_by_name_or_id() {
        let s = tasks();
        assert_eq!(s.property("a%3Fb").unwrap().name, "Status");
        assert_eq!(s.property("a?b").unwrap().name, "Status");
        assert_eq!(s.property("title").unwrap().name, "Name");
        assert!(s.property("Staus").is_none());
    }

    #[test]
    fn the_saved_form_round_trips() {
        let mut s = tasks();
        s.users = Some(vec![SchemaUser {
            id: "9531985d-5d9d-49f8-9818-e811892f902b".into(),
            name: "Ada".into(),
            email: Some("Ada@Example.com".into()),
        }]);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""type":"place""#), "{text}");
        assert_eq!(text.parse::<Schema>().unwrap(), s);
        let users = s.users_by_email().unwrap();
        assert_eq!(
            users["ada@example.com"].to_string(),
            "9531985d-5d9d-49f8-9818-e811892f902b"
        );
    }

    #[test]
    fn a_bad_file_says_what_it_expected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"format": 1, "properties": []}"#).unwrap();
        let err = Schema::load(&path).unwrap_err().to_string();
        assert!(err.contains("notion-bulk schema"), "{err}");
        std::fs::write(
            &path,
            r#"{"format": 9, "data_source_id": "x", "title": "", "properties": []}"#,
        )
        .unwrap();
        let err = Schema::load(&path).unwrap_err().to_string();
        assert!(err.contains("format 9"), "{err}");
    }
}

//! A small vocabulary for describing operations and schemas, so that each part of the
//! catalog reads as a list of routes rather than as nested JSON.
//!
//! Schemas use the JSON Schema 2020-12 dialect that OpenAPI 3.1 adopted: a value that
//! may be `null` is `{"type": ["string", "null"]}` (see [`nullable`]).

use serde_json::{Map, Value, json};

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// No credentials.
    Public,
    /// A device credential: `X-API-Key` and `X-API-Secret`.
    Device,
    /// A login token of any signed-in person (operators see only their branches).
    Person,
    /// A login token of an admin.
    Admin,
    /// A login token, or a personal access token with this scope.
    PersonOrScope(&'static str),
}

/// One operation of the API.
#[derive(Debug, Clone)]
pub(crate) struct Op {
    pub method: &'static str,
    pub path: String,
    pub tag: &'static str,
    pub summary: String,
    pub description: Option<String>,
    pub auth: Auth,
    /// Always answered with 403 (kept for clients of the original API).
    pub refused: bool,
    params: Vec<Value>,
    /// The accepted media types of the request body, each with its schema.
    body: Vec<(&'static str, Value)>,
    /// The body may be left out (an update without changes: an empty body is `{}`).
    body_optional: bool,
    /// Status, description, and the answer's media types with their schemas.
    responses: Vec<(u16, String, Map<String, Value>)>,
    errors: Vec<u16>,
}

impl Op {
    pub fn new(method: &'static str, path: impl Into<String>, tag: &'static str) -> Self {
        let path = path.into();
        let params = path_params(&path);
        // A path parameter that does not parse is a validation error.
        let errors = if params.is_empty() {
            Vec::new()
        } else {
            vec![422]
        };
        Self {
            method,
            path,
            tag,
            summary: String::new(),
            description: None,
            auth: Auth::Public,
            refused: false,
            params,
            body: Vec::new(),
            responses: Vec::new(),
            errors,
            body_optional: false,
        }
    }

    pub fn get(path: impl Into<String>, tag: &'static str) -> Self {
        Self::new("get", path, tag)
    }

    pub fn post(path: impl Into<String>, tag: &'static str) -> Self {
        Self::new("post", path, tag)
    }

    pub fn put(path: impl Into<String>, tag: &'static str) -> Self {
        Self::new("put", path, tag)
    }

    pub fn patch(path: impl Into<String>, tag: &'static str) -> Self {
        Self::new("patch", path, tag)
    }

    pub fn delete(path: impl Into<String>, tag: &'static str) -> Self {
        Self::new("delete", path, tag)
    }

    pub fn summary(mut self, text: impl Into<String>) -> Self {
        self.summary = text.into();
        self
    }

    pub fn describe(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Sets who may call; the matching 401/403 answers are added.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        match auth {
            Auth::Public => {}
            Auth::Device => self.errors.extend([401, 403, 429]),
            Auth::Person | Auth::Admin | Auth::PersonOrScope(_) => self.errors.extend([401, 403]),
        }
        self
    }

    /// Marks a route that is always refused with 403, saying why.
    pub fn refused(mut self, why: &str) -> Self {
        self.refused = true;
        self.description = Some(why.into());
        self.errors.push(403);
        self
    }

    /// A query parameter.
    pub fn query(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params.push(json!({
            "name": name, "in": "query", "required": false,
            "description": description, "schema": schema,
        }));
        self
    }

    /// A required query parameter.
    pub fn query_required(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params.push(json!({
            "name": name, "in": "query", "required": true,
            "description": description, "schema": schema,
        }));
        self
    }

    /// A request header.
    pub fn header(mut self, name: &str, schema: Value, description: &str) -> Self {
        self.params.push(json!({
            "name": name, "in": "header", "required": false,
            "description": description, "schema": schema,
        }));
        self
    }

    /// Describes a path parameter (its type and meaning); every `{name}` of the path is
    /// declared as a string parameter until this overrides it.
    pub fn path_param(mut self, name: &str, schema: Value, description: &str) -> Self {
        for param in &mut self.params {
            if param["in"] == "path" && param["name"] == name {
                param["schema"] = schema.clone();
                param["description"] = Value::String(description.into());
            }
        }
        self
    }

    /// The common page parameters of list endpoints.
    pub fn paged(self) -> Self {
        self.query(
            "page",
            int_range(1, u32::MAX.into()),
            "Page number, from 1.",
        )
        .query(
            "per_page",
            int_range(1, 100),
            "Rows per page (at most 100).",
        )
    }

    /// A JSON request body.
    pub fn json_body(self, schema: Value) -> Self {
        self.body("application/json", schema)
    }

    /// Lets the body be left out (an empty body counts as `{}`).
    pub fn body_optional(mut self) -> Self {
        self.body_optional = true;
        self
    }

    /// A request body of a media type (call again for each one the route accepts:
    /// JSON, multipart uploads, forms).
    pub fn body(mut self, media: &'static str, schema: Value) -> Self {
        self.body.push((media, schema));
        self.errors.push(422);
        self
    }

    /// A success answer: the JSON envelope around `data`.
    pub fn ok(self, data: Value) -> Self {
        self.answer(200, "Success.", data)
    }

    /// A success answer with the pagination block, `data` being the list.
    pub fn ok_page(mut self, item: Value) -> Self {
        self.responses.push((
            200,
            "A page of rows.".into(),
            json_content(page_envelope(item)),
        ));
        self
    }

    /// Another status with the envelope around `data`.
    pub fn answer(mut self, status: u16, description: &str, data: Value) -> Self {
        self.responses
            .push((status, description.into(), json_content(envelope(data))));
        self
    }

    /// A status whose body is not the JSON envelope (files, streams, redirects).
    pub fn raw(self, status: u16, description: &str, media: Option<(&str, Value)>) -> Self {
        self.raw_any(status, description, media.as_slice())
    }

    /// A status answered in one of several media types (a file as CSV or XLSX).
    pub fn raw_any(mut self, status: u16, description: &str, media: &[(&str, Value)]) -> Self {
        let content = media
            .iter()
            .map(|(m, schema)| ((*m).to_owned(), json!({"schema": schema})))
            .collect();
        self.responses.push((status, description.into(), content));
        self
    }

    /// Another media type for the answer already described with `status` (a table that
    /// can also come as CSV).
    pub fn also(mut self, status: u16, media: &str, schema: Value) -> Self {
        if let Some((_, _, content)) = self.responses.iter_mut().find(|(s, _, _)| *s == status) {
            content.insert(media.to_owned(), json!({"schema": schema}));
        }
        self
    }

    /// Error answers this operation can give besides the ones its auth implies.
    pub fn errors(mut self, statuses: &[u16]) -> Self {
        self.errors.extend_from_slice(statuses);
        self
    }

    /// The OpenAPI operation object.
    pub fn to_json(&self) -> Value {
        let mut op = Map::new();
        op.insert("tags".into(), json!([self.tag]));
        op.insert("summary".into(), Value::String(self.summary.clone()));
        op.insert("operationId".into(), Value::String(self.operation_id()));
        if let Some(d) = &self.description {
            op.insert("description".into(), Value::String(d.clone()));
        }
        if !self.params.is_empty() {
            op.insert("parameters".into(), Value::Array(self.params.clone()));
        }
        if !self.body.is_empty() {
            let content: Map<String, Value> = self
                .body
                .iter()
                .map(|(media, schema)| ((*media).to_owned(), json!({"schema": schema})))
                .collect();
            op.insert(
                "requestBody".into(),
                json!({"required": !self.body_optional, "content": content}),
            );
        }
        op.insert("security".into(), security(self.auth));
        let mut responses = Map::new();
        for (status, description, content) in &self.responses {
            let mut response = json!({ "description": description });
            if !content.is_empty() {
                response["content"] = Value::Object(content.clone());
            }
            responses.insert(status.to_string(), response);
        }
        let mut errors = self.errors.clone();
        errors.push(500);
        errors.sort_unstable();
        errors.dedup();
        for status in errors {
            responses
                .entry(status.to_string())
                .or_insert_with(|| json!({"$ref": format!("#/components/responses/E{status}")}));
        }
        op.insert("responses".into(), Value::Object(responses));
        Value::Object(op)
    }

    /// `get_api_v1_detection_status_job_id`: unique per method and path.
    pub fn operation_id(&self) -> String {
        let mut id = String::from(self.method);
        for part in self.path.split('/').filter(|p| !p.is_empty()) {
            id.push('_');
            id.extend(
                part.chars()
                    .filter(|c| !matches!(c, '{' | '}'))
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
            );
        }
        id
    }
}

/// Every `{name}` of a path template, declared as a required string.
fn path_params(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": string()}))
        .collect()
}

fn security(auth: Auth) -> Value {
    match auth {
        Auth::Public => json!([]),
        Auth::Device => json!([{"deviceKey": [], "deviceSecret": []}]),
        Auth::Person | Auth::Admin => json!([{"bearerToken": []}]),
        Auth::PersonOrScope(scope) => {
            json!([{"bearerToken": []}, {"personalAccessToken": [scope]}])
        }
    }
}

fn json_content(schema: Value) -> Map<String, Value> {
    let mut content = Map::new();
    content.insert("application/json".into(), json!({"schema": schema}));
    content
}

/// The success envelope around `data`.
pub(crate) fn envelope(data: Value) -> Value {
    json!({
        "type": "object",
        "required": ["success", "message", "data", "meta"],
        "properties": {
            "success": {"const": true},
            "message": string(),
            "data": data,
            "meta": reference("Meta"),
        },
    })
}

fn page_envelope(item: Value) -> Value {
    let mut body = envelope(array(item));
    body["required"] = json!(["success", "message", "data", "pagination", "meta"]);
    body["properties"]["pagination"] = reference("Pagination");
    body
}

pub(crate) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(crate) fn string() -> Value {
    json!({"type": "string"})
}

pub(crate) fn string_max(max: usize) -> Value {
    json!({"type": "string", "maxLength": max})
}

pub(crate) fn int() -> Value {
    json!({"type": "integer"})
}

pub(crate) fn int_min(min: i64) -> Value {
    json!({"type": "integer", "minimum": min})
}

pub(crate) fn int_range(min: i64, max: i64) -> Value {
    json!({"type": "integer", "minimum": min, "maximum": max})
}

/// `/api/v1/{path}`.
pub(crate) fn v1(path: &str) -> String {
    format!("/api/v1/{path}")
}

/// A counter: never negative.
pub(crate) fn count() -> Value {
    int_min(0)
}

/// A row id in a path: a positive 64-bit integer.
pub(crate) fn row_id() -> Value {
    int_range(1, i64::MAX)
}

pub(crate) fn number() -> Value {
    json!({"type": "number"})
}

pub(crate) fn boolean() -> Value {
    json!({"type": "boolean"})
}

/// `YYYY-MM-DD`.
pub(crate) fn date() -> Value {
    json!({"type": "string", "format": "date"})
}

/// RFC 3339.
pub(crate) fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

pub(crate) fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

pub(crate) fn one_of_strings(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

/// Any JSON value.
pub(crate) fn any() -> Value {
    json!({})
}

pub(crate) fn array(item: Value) -> Value {
    json!({"type": "array", "items": item})
}

/// `schema` or `null`.
pub(crate) fn nullable(schema: Value) -> Value {
    match schema.get("type") {
        Some(Value::String(t)) => {
            let mut s = schema.clone();
            s["type"] = json!([t, "null"]);
            s
        }
        _ => json!({"anyOf": [schema, {"type": "null"}]}),
    }
}

/// An object whose members are all present in answers (inputs use [`input`]).
pub(crate) fn object(fields: &[(&str, Value)]) -> Value {
    let required: Vec<&str> = fields.iter().map(|(name, _)| *name).collect();
    let mut o = input(fields);
    o["required"] = json!(required);
    o
}

/// An object of optional members.
pub(crate) fn input(fields: &[(&str, Value)]) -> Value {
    let properties: Map<String, Value> = fields
        .iter()
        .map(|(name, schema)| ((*name).to_owned(), schema.clone()))
        .collect();
    json!({"type": "object", "properties": properties})
}

/// An object with these members required and the rest optional.
pub(crate) fn with_required(mut schema: Value, required: &[&str]) -> Value {
    schema["required"] = json!(required);
    schema
}

/// A map from names to `value`.
pub(crate) fn map_of(value: Value) -> Value {
    json!({"type": "object", "additionalProperties": value})
}

/// Adds a description to a schema.
pub(crate) fn doc(mut schema: Value, description: &str) -> Value {
    schema["description"] = Value::String(description.into());
    schema
}

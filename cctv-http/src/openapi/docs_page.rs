//! `GET /api/docs`: the OpenAPI document as a readable page, rendered on the server from
//! the same document (no script, no CDN), so it works under the pages' Content Security
//! Policy and on a machine with no Internet access.

use salvo::http::StatusCode;
use salvo::{Response, handler};
use serde_json::{Map, Value, json};

use crate::web::render::Templates;

#[handler]
pub(super) async fn page(res: &mut Response) {
    let html = Templates::render("api_docs.html", &context(super::document()));
    match html {
        Ok(html) => {
            res.status_code(StatusCode::OK);
            res.render(salvo::writing::Text::Html(html));
        }
        Err(e) => {
            tracing::error!(error = %e, "api docs page");
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(salvo::writing::Text::Plain(
                "The API reference could not be rendered.",
            ));
        }
    }
}

/// What the template shows: operations grouped by tag in catalog order, the error
/// answers once, then the schemas as tables.
fn context(doc: &Value) -> Value {
    let ops = super::operations();
    let mut sections: Vec<Value> = Vec::new();
    for tag in doc["tags"].as_array().into_iter().flatten() {
        let name = tag["name"].as_str().unwrap_or_default();
        let listed: Vec<Value> = ops
            .iter()
            .filter(|op| op.tag == name)
            .map(|op| operation(&op.path, op.method, &op.to_json()))
            .collect();
        if !listed.is_empty() {
            sections.push(json!({
                "name": name,
                "anchor": anchor(name),
                "description": tag["description"],
                "ops": listed,
            }));
        }
    }
    let schemas: Vec<Value> = doc["components"]["schemas"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, schema)| {
            json!({
                "name": name, "rows": members(schema), "summary": type_label(schema),
                "description": prose(schema["description"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    let schemes: Vec<Value> = doc["components"]["securitySchemes"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, s)| json!({"name": name, "description": s["description"]}))
        .collect();
    let errors: Vec<Value> = doc["components"]["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, r)| {
            json!({"status": name.trim_start_matches('E'), "description": prose(r["description"].as_str().unwrap_or_default())})
        })
        .collect();
    json!({
        "info": doc["info"],
        "introduction": prose(doc["info"]["description"].as_str().unwrap_or_default()),
        "sections": sections,
        "errors": errors,
        "schemas": schemas,
        "schemes": schemes,
    })
}

fn operation(path: &str, method: &str, op: &Value) -> Value {
    let params: Vec<Value> = op["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            json!({
                "name": p["name"], "in": p["in"], "required": p["required"],
                "type": type_label(&p["schema"]),
                "description": prose(p["description"].as_str().unwrap_or_default()),
            })
        })
        .collect();
    let bodies: Vec<Value> = op["requestBody"]["content"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(media, spec)| {
            json!({"media": media, "type": type_label(&spec["schema"]), "link": link(&spec["schema"])})
        })
        .collect();
    let mut responses = Vec::new();
    let mut errors = Vec::new();
    for (status, r) in op["responses"].as_object().into_iter().flatten() {
        if r.get("$ref").is_some() {
            errors.push(status.clone());
            continue;
        }
        let data = &r["content"]["application/json"]["schema"]["properties"]["data"];
        let media: Vec<&String> = r["content"]
            .as_object()
            .map(|c| c.keys().collect())
            .unwrap_or_default();
        responses.push(json!({
            "status": status,
            "description": prose(r["description"].as_str().unwrap_or_default()),
            "data": if data.is_null() { Value::Null } else { Value::String(type_label(data)) },
            "link": link(data),
            "media": media,
        }));
    }
    let security: Vec<String> = op["security"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|req| {
            req.as_object()
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(" + "))
                .unwrap_or_default()
        })
        .collect();
    json!({
        "method": method.to_uppercase(),
        "path": path,
        "id": op["operationId"],
        "summary": op["summary"],
        "description": prose(op["description"].as_str().unwrap_or_default()),
        "security": if security.is_empty() { "none".to_owned() } else { security.join(" or ") },
        "params": params,
        "bodies": bodies,
        "responses": responses,
        "errors": errors,
    })
}

/// One row per member of an object schema (or of each part of an `allOf`).
fn members(schema: &Value) -> Vec<Value> {
    if let Some(parts) = schema["allOf"].as_array() {
        return parts.iter().flat_map(members).collect();
    }
    let required: Vec<&str> = schema["required"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let empty = Map::new();
    schema["properties"]
        .as_object()
        .unwrap_or(&empty)
        .iter()
        .map(|(name, s)| {
            json!({
                "name": name, "type": type_label(s), "link": link(s),
                "required": required.contains(&name.as_str()),
                "description": prose(s["description"].as_str().unwrap_or_default()),
            })
        })
        .collect()
}

/// The schema name a `$ref` (or a list of them) points at, for a link.
fn link(schema: &Value) -> Value {
    let target = schema["$ref"]
        .as_str()
        .or_else(|| schema["items"]["$ref"].as_str());
    target
        .and_then(|r| r.rsplit('/').next())
        .map_or(Value::Null, |name| Value::String(name.to_owned()))
}

/// A short human label for a schema: `integer`, `string (date)`, `array of Detection`…
pub(super) fn type_label(schema: &Value) -> String {
    if let Some(r) = schema["$ref"].as_str() {
        return r.rsplit('/').next().unwrap_or(r).to_owned();
    }
    if let Some(c) = schema.get("const") {
        return format!("always {c}");
    }
    if let Some(values) = schema["enum"].as_array() {
        let names: Vec<String> = values
            .iter()
            .map(|v| v.as_str().map_or(v.to_string(), str::to_owned))
            .collect();
        return format!("one of {}", names.join(", "));
    }
    for combinator in ["anyOf", "oneOf", "allOf"] {
        if let Some(parts) = schema[combinator].as_array() {
            let joiner = if combinator == "allOf" {
                " and "
            } else {
                " or "
            };
            let labels: Vec<String> = parts.iter().map(type_label).collect();
            return labels.join(joiner);
        }
    }
    let base = match &schema["type"] {
        Value::String(t) => t.clone(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => "any".to_owned(),
    };
    let base = if base.starts_with("array") {
        base.replacen(
            "array",
            &format!("array of {}", type_label(&schema["items"])),
            1,
        )
    } else {
        base
    };
    match schema["format"].as_str() {
        Some(format) => format!("{base} ({format})"),
        None => base,
    }
}

fn anchor(name: &str) -> String {
    name.to_lowercase().replace(' ', "-")
}

/// The descriptions' light markup as HTML: paragraphs at blank lines, `code` and
/// **strong**. The text is escaped first, so nothing in it can become markup.
pub(super) fn prose(text: &str) -> String {
    let mut html = String::new();
    for paragraph in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        html.push_str("<p>");
        let escaped = escape(paragraph.trim());
        let mut in_code = false;
        for (i, part) in escaped.split('`').enumerate() {
            if i > 0 {
                html.push_str(if in_code { "</code>" } else { "<code>" });
                in_code = !in_code;
            }
            if in_code {
                html.push_str(part);
            } else {
                let mut strong = false;
                for (j, piece) in part.split("**").enumerate() {
                    if j > 0 {
                        html.push_str(if strong { "</strong>" } else { "<strong>" });
                        strong = !strong;
                    }
                    html.push_str(piece);
                }
                if strong {
                    html.push_str("</strong>");
                }
            }
        }
        if in_code {
            html.push_str("</code>");
        }
        html.push_str("</p>");
    }
    html
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

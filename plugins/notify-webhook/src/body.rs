//! The JSON body template: a JSON value whose string values are message templates.
//!
//! Keys, numbers, booleans and `null` are sent as written; each string is rendered, so a
//! receiver gets valid JSON whatever the event contains (no escaping concerns, unlike a
//! template that produces JSON text).

use cctv_admin::notify::OutboundMessage;
use cctv_admin::template::{MessageTemplate, TemplateError, VARIABLES};
use serde_json::{Map, Value, json};

/// Variables of the body besides the event's.
pub const MESSAGE_VARIABLES: [&str; 4] = ["recipient", "text", "idempotency_key", "image_path"];

/// The body sent when none is configured.
pub fn default_body() -> Value {
    json!({
        "recipient": "{{ recipient }}",
        "text": "{{ text }}",
        "idempotency_key": "{{ idempotency_key }}",
        "image_path": "{{ image_path }}",
        "event": VARIABLES.iter().map(|v| (v.to_string(), Value::from(format!("{{{{ {v} }}}}")))).collect::<Map<_, _>>(),
    })
}

#[derive(Debug)]
pub(crate) enum BodyTemplate {
    Literal(Value),
    /// Boxed: a compiled template is much larger than the other variants.
    Text(Box<MessageTemplate>),
    Array(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
}

impl BodyTemplate {
    /// Compiles every string; the error names where the bad string sits (`/event/0`).
    pub(crate) fn compile(value: &Value) -> Result<Self, String> {
        let available: Vec<&str> = VARIABLES
            .iter()
            .chain(&MESSAGE_VARIABLES)
            .copied()
            .collect();
        compile_at(value, &available, "")
    }

    pub(crate) fn render(&self, context: &Value) -> Result<Value, TemplateError> {
        Ok(match self {
            Self::Literal(value) => value.clone(),
            Self::Text(template) => Value::String(template.render(context)?),
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(context))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, item)| Ok((key.clone(), item.render(context)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
        })
    }
}

fn compile_at(value: &Value, available: &[&str], path: &str) -> Result<BodyTemplate, String> {
    Ok(match value {
        Value::String(s) if s.contains('{') => BodyTemplate::Text(Box::new(
            MessageTemplate::compile_with(s, available).map_err(|e| format!("body{path}: {e}"))?,
        )),
        Value::Array(items) => BodyTemplate::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| compile_at(item, available, &format!("{path}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => BodyTemplate::Object(
            fields
                .iter()
                .map(|(key, item)| {
                    Ok((
                        key.clone(),
                        compile_at(item, available, &format!("{path}/{key}"))?,
                    ))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => BodyTemplate::Literal(other.clone()),
    })
}

/// The render context: the event variables plus the message's own fields.
pub(crate) fn context(message: &OutboundMessage) -> Value {
    let mut context = serde_json::to_value(&message.context).unwrap_or_else(|_| json!({}));
    if !context.is_object() {
        context = json!({});
    }
    context["recipient"] = message.recipient.as_str().into();
    context["text"] = message.text.as_str().into();
    context["idempotency_key"] = message.idempotency_key.as_str().into();
    context["image_path"] = message.image_path.as_deref().unwrap_or_default().into();
    context
}

#[cfg(test)]
mod tests {
    use cctv_admin::template::TemplateVars;

    use super::*;

    #[test]
    fn strings_are_rendered_and_other_values_kept() {
        let body = json!({"who": "{person_name}", "n": 3, "ok": true, "none": null, "list": ["{{ text }}", "plain"]});
        let message = OutboundMessage::new("62811", "hello", "k1").with_context(TemplateVars {
            person_name: "Budi".into(),
            ..Default::default()
        });
        let rendered = BodyTemplate::compile(&body)
            .unwrap()
            .render(&context(&message))
            .unwrap();
        assert_eq!(
            rendered,
            json!({"who": "Budi", "n": 3, "ok": true, "none": null, "list": ["hello", "plain"]})
        );
    }

    #[test]
    fn an_unknown_variable_names_its_place_in_the_body() {
        let err = BodyTemplate::compile(&json!({"a": [{"b": "{{ nope }}"}]})).unwrap_err();
        assert!(
            err.starts_with("body/a/0/b: unknown variable(s): nope"),
            "{err}"
        );
    }

    #[test]
    fn the_default_body_compiles_and_carries_every_event_variable() {
        let message = OutboundMessage::new("62811", "hello", "k1");
        let rendered = BodyTemplate::compile(&default_body())
            .unwrap()
            .render(&context(&message))
            .unwrap();
        assert_eq!(rendered["text"], "hello");
        assert_eq!(rendered["image_path"], "");
        assert_eq!(
            rendered["event"].as_object().unwrap().len(),
            VARIABLES.len()
        );
        assert_eq!(rendered["event"]["detected_count"], "0");
    }
}

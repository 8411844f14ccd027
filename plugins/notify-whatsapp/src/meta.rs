//! Meta WhatsApp Cloud API mode.
//!
//! - text: `POST {base}/{version}/{phone_number_id}/messages`
//!   `{messaging_product: "whatsapp", to, type: "text", text: {body}}`;
//! - image: `{type: "image", image: {link | id, caption}}`; bytes are first uploaded with
//!   `POST …/{phone_number_id}/media` (multipart) and sent by media id;
//! - template: `{type: "template", template: {name, language: {code}, components}}` with
//!   rendered body parameters and, when configured, the image as header;
//! - auth: `Authorization: Bearer <access_token>`.
//!
//! The answer's message id is `messages[0].id`.

use std::time::Duration;

use cctv_admin::notify::{
    Attachment, AttachmentSource, Delivery, NotifierConfigError, NotifyError, OutboundMessage,
};
use cctv_admin::phone::stored_recipient;
use cctv_admin::template::{MessageTemplate, VARIABLES};
use reqwest::header::HeaderValue;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};

use crate::settings::{MetaSettings, base_url, check_timeout};
use crate::{KIND, invalid_recipient};
use cctv_notify_http::{execute, string_at};

/// Variables of template body parameters: the event's plus these.
const EXTRA_VARIABLES: [&str; 2] = ["text", "recipient"];

#[derive(Debug)]
pub(crate) struct Meta {
    pub(crate) base: String,
    messages_url: String,
    media_url: String,
    /// `Bearer …`, marked sensitive.
    authorization: HeaderValue,
    template: Option<Template>,
}

#[derive(Debug)]
struct Template {
    name: String,
    language: String,
    parameters: Vec<MessageTemplate>,
    image_header: bool,
}

impl Meta {
    pub(crate) fn new(settings: &MetaSettings) -> Result<Self, NotifierConfigError> {
        check_timeout(settings.timeout_ms)?;
        let base = base_url(&settings.base_url)?;
        for (field, value) in [
            ("api_version", &settings.api_version),
            ("phone_number_id", &settings.phone_number_id),
        ] {
            if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '.') {
                return Err(NotifierConfigError::invalid(
                    KIND,
                    format!("{field} `{value}` is not valid"),
                ));
            }
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", settings.access_token))
            .map_err(|_| {
                NotifierConfigError::invalid(
                    KIND,
                    "access_token contains characters not allowed in a header",
                )
            })?;
        authorization.set_sensitive(true);
        let available: Vec<&str> = VARIABLES.iter().chain(&EXTRA_VARIABLES).copied().collect();
        let template = match &settings.template {
            None => None,
            Some(t) => Some(Template {
                name: t.name.clone(),
                language: t.language.clone(),
                parameters: t
                    .body_parameters
                    .iter()
                    .map(|source| {
                        MessageTemplate::compile_with(source, &available).map_err(|e| {
                            NotifierConfigError::invalid(
                                KIND,
                                format!("body parameter `{source}`: {e}"),
                            )
                        })
                    })
                    .collect::<Result<_, _>>()?,
                image_header: t.image_header,
            }),
        };
        let phone_url = format!(
            "{base}/{}/{}",
            settings.api_version, settings.phone_number_id
        );
        Ok(Self {
            messages_url: format!("{phone_url}/messages"),
            media_url: format!("{phone_url}/media"),
            base: phone_url,
            authorization,
            template,
        })
    }

    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        message: &OutboundMessage,
    ) -> Result<Delivery, NotifyError> {
        let to = stored_recipient(&message.recipient).map_err(invalid_recipient)?;
        let mut elapsed = Duration::ZERO;
        let wants_image = self.template.as_ref().is_none_or(|t| t.image_header);
        let image = match message.image.as_ref().filter(|_| wants_image) {
            Some(attachment) => Some(self.media(http, attachment, &mut elapsed).await?),
            None => None,
        };
        let mut body =
            json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to});
        match (&self.template, image) {
            (Some(template), image) => {
                body["type"] = "template".into();
                body["template"] = template.payload(message, image)?;
            }
            (None, Some(mut image)) => {
                image["caption"] = message.text.as_str().into();
                body["type"] = "image".into();
                body["image"] = image;
            }
            (None, None) => {
                body["type"] = "text".into();
                body["text"] = json!({"body": message.text, "preview_url": false});
            }
        }
        let request = http
            .post(&self.messages_url)
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .json(&body);
        let answer = execute(request).await?;
        let id = string_at(&answer.json, &["/messages/0/id"]);
        Ok(Delivery::sent(id, elapsed + answer.elapsed))
    }

    /// `{"link": url}` for a URL, `{"id": media_id}` after uploading bytes.
    async fn media(
        &self,
        http: &reqwest::Client,
        attachment: &Attachment,
        elapsed: &mut Duration,
    ) -> Result<Value, NotifyError> {
        let bytes = match &attachment.source {
            AttachmentSource::Url(url) => return Ok(json!({"link": url})),
            AttachmentSource::Bytes(bytes) => bytes.clone(),
        };
        let file = Part::bytes(bytes)
            .file_name(attachment.filename.clone())
            .mime_str(&attachment.mime)
            .map_err(|_| {
                NotifyError::rejected(
                    Some("invalid_mime".into()),
                    format!("MIME type `{}` is not valid", attachment.mime),
                )
            })?;
        let form = Form::new()
            .text("messaging_product", "whatsapp")
            .text("type", attachment.mime.clone())
            .part("file", file);
        let request = http
            .post(&self.media_url)
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .multipart(form);
        let answer = execute(request).await?;
        *elapsed += answer.elapsed;
        let id = string_at(&answer.json, &["/id"]).ok_or_else(|| {
            NotifyError::unavailable(
                Some("media_id_missing".into()),
                "media upload answered without an id",
            )
        })?;
        Ok(json!({"id": id}))
    }

    /// The phone number id exists and the token is accepted.
    pub(crate) async fn health_check(&self, http: &reqwest::Client) -> Result<(), NotifyError> {
        let request = http
            .get(&self.base)
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone());
        execute(request).await.map(drop)
    }
}

impl Template {
    fn payload(
        &self,
        message: &OutboundMessage,
        image: Option<Value>,
    ) -> Result<Value, NotifyError> {
        let mut context = serde_json::to_value(&message.context).unwrap_or_else(|_| json!({}));
        context["text"] = message.text.as_str().into();
        context["recipient"] = message.recipient.as_str().into();
        let mut components = Vec::new();
        if let Some(image) = image {
            components
                .push(json!({"type": "header", "parameters": [{"type": "image", "image": image}]}));
        }
        if !self.parameters.is_empty() {
            let parameters = self
                .parameters
                .iter()
                .map(|p| {
                    p.render(&context)
                        .map(|text| json!({"type": "text", "text": text}))
                        .map_err(|e| NotifyError::rejected(Some("template".into()), e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            components.push(json!({"type": "body", "parameters": parameters}));
        }
        Ok(
            json!({"name": self.name, "language": {"code": self.language}, "components": components}),
        )
    }
}

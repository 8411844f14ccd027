//! WAHA (WhatsApp HTTP API) mode.
//!
//! - text: `POST {base}/api/sendText` `{chatId, text, session}`;
//! - image: `POST {base}/api/sendImage` `{chatId, session, caption, file}` where `file` is
//!   `{mimetype, filename, url}` for a URL attachment or `{mimetype, filename, data}` with
//!   base64 bytes (WAHA's documented body; the caption carries the text, so one message);
//! - auth: `X-Api-Key` header when configured.
//!
//! The answer is the sent message; its id is `id` (a string, or an object with
//! `_serialized` on some engines) or `key.id`.

use base64::Engine as _;
use cctv_admin::notify::{
    AttachmentSource, Delivery, NotifierConfigError, NotifyError, OutboundMessage,
};
use cctv_admin::phone::{stored_recipient, whatsapp_chat_id};
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::settings::{WahaSettings, base_url, check_timeout};
use crate::{KIND, invalid_recipient};
use cctv_notify_http::{execute, string_at};

#[derive(Debug)]
pub(crate) struct Waha {
    pub(crate) base: String,
    session: String,
    /// Marked sensitive: reqwest never prints it.
    api_key: Option<HeaderValue>,
}

impl Waha {
    pub(crate) fn new(settings: &WahaSettings) -> Result<Self, NotifierConfigError> {
        check_timeout(settings.timeout_ms)?;
        if settings.session.trim().is_empty() {
            return Err(NotifierConfigError::invalid(
                KIND,
                "session must not be empty",
            ));
        }
        let api_key = match &settings.api_key {
            Some(key) => {
                let mut value = HeaderValue::from_str(key).map_err(|_| {
                    NotifierConfigError::invalid(
                        KIND,
                        "api_key contains characters not allowed in a header",
                    )
                })?;
                value.set_sensitive(true);
                Some(value)
            }
            None => None,
        };
        Ok(Self {
            base: base_url(&settings.base_url)?,
            session: settings.session.clone(),
            api_key,
        })
    }

    fn post(&self, http: &reqwest::Client, path: &str, body: &Value) -> reqwest::RequestBuilder {
        let request = http.post(format!("{}{path}", self.base)).json(body);
        match &self.api_key {
            Some(key) => request.header("X-Api-Key", key.clone()),
            None => request,
        }
    }

    pub(crate) async fn send(
        &self,
        http: &reqwest::Client,
        message: &OutboundMessage,
    ) -> Result<Delivery, NotifyError> {
        let chat_id = chat_id(&message.recipient)?;
        let (path, body) = match &message.image {
            None => (
                "/api/sendText",
                json!({"chatId": chat_id, "text": message.text, "session": self.session}),
            ),
            Some(image) => {
                let mut file = json!({"mimetype": image.mime, "filename": image.filename});
                match &image.source {
                    AttachmentSource::Url(url) => file["url"] = url.as_str().into(),
                    AttachmentSource::Bytes(bytes) => {
                        file["data"] = base64::engine::general_purpose::STANDARD
                            .encode(bytes)
                            .into();
                    }
                }
                (
                    "/api/sendImage",
                    json!({"chatId": chat_id, "session": self.session, "caption": message.text, "file": file}),
                )
            }
        };
        let answer = execute(self.post(http, path, &body)).await?;
        let id = string_at(
            &answer.json,
            &["/id", "/id/_serialized", "/id/id", "/key/id"],
        );
        Ok(Delivery::sent(id, answer.elapsed))
    }

    /// The session exists and the server answers.
    pub(crate) async fn health_check(&self, http: &reqwest::Client) -> Result<(), NotifyError> {
        let request = http.get(format!("{}/api/sessions/{}", self.base, self.session));
        let request = match &self.api_key {
            Some(key) => request.header("X-Api-Key", key.clone()),
            None => request,
        };
        execute(request).await.map(drop)
    }
}

/// A group or channel id (`…@g.us`) is used as given; a phone number is normalised.
fn chat_id(recipient: &str) -> Result<String, NotifyError> {
    if recipient.contains('@') {
        return Ok(recipient.to_owned());
    }
    stored_recipient(recipient)
        .map(|digits| whatsapp_chat_id(&digits))
        .map_err(invalid_recipient)
}

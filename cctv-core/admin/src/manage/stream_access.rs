//! A device's stream as the live view needs it: which branch it belongs to (who may
//! watch), how a browser can play it, and — for server-side use only — the camera URL and
//! credentials. The HTTP layer's proxy and gateway source route are the only readers of
//! the credentials; everything shown to people comes from [`StreamSource::public_url`].

use serde_json::Value;

use super::camera_fields::plain;
use super::{ManageError, Manager, forbidden, int_of, str_of};
use crate::access::Principal;
use crate::manage::tables::STREAMS;
use crate::stream_url::{public_url, split_user_info, with_user_info};
use cctv_core::records::tables::DEVICES;
use cctv_core::records::{Filter, Record};

/// How a browser gets the picture of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Playback {
    /// Snapshot (`http`), MJPEG and HLS: the server fetches it with the credentials and
    /// passes the picture on.
    Proxy,
    /// RTSP, RTMP and WebRTC: browsers cannot play these; a gateway converts them.
    Gateway,
}

impl Playback {
    pub(crate) fn for_protocol(protocol: &str) -> Self {
        match protocol {
            "http" | "mjpeg" | "hls" => Playback::Proxy,
            _ => Playback::Gateway,
        }
    }
}

/// A device's stream with its camera address and credentials. `Debug` hides the
/// credentials; nothing here is meant to be serialised into a response except through
/// `public_url`.
#[derive(Clone)]
pub struct StreamSource {
    pub device_id: String,
    pub device_name: Option<String>,
    pub branch_id: i64,
    pub stream_name: Option<String>,
    /// `rtsp`, `rtmp`, `hls`, `http` (snapshot), `mjpeg` or `webrtc`.
    pub protocol: String,
    /// Health from the last probe (`online`, `offline`, …).
    pub status: Option<String>,
    /// The camera URL without user info.
    pub url: String,
    username: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for StreamSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSource")
            .field("device_id", &self.device_id)
            .field("branch_id", &self.branch_id)
            .field("protocol", &self.protocol)
            .field("url", &self.public_url())
            .finish_non_exhaustive()
    }
}

impl StreamSource {
    pub fn playback(&self) -> Playback {
        Playback::for_protocol(&self.protocol)
    }

    /// User name and password for the camera (HTTP basic auth, or RTSP user info).
    pub fn credentials(&self) -> Option<(&str, Option<&str>)> {
        self.username
            .as_deref()
            .map(|u| (u, self.password.as_deref()))
    }

    /// The URL as anyone may see it: no user info, no stored secret in it.
    pub(crate) fn public_url(&self) -> String {
        let secrets: Vec<&str> = [&self.password, &self.username]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        public_url(&self.url, &secrets)
    }

    /// The camera URL with the credentials as user info: what a gateway pulls from.
    /// Server to server only.
    pub fn url_with_credentials(&self) -> String {
        let (user, password) = self.credentials().unzip();
        with_user_info(&self.url, user, password.flatten())
    }

    fn from_rows(m: &Manager, device: &Record, stream: &Record) -> Self {
        let stored = plain(m, stream, "url_encrypted").unwrap_or_default();
        // Rows saved before URLs were split may still carry user info.
        let (url, in_url) = split_user_info(&stored);
        let (url_user, url_password) = in_url.unzip();
        let username = plain(m, stream, "username_encrypted").or(url_user);
        let password = plain(m, stream, "password_encrypted").or(url_password.flatten());
        StreamSource {
            device_id: str_of(device, "device_id").unwrap_or_default().to_owned(),
            device_name: str_of(device, "device_name").map(str::to_owned),
            branch_id: int_of(device, "branch_id").unwrap_or_default(),
            stream_name: str_of(stream, "stream_name").map(str::to_owned),
            protocol: str_of(stream, "stream_protocol")
                .unwrap_or("rtsp")
                .to_owned(),
            status: str_of(stream, "status").map(str::to_owned),
            url,
            username: username.filter(|u| !u.is_empty()),
            password,
        }
    }
}

impl Manager {
    /// The device's stream; `may_view` decides on the device's branch before anything
    /// about the stream is read.
    async fn load_source(
        &self,
        device_id: &str,
        may_view: impl Fn(i64) -> bool,
    ) -> Result<StreamSource, ManageError> {
        let storage = self.core.storage();
        let by_device = [Filter::Eq("device_id", Value::from(device_id))];
        let device = storage
            .find_record(&DEVICES, &by_device)
            .await?
            .ok_or_else(|| ManageError::NotFound("Device not found".into()))?;
        if !may_view(int_of(&device, "branch_id").unwrap_or_default()) {
            return Err(forbidden());
        }
        let stream = storage
            .find_record(&STREAMS, &by_device)
            .await?
            .ok_or_else(|| {
                ManageError::NotFound("No stream is configured for this device".into())
            })?;
        Ok(StreamSource::from_rows(self, &device, &stream))
    }

    /// The stream of a device, for someone who may view the device's branch.
    pub async fn stream_source(
        &self,
        who: &Principal,
        device_id: &str,
    ) -> Result<StreamSource, ManageError> {
        self.load_source(device_id, |branch| who.may_view_branch(branch))
            .await
    }

    /// The stream of a device for the configured gateway (which authenticated itself, not
    /// as a person). Only streams that play through a gateway are answered.
    pub async fn gateway_source(&self, device_id: &str) -> Result<StreamSource, ManageError> {
        let source = self.load_source(device_id, |_| true).await?;
        if source.playback() != Playback::Gateway {
            return Err(ManageError::NotFound(
                "This stream is not served through the gateway".into(),
            ));
        }
        Ok(source)
    }
}

//! The fingerprint of a detection request: SHA-256 (hex) of its fields as canonical JSON
//! (object keys sorted, whatever order the device sent them in).
//!
//! It is stored with every job that carries an idempotency key, and a retry is compared
//! with it, so its bytes must never change between versions: a retry that spans an
//! upgrade would otherwise be refused as a conflict. The text hashed is exactly what
//! `serde_json` writes for the object
//! `{"branch_id", "detected_at", "detected_count", "detection_data", "device_id", "image",
//! "person_features", "re_id"}` with every object's keys sorted; the tests pin it.
//!
//! It is written straight into one buffer, without copying the request's JSON into a new
//! value first: on the accepting path every allocation is paid once per request.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::DetectionRequest;

impl DetectionRequest {
    /// SHA-256 (hex) of what the device asked to store — every field as validated, the
    /// `detected_at` it sent (not the time of receipt, which differs between retries) and
    /// the image's digest — with object keys sorted, so that a retry of the same request
    /// has the same fingerprint whatever its key order. See the [module docs](self).
    pub(crate) fn fingerprint(&self, image_sha256: Option<&[u8; 32]>) -> String {
        let mut out = Vec::with_capacity(256);
        // The top-level keys, in sorted order.
        out.extend_from_slice(b"{\"branch_id\":");
        write_json(&mut out, &self.branch_id);
        out.extend_from_slice(b",\"detected_at\":");
        write_json(&mut out, &self.detected_at.map(|t| t.to_string()));
        out.extend_from_slice(b",\"detected_count\":");
        write_json(&mut out, &self.detected_count);
        out.extend_from_slice(b",\"detection_data\":");
        write_canonical(
            &mut out,
            self.detection_data.as_ref().unwrap_or(&Value::Null),
        );
        out.extend_from_slice(b",\"device_id\":");
        write_json(&mut out, &self.device_id);
        out.extend_from_slice(b",\"image\":");
        write_json(&mut out, &image_sha256.map(|d| crate::records::hex(d)));
        out.extend_from_slice(b",\"person_features\":");
        write_canonical(
            &mut out,
            self.person_features.as_ref().unwrap_or(&Value::Null),
        );
        out.extend_from_slice(b",\"re_id\":");
        write_json(&mut out, &self.re_id);
        out.push(b'}');
        crate::records::hex(&Sha256::digest(&out))
    }
}

/// `value` exactly as `serde_json` writes it (strings quoted and escaped).
fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing into a `Vec` cannot fail, and these values always serialise.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// `value` as JSON with every object's keys in sorted order.
fn write_canonical(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(out, key);
                out.push(b':');
                write_canonical(out, item);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        // Null, booleans, numbers and strings, exactly as `serde_json` writes them.
        scalar => write_json(out, scalar),
    }
}

/// The fingerprint as first written (the request copied into a `json!` value, then
/// written key by key): what the stored fingerprints were computed with, kept to check
/// that the direct writer above gives the same bytes for any request.
#[cfg(test)]
pub(crate) fn fingerprint_as_first_written(
    request: &DetectionRequest,
    image_sha256: Option<&[u8; 32]>,
) -> String {
    fn canonical_json(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, key) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(':');
                    canonical_json(&map[key], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical_json(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut canonical = String::new();
    let fields = serde_json::json!({
        "re_id": request.re_id,
        "branch_id": request.branch_id,
        "device_id": request.device_id,
        "detected_count": request.detected_count,
        "detected_at": request.detected_at.map(|t| t.to_string()),
        "detection_data": request.detection_data,
        "person_features": request.person_features,
        "image": image_sha256.map(|d| crate::records::hex(d)),
    });
    canonical_json(&fields, &mut canonical);
    crate::records::hex(&Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::detection::DetectionRules;

    fn request(fields: Value) -> DetectionRequest {
        let now = "2026-11-28T10:00:00Z".parse().unwrap();
        let fields = fields.as_object().unwrap().clone();
        DetectionRequest::from_fields(fields, None, &DetectionRules::default(), now).unwrap()
    }

    /// A request with every field, nested objects sent with their keys out of order, and
    /// text that JSON must escape.
    fn full_request() -> DetectionRequest {
        request(json!({
            "re_id": "REID_\"quoted\"_é",
            "branch_id": 7,
            "device_id": "CAM\\01",
            "detected_count": 3,
            "detected_at": "2026-11-28T09:59:00Z",
            "event_id": "ev-1",
            "detection_data": {"z": [1, 2.5, {"b": null, "a": true}], "a": "x\ny"},
            "person_features": {"vector": [0.125, -3e-7, 1e300], "model": "osnet"},
        }))
    }

    #[test]
    fn stored_fingerprints_keep_their_value() {
        // Pinned: a change here would make every retry across an upgrade a conflict.
        let req = full_request();
        assert_eq!(
            req.fingerprint(None),
            "9972f8f15409edd869f29e75218c753c6f002b7d2dd31f0c2a8599ec16219daf"
        );
        assert_eq!(
            req.fingerprint(Some(&[0xab; 32])),
            "470efd496f644654251967eeb79624140f8e1f2647bae01128fa47e916c71904"
        );
    }

    #[test]
    fn the_direct_writer_gives_the_first_bytes() {
        let minimal = request(json!({"re_id": "R", "branch_id": 1, "device_id": "D"}));
        for req in [full_request(), minimal] {
            for image in [None, Some(&[7u8; 32])] {
                assert_eq!(
                    req.fingerprint(image),
                    fingerprint_as_first_written(&req, image)
                );
            }
        }
    }

    /// Key order can only differ here if `serde_json` keeps maps in insertion order (its
    /// `preserve_order` feature, which any crate of the build could turn on); without it
    /// both maps are already sorted and the first assertion guards that case alone.
    #[test]
    fn key_order_does_not_matter_and_values_do() {
        let a = full_request();
        let mut b = full_request();
        b.detection_data = Some(json!({"a": "x\ny", "z": [1, 2.5, {"a": true, "b": null}]}));
        assert_eq!(a.fingerprint(None), b.fingerprint(None));
        b.detection_data = Some(json!({"a": "x\ny", "z": [2.5, 1, {"a": true, "b": null}]}));
        assert_ne!(a.fingerprint(None), b.fingerprint(None));
        assert_ne!(a.fingerprint(None), a.fingerprint(Some(&[0; 32])));
    }
}

//! Every create/update validation rule: a failing input gets a 422 naming the field, and
//! nothing is stored.

use serde_json::{Value, json};

use super::{call, people};
use crate::helpers::*;

async fn total(app: &TestApp, token: &str, resource: &str) -> u64 {
    let r = call(app, "GET", &format!("/api/v1/{resource}?per_page=1"), Some(token), None).await;
    assert_eq!(r.status, 200, "{resource}: {:?}", r.body);
    r.body["pagination"]["total"].as_u64().unwrap()
}

/// Applies `patch` to `base` (null removes a key).
fn variant(base: &Value, patch: Value) -> Value {
    let mut out = base.clone();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            out.as_object_mut().unwrap().remove(k);
        } else {
            out[k] = v.clone();
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rule_rejects_its_failing_input_with_the_field_named_and_stores_nothing() {
    for backend in backends() {
        let app = spawn_app(backend).await;
        let p = people(&app).await;
        let (b0, b1) = (app.branch(0), app.branch(1));
        let group = app.estate.branches[0].group_id;
        let four: Value = (1..=4).map(|i| json!({"position_number": i})).collect::<Vec<_>>().into();
        let too_long = "x".repeat(300);
        // resource, a valid body, then (change, field expected in the 422) pairs; the
        // first pair is also tried as an update of the created row.
        type Case<'a> = (&'a str, Value, Vec<(Value, &'a str)>);
        let cases: Vec<Case> = vec![
            ("company-groups", json!({"province_code": "BLI", "province_name": "Bali", "group_name": "Bali Group"}), vec![
                (json!({"province_code": null}), "province_code"),
                (json!({"province_code": "JKT"}), "province_code"),
                (json!({"province_code": "B L"}), "province_code"),
                (json!({"province_code": "ABCDEFGHIJK"}), "province_code"),
                (json!({"group_name": ""}), "group_name"),
                (json!({"province_name": too_long}), "province_name"),
                (json!({"email": "not-an-email"}), "email"),
                (json!({"status": "archived"}), "status"),
                (json!({"colour": "red"}), "colour"),
            ]),
            ("company-branches", json!({"group_id": group, "branch_code": "BLI001", "branch_name": "Denpasar", "city": "Denpasar"}), vec![
                (json!({"group_id": 999999}), "group_id"),
                (json!({"group_id": "abc"}), "group_id"),
                (json!({"branch_code": "JKT001"}), "branch_code"),
                (json!({"city": null}), "city"),
                (json!({"latitude": 91}), "latitude"),
                (json!({"longitude": -181}), "longitude"),
                (json!({"phone": too_long}), "phone"),
            ]),
            ("device-masters", json!({"device_id": "CAM_NEW_1", "device_name": "Door", "branch_id": b0}), vec![
                (json!({"device_id": "CAM_JKT001_001"}), "device_id"),
                (json!({"device_id": "bad id!"}), "device_id"),
                (json!({"device_type": "drone"}), "device_type"),
                (json!({"branch_id": 999999}), "branch_id"),
                (json!({"device_name": null}), "device_name"),
                (json!({"url": too_long.repeat(10)}), "url"),
            ]),
            ("users", json!({"name": "New", "email": "new@cctv.test", "password": "long-enough-1", "role": "viewer"}), vec![
                (json!({"email": "nope"}), "email"),
                (json!({"email": "viewer@cctv.test"}), "email"),
                (json!({"password": "short"}), "password"),
                (json!({"password": null}), "password"),
                (json!({"password_confirmation": "different-1"}), "password"),
                (json!({"role": "superuser"}), "role"),
                (json!({"role": "user"}), "role"),
                (json!({"branch_ids": [999999]}), "branch_ids"),
                (json!({"group_ids": "all"}), "group_ids"),
            ]),
            ("api-credentials", json!({"credential_name": "edge-1"}), vec![
                (json!({"credential_name": null}), "credential_name"),
                (json!({"expires_at": "2020-01-01"}), "expires_at"),
                (json!({"expires_at": "tomorrow"}), "expires_at"),
                (json!({"status": "revoked"}), "status"),
                (json!({"rate_limit": 0}), "rate_limit"),
                (json!({"branch_id": 999999}), "branch_id"),
                (json!({"device_id": "NOPE"}), "device_id"),
                (json!({"branch_id": b0, "device_id": app.device(1)}), "device_id"),
                (json!({"permissions": {"delete": true}}), "permissions"),
            ]),
            ("cctv-streams", json!({"branch_id": b0, "device_id": app.device(0), "stream_name": "Gate", "url": "rtsp://10.0.0.1/live"}), vec![
                (json!({"url": "ftp://x"}), "url"),
                (json!({"url": null}), "url"),
                (json!({"device_id": app.device(1)}), "device_id"),
                (json!({"stream_protocol": "smoke"}), "stream_protocol"),
                (json!({"fps": 0}), "fps"),
                (json!({"resolution": "big"}), "resolution"),
            ]),
            ("cctv-layouts", json!({"layout_name": "Main", "layout_type": "4-window", "positions": four}), vec![
                (json!({"layout_type": "5-window"}), "layout_type"),
                (json!({"positions": [{"position_number": 1}]}), "positions"),
                (json!({"positions": null}), "positions"),
                (json!({"layout_name": null}), "layout_name"),
                (json!({"positions": [{"position_number": 1}, {"position_number": 1}, {"position_number": 3}, {"position_number": 4}]}), "positions.1.position_number"),
                (json!({"positions": [{"position_number": 1, "quality": "ultra"}, {"position_number": 2}, {"position_number": 3}, {"position_number": 4}]}), "positions.0.quality"),
                (json!({"positions": [{"position_number": 1, "switch_interval": 1}, {"position_number": 2}, {"position_number": 3}, {"position_number": 4}]}), "positions.0.switch_interval"),
                (json!({"positions": [{"position_number": 1, "branch_id": b0, "device_id": app.device(1)}, {"position_number": 2}, {"position_number": 3}, {"position_number": 4}]}), "positions.0.device_id"),
            ]),
            ("branch-event-settings", json!({"branch_id": b1, "device_id": app.device(1)}), vec![
                (json!({"device_id": app.device(0)}), "device_id"),
                (json!({"whatsapp_numbers": ["abc"]}), "whatsapp_numbers"),
                (json!({"message_template": "Hello {unknown_thing}"}), "message_template"),
                (json!({"send_image": "maybe"}), "send_image"),
            ]),
            ("whatsapp-settings", json!({"name": "Ops", "phone_numbers": ["0812345678"], "message_template": "Seen {re_id} at {branch_name}"}), vec![
                (json!({"name": null}), "name"),
                (json!({"phone_numbers": []}), "phone_numbers"),
                (json!({"phone_numbers": ["12"]}), "phone_numbers"),
                (json!({"message_template": "{{ secret_var }}"}), "message_template"),
                (json!({"message_template": null}), "message_template"),
            ]),
        ];
        for (resource, valid, failures) in &cases {
            let before = total(&app, &p.admin, resource).await;
            for (change, field) in failures {
                let body = variant(valid, change.clone());
                let r = call(&app, "POST", &format!("/api/v1/{resource}"), Some(&p.admin), Some(body.clone())).await;
                assert_eq!(r.status, 422, "{backend:?} {resource} {body}: {:?}", r.body);
                assert_eq!(r.body["error"]["code"], "VALIDATION_ERROR");
                assert!(
                    r.body["error"]["details"][field].is_array(),
                    "{backend:?} {resource} {body}: {field} not named in {:?}",
                    r.body["error"]["details"]
                );
            }
            assert_eq!(total(&app, &p.admin, resource).await, before, "{resource}: nothing stored");
            let ok = call(&app, "POST", &format!("/api/v1/{resource}"), Some(&p.admin), Some(valid.clone())).await;
            assert_eq!(ok.status, 201, "{backend:?} {resource} valid body: {:?}", ok.body);
            let id = ok.body["data"]["id"].as_i64().unwrap();
            // Updates run the same rules on the fields they carry.
            let (update, field) = failures.iter().find(|(c, _)| !c.as_object().unwrap().values().any(Value::is_null)).unwrap();
            let stored = call(&app, "GET", &format!("/api/v1/{resource}/{id}"), Some(&p.admin), None).await;
            let r = call(&app, "PUT", &format!("/api/v1/{resource}/{id}"), Some(&p.admin), Some((*update).clone())).await;
            assert_eq!(r.status, 422, "{backend:?} {resource} update {update}: {:?} ({field})", r.body);
            let after = call(&app, "GET", &format!("/api/v1/{resource}/{id}"), Some(&p.admin), None).await;
            assert_eq!(after.body["data"], stored.body["data"], "{resource}: a refused update changed nothing");
        }
        let bad_json = send(&app.addr, "POST", "/api/v1/company-groups",
            &[("authorization", &format!("Bearer {}", p.admin)), ("content-type", "application/json")],
            b"{not json".to_vec()).await;
        assert_eq!(bad_json.status, 422);
        let per_page = call(&app, "GET", "/api/v1/company-groups?per_page=500", Some(&p.admin), None).await;
        assert_eq!(per_page.status, 422);
        assert!(per_page.body["error"]["details"]["per_page"].is_array());
        app.stop().await;
    }
}

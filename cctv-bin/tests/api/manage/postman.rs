//! The original's Postman requests for people (P1 login, P11 me, P10 users, P12 logout)
//! against the real `cctv serve` binary, with the first admin made by `cctv user create`.

use std::io::Write;
use std::process::Stdio;

use serde_json::{Value, json};

use crate::crash::{cctv, free_addr, start};
use crate::helpers::*;

async fn postman(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("accept", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a.as_str()));
    }
    let bytes = body.map(|b| {
        headers.push(("content-type", "application/json"));
        serde_json::to_vec(&b).unwrap()
    });
    send(addr, method, path, &headers, bytes.unwrap_or_default()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_original_postman_login_me_users_logout_requests_work_against_cctv_serve() {
    let dir = tempfile::tempdir().unwrap();
    let listen = free_addr();
    let mut create = cctv(dir.path(), &listen)
        .args([
            "user",
            "create",
            "--email",
            "admin@cctv.com",
            "--name",
            "Admin",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    create
        .stdin
        .take()
        .unwrap()
        .write_all(b"admin123\n")
        .unwrap();
    let out = create.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin@cctv.com"));

    let mut server = start(dir.path(), &listen).await;
    let p1 = postman(
        &listen,
        "POST",
        "/api/login",
        None,
        Some(json!({"email": "admin@cctv.com", "password": "admin123"})),
    )
    .await;
    assert_eq!(p1.status, 200, "{:?}", p1.body);
    assert_eq!(p1.body["success"], true);
    assert_eq!(p1.body["message"], "Login successful");
    assert_eq!(p1.body["data"]["user"]["email"], "admin@cctv.com");
    assert!(p1.body["data"]["user"].get("password_hash").is_none());
    let token = p1.body["data"]["token"].as_str().unwrap().to_owned();

    let p11 = postman(&listen, "GET", "/api/me", Some(&token), None).await;
    assert_eq!(p11.status, 200);
    assert_eq!(p11.body["data"]["role"], "admin");
    let p10 = postman(&listen, "GET", "/api/v1/users", Some(&token), None).await;
    assert_eq!(p10.status, 200, "{:?}", p10.body);
    assert_eq!(p10.body["pagination"]["total"], 1);
    assert_eq!(p10.body["data"][0]["email"], "admin@cctv.com");
    let p12 = postman(&listen, "POST", "/api/logout", Some(&token), None).await;
    assert_eq!(p12.status, 200);
    assert_eq!(p12.body["message"], "Logged out successfully");
    let after = postman(&listen, "GET", "/api/me", Some(&token), None).await;
    assert_eq!(after.status, 401);
    assert_eq!(after.body["error"]["code"], "UNAUTHORIZED");

    server.kill().unwrap();
    server.wait().unwrap();
}

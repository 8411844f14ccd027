//! The stylesheet, script and icon, compiled into the binary (no CDN).

use salvo::http::StatusCode;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use salvo::{Request, Response, handler};

const FILES: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("../../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../static/app.js"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_str!("../../static/favicon.svg"),
    ),
];

#[handler]
pub async fn serve(req: &mut Request, res: &mut Response) {
    let name = req.param::<String>("file").unwrap_or_default();
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, mime, body)) => {
            res.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(mime));
            res.headers_mut().insert(
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            let _ = res.write_body(*body);
        }
        None => {
            res.status_code(StatusCode::NOT_FOUND);
        }
    }
}

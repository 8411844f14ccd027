//! The route template of a request (`api/v1/person/{re_id}`), shared by the access log and
//! the metrics: each path segment that holds a route parameter's value is replaced by the
//! parameter's name. It is computed at most once per request and kept in the depot.

use std::sync::Arc;

use salvo::{Depot, Request};

/// The template, once computed for this request.
#[derive(Clone)]
struct RouteTemplate(Option<Arc<str>>);

/// The template without the leading `/`; `None` when only the catch-all route matched
/// (an unknown path, which must not become a label or a log key of its own).
pub(crate) fn template(req: &Request, depot: &mut Depot) -> Option<Arc<str>> {
    if let Ok(known) = depot.get_typed::<RouteTemplate>() {
        return known.0.clone();
    }
    let computed = compute(req);
    depot.insert_typed(RouteTemplate(computed.clone()));
    computed
}

fn compute(req: &Request) -> Option<Arc<str>> {
    let params = req.params();
    if params.greedy() {
        return None;
    }
    let path = req.uri().path().trim_start_matches('/');
    if params.is_empty() {
        return Some(path.into());
    }
    let segments: Vec<String> = path
        .split('/')
        .map(|seg| {
            let decoded = percent_decode(seg);
            params
                .iter()
                .find(|(_, v)| **v == decoded)
                .map_or_else(|| seg.to_owned(), |(k, _)| format!("{{{k}}}"))
        })
        .collect();
    Some(segments.join("/").into())
}

/// Percent-decoding of one path segment (what the router matched parameters against).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode_like_the_router() {
        assert_eq!(percent_decode("CAM%2001"), "CAM 01");
        assert_eq!(percent_decode("abc"), "abc");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%9C%93"), "✓");
    }
}

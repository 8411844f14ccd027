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
            let decoded = cctv_admin::stream_url::percent_decode(seg);
            params
                .iter()
                .find(|(_, v)| **v == decoded)
                .map_or_else(|| seg.to_owned(), |(k, _)| format!("{{{k}}}"))
        })
        .collect();
    Some(segments.join("/").into())
}

//! Rewriting an HLS playlist so the player fetches everything through the proxy.
//!
//! A playlist names its segments, keys, init sections and variant playlists by URI, on
//! lines of their own or in `URI="…"` attributes of tags. Each is resolved against the
//! playlist's own URL; one on the camera's origin becomes a proxy link (which the caller
//! signs, so the proxy only ever fetches what the camera's own playlists named — never a
//! path a viewer picked, such as the camera's settings pages). A URI on another origin
//! is left pointing there, without user info: the server adds no credentials to it.

use reqwest::Url;

/// The path and query of `url` on its origin: what a proxy link names.
pub(crate) fn target_of(url: &Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

/// `origin` with the path and query of `target` (which cannot change the host).
pub(crate) fn on_origin(origin: &Url, target: &str) -> Url {
    let mut url = origin.clone();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    url.set_path(path);
    url.set_query(query);
    url.set_fragment(None);
    url
}

fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Whether `body` is an HLS playlist (its first line is `#EXTM3U`).
pub(crate) fn is_playlist(body: &str) -> bool {
    body.trim_start_matches('\u{feff}')
        .trim_start()
        .starts_with("#EXTM3U")
}

/// The playlist with every URI rewritten; `link` turns a target on the camera's origin
/// into the proxy link. `None` when `body` is not a playlist.
pub(crate) fn rewrite(
    body: &str,
    base: &Url,
    camera: &Url,
    link: &dyn Fn(&str) -> String,
) -> Option<String> {
    if !is_playlist(body) {
        return None;
    }
    let map = |uri: &str| -> String {
        match base.join(uri.trim()) {
            Ok(url) if same_origin(&url, camera) => link(&target_of(&url)),
            Ok(mut url) => {
                let _ = url.set_username("");
                let _ = url.set_password(None);
                url.to_string()
            }
            // An unresolvable URI could not have played anyway.
            Err(_) => String::new(),
        }
    };
    let mut out = String::with_capacity(body.len() * 2);
    for line in body.lines() {
        let line = line.trim_end();
        if line.starts_with('#') {
            out.push_str(&rewrite_attributes(line, &map));
        } else if !line.trim().is_empty() {
            out.push_str(&map(line));
        }
        out.push('\n');
    }
    Some(out)
}

/// Rewrites the `URI="…"` attributes of one tag line.
fn rewrite_attributes(line: &str, map: &dyn Fn(&str) -> String) -> String {
    const KEY: &str = "URI=\"";
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(at) = rest.find(KEY) {
        let attribute_start = at == 0 || matches!(rest.as_bytes()[at - 1], b':' | b',');
        let value_start = at + KEY.len();
        let Some(len) = rest[value_start..].find('"') else {
            break;
        };
        out.push_str(&rest[..value_start]);
        let value = &rest[value_start..value_start + len];
        if attribute_start {
            out.push_str(&map(value));
        } else {
            out.push_str(value);
        }
        rest = &rest[value_start + len..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(target: &str) -> String {
        format!("/p?u={target}")
    }

    #[test]
    fn every_uri_on_the_camera_is_linked_through_the_proxy() {
        let camera = Url::parse("http://cam:8080/hls/live/index.m3u8").unwrap();
        let playlist = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"init.mp4\"\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"/keys/k1?t=1\",IV=0x1\n\
            #EXTINF:2.0,\nseg-1.ts\n#EXTINF:2.0,\n../other/seg-2.ts?x=1\n\
            #EXTINF:2.0,\nhttp://u:p@cdn.example/seg-3.ts\n";
        let out = rewrite(playlist, &camera, &camera, &link).unwrap();
        assert_eq!(
            out,
            "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-MAP:URI=\"/p?u=/hls/live/init.mp4\"\n\
            #EXT-X-KEY:METHOD=AES-128,URI=\"/p?u=/keys/k1?t=1\",IV=0x1\n\
            #EXTINF:2.0,\n/p?u=/hls/live/seg-1.ts\n#EXTINF:2.0,\n/p?u=/hls/other/seg-2.ts?x=1\n\
            #EXTINF:2.0,\nhttp://cdn.example/seg-3.ts\n"
        );
    }

    #[test]
    fn a_uri_on_another_port_of_the_camera_host_is_not_proxied() {
        let camera = Url::parse("http://cam/live.m3u8").unwrap();
        let out = rewrite("#EXTM3U\nhttp://cam:9000/admin\n", &camera, &camera, &link).unwrap();
        assert_eq!(out, "#EXTM3U\nhttp://cam:9000/admin\n");
    }

    #[test]
    fn anything_but_a_playlist_is_refused() {
        let camera = Url::parse("http://cam/live.m3u8").unwrap();
        assert!(rewrite("<html>login</html>", &camera, &camera, &link).is_none());
        assert!(is_playlist("\u{feff}#EXTM3U\n"));
    }

    #[test]
    fn a_target_cannot_move_the_request_to_another_host() {
        let camera = Url::parse("http://cam:8080/live.m3u8").unwrap();
        let url = on_origin(&camera, "//evil.example/x?y=1");
        assert_eq!(url.host_str(), Some("cam"));
        assert_eq!(url.port(), Some(8080));
        assert_eq!(target_of(&on_origin(&camera, "/a/b.ts?q=1")), "/a/b.ts?q=1");
    }
}

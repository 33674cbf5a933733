//! Content Security Policies of the pages the server sends: the dashboard app runs only its own
//! scripts (the inline loader by its hash), its WebAssembly, and talks only to this server.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};

/// The `'sha256-…'` sources of the inline scripts of `html` (scripts without `src`).
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(start) = rest.find("<script") {
        let after = &rest[start..];
        let Some(open_end) = after.find('>') else {
            break;
        };
        let tag = &after[..open_end];
        let body = &after[open_end + 1..];
        let Some(close) = body.find("</script>") else {
            break;
        };
        if !tag.contains("src=") {
            let digest = Sha256::digest(&body.as_bytes()[..close]);
            hashes.push(format!("'sha256-{}'", STANDARD.encode(digest)));
        }
        rest = &body[close..];
    }
    hashes
}

/// The WebSocket origins of the host the page was asked for, when it is a plain host name.
fn socket_sources(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        });
    host.map_or_else(String::new, |host| format!(" ws://{host} wss://{host}"))
}

/// The dashboard app's policy: its own files, WebAssembly, the inline loader by hash, and
/// requests to this server only (GraphQL over HTTP and its WebSocket).
pub fn app_policy(hashes: &[String], headers: &HeaderMap) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval' {}; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'{}; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'",
        hashes.join(" "),
        socket_sources(headers)
    )
}

/// GraphiQL's page: its bundled files from this server; it styles itself inline.
pub fn graphiql_policy(headers: &HeaderMap) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'{}; object-src 'none'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        socket_sources(headers)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inline_scripts_are_hashed_exactly() {
        let html = "<html><head><script src=\"/a.js\"></script>\
                    <script type=\"module\">init();</script></head>\
                    <body><script>\nx()\n</script></body></html>";
        let hashes = inline_script_hashes(html);
        let expect = |body: &str| format!("'sha256-{}'", STANDARD.encode(Sha256::digest(body)));
        assert_eq!(hashes, vec![expect("init();"), expect("\nx()\n")]);
        assert!(inline_script_hashes("<script>unclosed").is_empty());
    }

    #[test]
    fn a_forged_host_adds_no_source() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, "school.example:8080".parse().unwrap());
        assert!(
            app_policy(&[], &headers)
                .contains("connect-src 'self' ws://school.example:8080 wss://school.example:8080;")
        );
        headers.insert(header::HOST, "x; script-src *".parse().unwrap());
        assert!(app_policy(&[], &headers).contains("connect-src 'self';"));
    }
}

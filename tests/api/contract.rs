//! The checked-in `schema.graphql` is the API's contract: it must equal the server's SDL.

use std::path::Path;

#[test]
fn schema_graphql_matches_the_server() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema.graphql");
    let sdl = zoomtrack_server::graphql::sdl();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &sdl).expect("write schema.graphql");
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == sdl,
        "schema.graphql differs from the server's SDL; if the change is intended, run \
         `UPDATE_SCHEMA=1 cargo test -p zoomtrack-tests --test api contract` and commit the file"
    );
}

//! GraphQL documents against the real schema with its limits on (depth, complexity, root
//! fields, directives), without a credential and as an admin. The schema holds no database:
//! a document that passes every check reaches a resolver, which refuses it.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use zoomtrack_server::{domain::Caller, graphql};

static SCHEMA: LazyLock<graphql::AppSchema> = LazyLock::new(graphql::unbound);
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

fuzz_target!(|data: &[u8]| {
    let Some((&who, rest)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(rest) else {
        return;
    };
    let request = async_graphql::Request::new(query);
    let mut request = if who % 2 == 0 {
        request
    } else {
        request.data(Caller::Admin)
    };
    // As the server does: the document's shape first, then the execution.
    if graphql::check_document(&mut request).is_ok() {
        let _ = RUNTIME.block_on(SCHEMA.execute(request));
    }
});

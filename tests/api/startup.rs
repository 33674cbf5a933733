//! Start-up: the first admin credential, and configuration that refuses bad values.

use serde_json::json;
use zoomtrack_tests::{TestApp, TestDb, db_test};

db_test!(the_first_start_creates_an_admin_credential_once);
async fn the_first_start_creates_an_admin_credential_once(db: TestDb) {
    let first = TestApp::spawn_with(&db, &[]).await;
    let token = first
        .generated_admin_token
        .clone()
        .expect("a token at first start");
    let me = first
        .graphql_as(Some(&token), "{ me { role } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    first.stop().await;

    let second = TestApp::spawn_with(&db, &[]).await;
    assert_eq!(second.generated_admin_token, None, "shown once only");
    let me = second
        .graphql_as(Some(&token), "{ me { role } }", json!({}))
        .await;
    assert_eq!(
        me["data"]["me"]["role"], "ADMIN",
        "the stored credential still works"
    );
    second.stop().await;
}

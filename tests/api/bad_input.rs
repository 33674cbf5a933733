//! Bad input gets a clear JSON error and changes nothing stored.

use serde_json::{Value, json};
use zoomtrack_tests::{TestApp, TestDb, db_test};

db_test!(bad_tracking_requests_are_refused_and_change_nothing);
async fn bad_tracking_requests_are_refused_and_change_nothing(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let link = app.issue_link().await;
    app.track(&link.token).await;
    let before = app.link(&link.id).await;
    let unknown = "A".repeat(32);

    for path in ["/api/zoom/heartbeat", "/api/zoom/end-session"] {
        let (status, body) = app.post_json(path, json!({ "token": unknown })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}"
        );
        assert_eq!(body["success"], false);
        for malformed in [
            json!({ "token": "short" }),
            json!({ "token": 42 }),
            json!({}),
            json!([1]),
        ] {
            let (status, body) = app.post_json(path, malformed.clone()).await;
            assert_eq!(status, 400, "{path} {malformed}");
            assert_eq!(body["success"], false);
        }
        let huge = format!(
            "{{\"token\":\"{}\",\"pad\":\"{}\"}}",
            link.token,
            "x".repeat(1 << 20)
        );
        let form = format!("token={}", link.token);
        for (content_type, raw, status, code) in [
            ("application/json", "{\"token\": ", 400, "BAD_REQUEST"),
            ("application/json", "not json", 400, "BAD_REQUEST"),
            ("text/plain", "", 400, "BAD_REQUEST"),
            ("application/json", huge.as_str(), 413, "PAYLOAD_TOO_LARGE"),
            (
                "application/x-www-form-urlencoded",
                form.as_str(),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
        ] {
            let (got, body) = app.post_raw(path, content_type, raw.to_owned()).await;
            assert_eq!(
                (got, body["error"]["code"].as_str()),
                (status, Some(code)),
                "{path} {content_type}"
            );
        }
    }

    // The tracking page: JSON for API clients, a readable page for browsers.
    let response = app
        .client
        .get(app.url("/api/zoom/track"))
        .query(&[("token", &unknown)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "NOT_FOUND"
    );
    let response = app.track(&unknown).await;
    assert_eq!(response.status(), 404);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This lesson link does not work")
    );
    for query in ["", "?token=", "?token=%3Cscript%3E", "?other=1"] {
        let (status, body) = app.get_json(&format!("/api/zoom/track{query}")).await;
        assert_eq!(
            (status, &body["success"]),
            (400, &Value::Bool(false)),
            "{query}"
        );
    }
    let (status, body) = app.get_json("/api/zoom/heartbeat").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (405, Some("METHOD_NOT_ALLOWED"))
    );
    let (status, body) = app.get_json("/api/nothing-here").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    assert_eq!(app.link(&link.id).await, before, "stored data changed");
    app.stop().await;
}

db_test!(bad_graphql_input_is_refused_and_changes_nothing);
async fn bad_graphql_input_is_refused_and_changes_nothing(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let teacher = app.create_teacher("Anna").await;
    let student = app.create_student("Bob").await;
    let issue = "mutation($t: ID!, $s: ID!, $u: String!) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: $u}) { id } }";
    let good_url = "https://zoom.us/j/1234567890";
    let cases = [
        (
            json!({ "t": teacher, "s": student, "u": "http://zoom.us/j/1234567890" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": teacher, "s": student, "u": "https://zoom.us.evil.example/j/1" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": teacher, "s": student, "u": "javascript:alert(1)" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": teacher, "s": student, "u": "" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": "x", "s": student, "u": good_url }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": "-1", "s": student, "u": good_url }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "t": "999999", "s": student, "u": good_url }),
            "NOT_FOUND",
        ),
        (
            json!({ "t": teacher, "s": "999999", "u": good_url }),
            "NOT_FOUND",
        ),
    ];
    for (vars, expected) in cases {
        let response = app
            .graphql_as(Some(zoomtrack_tests::ADMIN_TOKEN), issue, vars.clone())
            .await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], expected,
            "{vars}: {response}"
        );
    }
    let person = "mutation($n: String!, $c: String!) { createStudent(input: {name: $n, telegramChatId: $c}) { id } }";
    for vars in [
        json!({ "n": "", "c": "1" }),
        json!({ "n": "Bob", "c": "not a chat" }),
    ] {
        let response = app
            .graphql_as(Some(zoomtrack_tests::ADMIN_TOKEN), person, vars.clone())
            .await;
        assert_eq!(
            response["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{vars}"
        );
    }
    use sea_orm::{EntityTrait, PaginatorTrait};
    assert_eq!(
        entity::zoom_link::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        entity::student::Entity::find()
            .count(&app.db)
            .await
            .unwrap(),
        1
    );

    for raw in ["", "{", "[]", "{\"variables\": {}}"] {
        let response = app
            .client
            .post(app.url("/graphql"))
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{raw:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST");
    }
    let huge = json!({ "query": format!("{{ me {{ role }} }} #{}", "x".repeat(1 << 20)) });
    let response = app
        .client
        .post(app.url("/graphql"))
        .json(&huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    app.stop().await;
}

/// A valid document `depth` fields deep: the introspection schema nests `ofType` at will.
fn nested(depth: usize) -> String {
    format!(
        "{{ __schema {{ types {{ {}name{} }} }} }}",
        "ofType { ".repeat(depth - 3),
        " }".repeat(depth - 3)
    )
}

/// `me { role }` and `n` aliases of `queryType { name }` inside `__schema`: two root fields,
/// costing `2n + 3` against the complexity limit.
fn aliases(n: usize) -> String {
    let fields: String = (0..n)
        .map(|i| format!("a{i}: queryType {{ name }} "))
        .collect();
    format!("{{ me {{ role }} __schema {{ {fields}}} }}")
}

db_test!(the_depth_and_complexity_limits_hold_exactly);
async fn the_depth_and_complexity_limits_hold_exactly(db: TestDb) {
    use zoomtrack_server::graphql::{MAX_COMPLEXITY, MAX_DEPTH};
    let app = TestApp::spawn(&db, &[]).await;
    let ask = |query: String| {
        let app = &app;
        async move {
            app.graphql_as(Some(zoomtrack_tests::ADMIN_TOKEN), &query, json!({}))
                .await
        }
    };
    let at_limit = ask(nested(MAX_DEPTH)).await;
    assert!(at_limit.get("errors").is_none(), "{at_limit}");
    let deeper = ask(nested(MAX_DEPTH + 1)).await;
    assert_eq!(
        deeper["errors"][0]["message"], "Query is nested too deep.",
        "{deeper}"
    );
    assert_eq!(deeper["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    assert!(deeper.get("data").is_none_or(Value::is_null), "{deeper}");

    let at_limit = ask(aliases(MAX_COMPLEXITY / 2 - 2)).await;
    assert!(at_limit.get("errors").is_none(), "{}", at_limit["errors"]);
    assert_eq!(at_limit["data"]["me"]["role"], "ADMIN");
    assert_eq!(at_limit["data"]["__schema"]["a0"]["name"], "Query");
    let costlier = ask(aliases(MAX_COMPLEXITY / 2 - 1)).await;
    assert_eq!(
        costlier["errors"][0]["message"], "Query is too complex.",
        "{}",
        costlier["errors"]
    );
    assert!(costlier.get("data").is_none_or(Value::is_null));
    app.stop().await;
}

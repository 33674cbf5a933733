//! Every admin and teacher operation needs a credential with that role.

use serde_json::{Value, json};
use zoomtrack_tests::{ADMIN_TOKEN, TestApp, TestDb, db_test};

fn code(response: &Value) -> &str {
    response["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<none>")
}

const CREATE_TEACHER: &str =
    "mutation { createTeacher(input: {name: \"Eve\", telegramChatId: \"1\"}) { id } }";

db_test!(admin_operations_need_an_admin);
async fn admin_operations_need_an_admin(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let teacher = app.create_teacher("Anna").await;
    let key = app.teacher_key(&teacher).await;

    // No credential.
    assert_eq!(
        code(&app.graphql_as(None, CREATE_TEACHER, json!({})).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        code(&app.graphql_as(None, "{ me { role } }", json!({})).await),
        "UNAUTHENTICATED"
    );

    // A credential nobody issued: refused before anything runs.
    let response = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth("ztk_not-a-real-token-at-all")
        .json(&json!({ "query": "{ me { role } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(code(&response.json().await.unwrap()), "UNAUTHENTICATED");

    // A teacher credential on admin operations.
    for op in [
        CREATE_TEACHER,
        "mutation { createStudent(input: {name: \"Eve\", telegramChatId: \"1\"}) { id } }",
        "mutation { createApiKey(input: {role: ADMIN}) { token } }",
        "mutation { runAutoTimeout }",
    ] {
        assert_eq!(
            code(&app.graphql_as(Some(&key), op, json!({})).await),
            "FORBIDDEN",
            "{op}"
        );
    }
    let rest = app
        .client
        .post(app.url("/api/admin/auto-timeout"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 403);
    assert_eq!(
        rest.json::<Value>().await.unwrap()["error"]["code"],
        "FORBIDDEN"
    );
    let rest = app
        .client
        .post(app.url("/api/admin/auto-timeout"))
        .send()
        .await
        .unwrap();
    assert_eq!(rest.status(), 401);

    let me = app
        .graphql_as(Some(&key), "{ me { role teacherId } }", json!({}))
        .await;
    assert_eq!(
        me["data"]["me"],
        json!({ "role": "TEACHER", "teacherId": teacher })
    );
    let me = app
        .graphql_as(Some(ADMIN_TOKEN), "{ me { role } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    app.stop().await;
}

db_test!(a_teacher_issues_and_reads_only_their_own_links);
async fn a_teacher_issues_and_reads_only_their_own_links(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let anna = app.create_teacher("Anna").await;
    let boris = app.create_teacher("Boris").await;
    let student = app.create_student("Carl").await;
    let anna_key = app.teacher_key(&anna).await;

    // An admin issues Anna's first link for Carl; then Carl is her student.
    app.issue_link_for(Some(ADMIN_TOKEN), &anna, &student)
        .await
        .expect("the first link");
    let own = app
        .issue_link_for(Some(&anna_key), &anna, &student)
        .await
        .expect("own link");
    let refused = app
        .issue_link_for(Some(&anna_key), &boris, &student)
        .await
        .err()
        .unwrap();
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN");
    let refused = app
        .issue_link_for(None, &anna, &student)
        .await
        .err()
        .unwrap();
    assert_eq!(refused["extensions"]["code"], "UNAUTHENTICATED");

    let boris_link = app
        .issue_link_for(Some(ADMIN_TOKEN), &boris, &student)
        .await
        .expect("admin issues for anyone");
    let read = "query($id: ID!) { session(id: $id) { id teacher { name } student { name } } }";
    let mine = app
        .graphql_as(Some(&anna_key), read, json!({ "id": own.id }))
        .await;
    assert_eq!(mine["data"]["session"]["teacher"]["name"], "Anna");
    assert_eq!(mine["data"]["session"]["student"]["name"], "Carl");
    let theirs = app
        .graphql_as(Some(&anna_key), read, json!({ "id": boris_link.id }))
        .await;
    assert_eq!(code(&theirs), "NOT_FOUND");
    app.stop().await;
}

db_test!(credentials_are_checked_on_creation);
async fn credentials_are_checked_on_creation(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let teacher = app.create_teacher("Anna").await;
    let create = "mutation($r: ApiRole!, $t: ID) { createApiKey(input: {role: $r, teacherId: $t}) { token } }";
    let cases = [
        (json!({ "r": "TEACHER" }), "BAD_USER_INPUT"),
        (json!({ "r": "ADMIN", "t": teacher }), "BAD_USER_INPUT"),
        (json!({ "r": "TEACHER", "t": "999999" }), "NOT_FOUND"),
        (json!({ "r": "TEACHER", "t": "abc" }), "BAD_USER_INPUT"),
    ];
    for (vars, expected) in cases {
        let response = app
            .graphql_as(Some(ADMIN_TOKEN), create, vars.clone())
            .await;
        assert_eq!(code(&response), expected, "{vars}");
    }
    // A new admin credential works as the configured one does.
    let data = app.admin(create, json!({ "r": "ADMIN" })).await;
    let token = data["createApiKey"]["token"].as_str().unwrap();
    let me = app
        .graphql_as(Some(token), "{ me { role } }", json!({}))
        .await;
    assert_eq!(me["data"]["me"]["role"], "ADMIN");
    app.stop().await;
}

db_test!(a_teacher_issues_and_reads_only_what_is_its_own);
async fn a_teacher_issues_and_reads_only_what_is_its_own(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let anna = app.create_teacher("Anna").await;
    let own = app.create_student("Carl").await;
    let stranger = app.create_student("Dora").await;
    let key = app.teacher_key(&anna).await;

    // A student the teacher has no link with: refused, until an admin issues the first one.
    let refused = app
        .issue_link_for(Some(&key), &anna, &own)
        .await
        .expect_err("not yet its student");
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN");
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("an admin issues"),
        "{refused}"
    );
    let first = app
        .issue_link_for(Some(ADMIN_TOKEN), &anna, &own)
        .await
        .expect("the admin issues the first");
    // Then the teacher may, and gets the tracking URL in that answer, once.
    let issued = app
        .issue_link_for(Some(&key), &anna, &own)
        .await
        .expect("now its student");
    assert!(issued.tracking_url.contains(&issued.token));
    let refused = app
        .issue_link_for(Some(&key), &anna, &stranger)
        .await
        .expect_err("another student");
    assert_eq!(refused["extensions"]["code"], "FORBIDDEN");

    // Later reads: no tracking URL for the teacher, and no student's chat id.
    let query = "{ sessions(filter: {status: [ACTIVE, ENDED, TIMEOUT]}) { nodes { id } } \
                 students { id name telegramChatId } }";
    app.track(&first.token).await;
    app.track(&issued.token).await;
    let listed = app.graphql_as(Some(&key), query, json!({})).await;
    assert!(listed.get("errors").is_none(), "{listed}");
    let students = listed["data"]["students"].as_array().unwrap();
    assert_eq!(students.len(), 1, "only its own: {students:?}");
    assert!(students[0]["telegramChatId"].is_null(), "{students:?}");
    let read = "query($f: SessionFilter) { sessions(filter: $f) { nodes { id trackingUrl \
                student { telegramChatId } } } }";
    let as_teacher = app
        .graphql_as(Some(&key), read, json!({ "f": { "status": ["ACTIVE"] } }))
        .await;
    let nodes = as_teacher["data"]["sessions"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{as_teacher}");
    for node in nodes {
        assert!(node["trackingUrl"].is_null(), "{node}");
        assert!(node["student"]["telegramChatId"].is_null(), "{node}");
    }
    let as_admin = app
        .admin(read, json!({ "f": { "status": ["ACTIVE"] } }))
        .await;
    for node in as_admin["sessions"]["nodes"].as_array().unwrap() {
        assert!(node["trackingUrl"].is_string(), "{node}");
        assert!(node["student"]["telegramChatId"].is_string(), "{node}");
    }
    app.stop().await;
}

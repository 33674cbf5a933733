//! What a school does with the numbers: planned lessons and their attendance states, links never
//! opened, corrections that no later signal overwrites, and payroll against a brute-force sum.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::zoom_link::{self, SessionStatus};
use proptest::{prelude::*, test_runner::TestRunner};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde_json::{Value, json};
use zoomtrack_server::domain::{TrackingToken, attendance, range::DayRange, time};
use zoomtrack_tests::{
    ADMIN_TOKEN, Link, Seed, TestApp, TestDb, db_test, shared_db_test,
    zoom::{SECRET, deliver, participant_event},
};

/// A meeting of its own, so that Zoom's events match one link only.
const OTHER_MEETING: &str = "85099999999";

/// Zoom's `event` of Bob Student in the meeting of its own, at `at`.
fn zoom(event: &str, at: DateTime<Utc>) -> Value {
    participant_event(event, json!(OTHER_MEETING), ("zoom-p1", "Bob Student"), at)
}

/// Issues a link with a plan; `meeting` picks the Zoom meeting.
async fn planned(
    app: &TestApp,
    (teacher, student): (&str, &str),
    start: DateTime<Utc>,
    minutes: i32,
    meeting: &str,
) -> Link {
    let data = app
        .admin(
            "mutation($t: ID!, $s: ID!, $u: String!, $start: DateTime, $m: Int) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: $u, plannedStart: $start, plannedMinutes: $m}) { id trackingUrl plannedStart plannedMinutes attendance } }",
            json!({
                "t": teacher, "s": student, "u": format!("https://us02web.zoom.us/j/{meeting}"),
                "start": start.to_rfc3339(), "m": minutes,
            }),
        )
        .await;
    let link = &data["issueZoomLink"];
    assert_eq!(zoomtrack_tests::at(&link["plannedStart"]), start);
    assert_eq!(link["plannedMinutes"], minutes);
    let url = link["trackingUrl"].as_str().unwrap();
    let token = url.split("token=").nth(1).unwrap().to_owned();
    Link {
        id: link["id"].as_str().unwrap().to_owned(),
        token,
        tracking_url: url.to_owned(),
    }
}

fn token(link: &Link) -> TrackingToken {
    TrackingToken::parse(&link.token).unwrap()
}

async fn click(app: &TestApp, link: &Link, at: DateTime<Utc>) {
    app.tracker.click(&token(link), at).await.unwrap();
}

async fn end(app: &TestApp, link: &Link, at: DateTime<Utc>) {
    app.tracker.end(&token(link), None, at).await.unwrap();
}

async fn ids(app: &TestApp, field: &str, filter: Value) -> BTreeSet<String> {
    let data = app
        .admin(
            &format!("query($f: SessionFilter) {{ {field}(filter: $f, first: 100) {{ nodes {{ id }} }} }}"),
            json!({ "f": filter }),
        )
        .await;
    data[field]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_owned())
        .collect()
}

fn set(links: &[&Link]) -> BTreeSet<String> {
    links.iter().map(|l| l.id.clone()).collect()
}

async fn session(app: &TestApp, link: &Link) -> Value {
    app.admin(
        "query($id: ID!) { session(id: $id) { status attendance clickedAt endedAt durationSeconds endReason zoomJoinedAt correctedAt correction { reason by endedAt durationSeconds measuredStatus measuredEndedAt measuredDurationSeconds measuredEndReason } } }",
        json!({ "id": link.id }),
    )
    .await["session"]
        .clone()
}

fn whole_seconds(at: DateTime<Utc>) -> DateTime<Utc> {
    time::truncate(at)
}

/// A GET with the admin credential: the answer's body.
async fn admin_get(app: &TestApp, path: &str, query: &[(&str, &str)]) -> String {
    app.client
        .get(app.url(path))
        .query(query)
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A CSV export's rows, each its cells by column name (the tests' cells hold no commas).
fn csv_rows(csv: &str) -> Vec<BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .zip(line.split(','))
                .map(|(name, cell)| (name.to_string(), cell.to_string()))
                .collect()
        })
        .collect()
}

db_test!(each_attendance_state_follows_its_timeline);
async fn each_attendance_state_follows_its_timeline(db: TestDb) {
    let app = TestApp::spawn(&db, &["--zoom-webhook-secret", SECRET]).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let student = app.create_student("Bob Student").await;
    let who = (teacher.as_str(), student.as_str());
    let now = whole_seconds(Utc::now());
    // The lessons start in an hour; the tracking is driven at the times of the script.
    let t0 = now + Duration::hours(1);
    let minutes = |m: i64| t0 + Duration::minutes(m);
    let meeting = "85012345678";

    let on_time = planned(&app, who, t0, 60, meeting).await;
    click(&app, &on_time, minutes(5)).await;
    end(&app, &on_time, minutes(59)).await;

    let late = planned(&app, who, t0, 60, meeting).await;
    click(&app, &late, minutes(5) + Duration::seconds(1)).await;
    end(&app, &late, minutes(66)).await;

    let short = planned(&app, who, t0, 60, meeting).await;
    click(&app, &short, minutes(0)).await;
    end(&app, &short, minutes(53) + Duration::seconds(59)).await;

    let running_late = planned(&app, who, t0, 60, meeting).await;
    click(&app, &running_late, minutes(10)).await;

    // Clicked on time, but Zoom says the student joined at 10:07: Zoom decides.
    let by_zoom = planned(&app, who, t0, 60, OTHER_MEETING).await;
    click(&app, &by_zoom, minutes(-2)).await;
    deliver(&app, &zoom("meeting.participant_joined", minutes(7))).await;
    deliver(&app, &zoom("meeting.participant_left", minutes(67))).await;

    let pending = planned(&app, who, now + Duration::hours(2), 30, meeting).await;
    let no_show = planned(&app, who, now - Duration::hours(3), 60, meeting).await;
    let unplanned = app
        .issue_link_for(Some(ADMIN_TOKEN), &teacher, &student)
        .await
        .unwrap();
    click(&app, &unplanned, now).await;

    for (link, state) in [
        (&on_time, json!("ON_TIME")),
        (&late, json!("LATE")),
        (&short, json!("SHORT")),
        (&running_late, json!("LATE")),
        (&by_zoom, json!("LATE")),
        (&pending, json!("PENDING")),
        (&no_show, json!("NO_SHOW")),
        (&unplanned, Value::Null),
    ] {
        assert_eq!(session(&app, link).await["attendance"], state, "{link:?}");
    }
    assert_eq!(session(&app, &by_zoom).await["durationSeconds"], 3600);

    // Filters: sessions by state, links including those never opened.
    let late_ones = set(&[&late, &running_late, &by_zoom]);
    assert_eq!(
        ids(&app, "sessions", json!({ "attendance": ["LATE"] })).await,
        late_ones
    );
    assert_eq!(
        ids(
            &app,
            "sessions",
            json!({ "attendance": ["ON_TIME", "SHORT"] })
        )
        .await,
        set(&[&on_time, &short])
    );
    assert_eq!(
        ids(&app, "links", json!({ "attendance": ["NO_SHOW"] })).await,
        set(&[&no_show])
    );
    assert_eq!(
        ids(&app, "links", json!({ "attendance": ["PENDING"] })).await,
        set(&[&pending])
    );
    assert_eq!(
        ids(&app, "links", json!({ "status": ["PENDING"] })).await,
        set(&[&pending, &no_show])
    );
    assert_eq!(
        ids(
            &app,
            "links",
            json!({ "status": ["ACTIVE"], "attendance": ["LATE"] })
        )
        .await,
        set(&[&running_late])
    );
    let refused = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "{ sessions(filter: {attendance: [NO_SHOW]}) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
        "{refused}"
    );

    // Statistics count the planned lessons by state.
    let stats = app
        .admin(
            "{ sessionStats { attendance { planned pending onTime late short noShow } } teacherStats { teacher { id } attendance { late noShow } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        stats["sessionStats"]["attendance"],
        json!({ "planned": 7, "pending": 1, "onTime": 1, "late": 3, "short": 1, "noShow": 1 })
    );
    assert_eq!(
        stats["teacherStats"][0]["attendance"],
        json!({ "late": 3, "noShow": 1 })
    );

    // The REST list and the CSV carry the state and take it as a filter.
    let answer: Value = serde_json::from_str(
        &admin_get(
            &app,
            "/api/admin/teacher-sessions",
            &[("attendance", "late")],
        )
        .await,
    )
    .unwrap();
    let rows = answer["sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{answer}");
    assert!(
        rows.iter()
            .all(|r| r["attendance"] == "late" && r["plannedMinutes"] == 60)
    );
    let csv = admin_get(&app, "/api/admin/sessions.csv", &[("attendance", "short")]).await;
    let rows = csv_rows(&csv);
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(rows[0]["session_id"], short.id);
    assert_eq!(rows[0]["attendance"], "short");
    assert_eq!(rows[0]["planned_minutes"], "60");
    let (status, answer) = app
        .get_json("/api/admin/teacher-sessions?attendance=no_show")
        .await;
    assert_eq!(status, 401, "{answer}");
    let refused: Value = serde_json::from_str(
        &admin_get(
            &app,
            "/api/admin/teacher-sessions",
            &[("attendance", "no_show")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(refused["error"]["code"], "BAD_USER_INPUT", "{refused}");
    app.stop().await;
}

db_test!(a_plan_is_checked_before_anything_is_stored);
async fn a_plan_is_checked_before_anything_is_stored(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let student = app.create_student("Bob Student").await;
    let now = Utc::now();
    for (start, minutes, says) in [
        (Some(now), None, "go together"),
        (None, Some(30), "go together"),
        (Some(now), Some(0), "between 1 and 720"),
        (Some(now), Some(721), "between 1 and 720"),
        (Some(now - Duration::days(2)), Some(30), "a day ago"),
        (Some(now + Duration::days(400)), Some(30), "a year from now"),
    ] {
        let answer = app
            .graphql_as(
                Some(ADMIN_TOKEN),
                "mutation($t: ID!, $s: ID!, $start: DateTime, $m: Int) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: \"https://zoom.us/j/123456789\", plannedStart: $start, plannedMinutes: $m}) { id } }",
                json!({ "t": teacher, "s": student, "start": start.map(|s| s.to_rfc3339()), "m": minutes }),
            )
            .await;
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    let stored = zoom_link::Entity::find().all(&app.db).await.unwrap();
    assert!(stored.is_empty(), "{stored:?}");
    app.stop().await;
}

db_test!(a_correction_survives_every_later_signal);
async fn a_correction_survives_every_later_signal(db: TestDb) {
    let app = TestApp::spawn(&db, &["--zoom-webhook-secret", SECRET]).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let student = app.create_student("Bob Student").await;
    let now = whole_seconds(Utc::now());
    let start = now - Duration::hours(1);
    let plan = planned(
        &app,
        (teacher.as_str(), student.as_str()),
        start,
        60,
        OTHER_MEETING,
    )
    .await;
    click(&app, &plan, start).await;
    deliver(&app, &zoom("meeting.participant_joined", start)).await;
    let before = session(&app, &plan).await;
    assert_eq!(before["status"], "ACTIVE");

    let correct = |ended_at: DateTime<Utc>, reason: &str| {
        let (app, id, reason) = (&app, plan.id.clone(), reason.to_owned());
        async move {
            app.graphql_as(
                Some(ADMIN_TOKEN),
                "mutation($id: ID!, $at: DateTime!, $r: String!) { correctSession(id: $id, endedAt: $at, reason: $r) { id status endedAt durationSeconds durationMinutes attendance correctedAt } }",
                json!({ "id": id, "at": ended_at.to_rfc3339(), "r": reason }),
            )
            .await
        }
    };
    // Bad corrections are refused and change nothing.
    for (ended_at, reason, says) in [
        (now - Duration::minutes(30), "  ", "needs a reason"),
        (now + Duration::minutes(5), "ran late", "in the future"),
        (
            start - Duration::minutes(1),
            "ran late",
            "before the session started",
        ),
        (now, &"x".repeat(501), "at most 500"),
    ] {
        let answer = correct(ended_at, reason).await;
        let error = &answer["errors"][0];
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{answer}");
        assert!(
            error["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }
    assert_eq!(session(&app, &plan).await, before);

    // The lesson ended after 45 minutes: the page and Zoom never said so.
    let answer = correct(start + Duration::minutes(45), "Zoom crashed; ended at :45").await;
    let corrected = &answer["data"]["correctSession"];
    assert_eq!(corrected["status"], "ENDED", "{answer}");
    assert_eq!(corrected["durationSeconds"], 45 * 60);
    assert_eq!(corrected["durationMinutes"], 45);
    assert_eq!(corrected["attendance"], "SHORT");

    // Zoom's leave, a click, an end-session, a heartbeat and the sweep change nothing.
    let expected = session(&app, &plan).await;
    deliver(&app, &zoom("meeting.participant_left", now)).await;
    app.track(&plan.token).await;
    let (status, _) = app.heartbeat(&plan.token).await;
    assert_eq!(status, 409);
    let (status, ended) = app.end_session(&plan.token).await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["durationSeconds"], 45 * 60, "{ended}");
    app.tracker.sweep(now + Duration::days(3)).await.unwrap();
    assert_eq!(session(&app, &plan).await, expected);
    let correction = &expected["correction"];
    assert_eq!(correction["reason"], "Zoom crashed; ended at :45");
    assert_eq!(correction["by"], "admin token");
    assert_eq!(correction["measuredStatus"], "ACTIVE");
    assert_eq!(correction["measuredEndedAt"], Value::Null);

    // Corrected again: the measured values stay those before the first correction, and every
    // correction is listed, newest first.
    let answer = correct(start + Duration::minutes(58), "the teacher's log says :58").await;
    assert_eq!(
        answer["data"]["correctSession"]["attendance"], "ON_TIME",
        "{answer}"
    );
    let again = session(&app, &plan).await;
    assert_eq!(again["correction"]["measuredStatus"], "ACTIVE");
    assert_eq!(again["durationSeconds"], 58 * 60);
    let listed = app
        .admin(
            "{ corrections(first: 10) { nodes { reason durationSeconds session { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        listed["corrections"]["nodes"],
        json!([
            { "reason": "the teacher's log says :58", "durationSeconds": 58 * 60, "session": { "id": plan.id } },
            { "reason": "Zoom crashed; ended at :45", "durationSeconds": 45 * 60, "session": { "id": plan.id } },
        ])
    );

    // The timeline holds what happened, oldest first; the session never had a measured end.
    let timeline = app
        .admin(
            "query($id: ID!) { session(id: $id) { timeline { at mark detail } } }",
            json!({ "id": plan.id }),
        )
        .await["session"]["timeline"]
        .as_array()
        .unwrap()
        .clone();
    let marks: BTreeSet<&str> = timeline
        .iter()
        .map(|e| e["mark"].as_str().unwrap())
        .collect();
    assert_eq!(
        marks,
        BTreeSet::from(["ISSUED", "OPENED", "JOINED_ZOOM", "LEFT_ZOOM", "CORRECTED"]),
        "{timeline:?}"
    );
    let times: Vec<DateTime<Utc>> = timeline
        .iter()
        .map(|e| zoomtrack_tests::at(&e["at"]))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{timeline:?}");
    let corrected: Vec<&str> = timeline
        .iter()
        .filter(|e| e["mark"] == "CORRECTED")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert_eq!(corrected.len(), 2);
    assert!(
        corrected[1].ends_with("by admin token: the teacher's log says :58"),
        "{corrected:?}"
    );
    assert_eq!(timeline[0]["mark"], "OPENED");

    // The CSV shows the correction beside the corrected values.
    let csv = admin_get(&app, "/api/admin/sessions.csv", &[]).await;
    let row = &csv_rows(&csv)[0];
    assert_eq!(row["duration_seconds"], (58 * 60).to_string());
    assert_eq!(row["correction_reason"], "the teacher's log says :58");
    assert_eq!(row["corrected_by"], "admin token");
    assert!(!row["corrected_at"].is_empty());
    assert_eq!(row["measured_duration_seconds"], "");
    app.stop().await;
}

db_test!(links_never_opened_are_listed_page_by_page);
async fn links_never_opened_are_listed_page_by_page(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let anna = app.create_teacher("Anna Teacher").await;
    let boris = app.create_teacher("Boris Teacher").await;
    let student = app.create_student("Bob Student").await;
    let mut unopened = Vec::new();
    for i in 0..7 {
        let teacher = if i % 2 == 0 { &anna } else { &boris };
        let link = app
            .issue_link_for(Some(ADMIN_TOKEN), teacher, &student)
            .await
            .unwrap();
        if i % 3 == 0 {
            app.track(&link.token).await;
        } else {
            unopened.push(link);
        }
    }
    // Newest first, three a page, every one once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let data = app
            .admin(
                "query($after: String) { links(filter: {status: [PENDING]}, first: 3, after: $after) { pageInfo { hasNextPage endCursor } nodes { id status } } }",
                json!({ "after": after }),
            )
            .await;
        let page = &data["links"];
        for node in page["nodes"].as_array().unwrap() {
            assert_eq!(node["status"], "PENDING");
            seen.push(node["id"].as_str().unwrap().to_owned());
        }
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    let mut expected: Vec<String> = unopened.iter().map(|l| l.id.clone()).collect();
    expected.sort_by_key(|id| std::cmp::Reverse(id.parse::<i64>().unwrap()));
    assert_eq!(seen, expected);

    // A teacher lists its own; another teacher's are refused.
    let key = app.teacher_key(&anna).await;
    let own = app
        .graphql_as(
            Some(&key),
            "{ links(filter: {status: [PENDING]}) { nodes { id teacher { id } } } }",
            json!({}),
        )
        .await;
    let nodes = own["data"]["links"]["nodes"].as_array().unwrap();
    assert!(!nodes.is_empty() && nodes.iter().all(|n| n["teacher"]["id"] == anna.as_str()));
    let refused = app
        .graphql_as(
            Some(&key),
            "query($b: ID) { links(filter: {teacherId: $b}) { nodes { id } } }",
            json!({ "b": boris }),
        )
        .await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN");
    let bad = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            "{ links(after: \"bm90IGEgY3Vyc29y\") { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    app.stop().await;
}

/// A random lesson: teacher, day offset in minutes, status, duration, plan (start offset from
/// the lesson's click, minutes), corrected.
type Lesson = (
    usize,
    i64,
    Option<SessionStatus>,
    i64,
    Option<(i64, i32)>,
    bool,
);

fn lesson_strategy(teachers: usize) -> impl Strategy<Value = Vec<Lesson>> {
    let status = prop_oneof![
        Just(None),
        Just(Some(SessionStatus::Active)),
        Just(Some(SessionStatus::Ended)),
        Just(Some(SessionStatus::Timeout)),
    ];
    proptest::collection::vec(
        (
            0..teachers,
            0..(20 * 24 * 60i64),
            status,
            0..(90 * 60i64),
            proptest::option::of((-30..30i64, 1..120i32)),
            any::<bool>(),
        ),
        0..60,
    )
}

/// The payroll rows as `payroll` answers them: teacher id → the fields compared.
type Rows = BTreeMap<String, Value>;

fn brute_force(links: &[zoom_link::Model], range: DayRange, now: DateTime<Utc>) -> Rows {
    let (start, end) = range.bounds();
    let mut rows: BTreeMap<String, [i64; 11]> = BTreeMap::new();
    for link in links {
        let Some(day) = link.planned_start.or(link.clicked_at) else {
            continue;
        };
        let day = time::from_db(day);
        if day < start || day >= end {
            continue;
        }
        let row = rows.entry(link.teacher_id.to_string()).or_default();
        if matches!(
            link.session_status,
            Some(SessionStatus::Ended | SessionStatus::Timeout)
        ) {
            row[0] += 1;
            row[1] += link.session_duration_seconds.unwrap_or(0);
            row[2] += i64::from(link.corrected_at.is_some());
        }
        row[10] += i64::from(link.session_status == Some(SessionStatus::Active));
        if let Some(minutes) = link.planned_minutes {
            row[3] += 1;
            row[4] += i64::from(minutes);
        }
        if let Some(state) = attendance::attendance(link, now) {
            let at = attendance::Attendance::ALL
                .iter()
                .position(|s| *s == state)
                .unwrap();
            row[5 + at] += 1;
        }
    }
    rows.into_iter()
        .map(|(id, r)| {
            (
                id,
                json!({
                    "lessons": r[0], "paidSeconds": r[1], "paidMinutes": time::minutes(r[1]),
                    "correctedLessons": r[2], "inProgress": r[10], "plannedLessons": r[3], "plannedMinutes": r[4],
                    "attendance": { "pending": r[5], "onTime": r[6], "late": r[7], "short": r[8], "noShow": r[9] },
                }),
            )
        })
        .collect()
}

const PAYROLL: &str = "query($from: NaiveDate!, $to: NaiveDate!, $tz: String) { payroll(from: $from, to: $to, timeZone: $tz) { teacher { id } lessons paidSeconds paidMinutes correctedLessons inProgress plannedLessons plannedMinutes attendance { pending onTime late short noShow } } }";

fn rows(answer: &Value) -> Rows {
    answer["payroll"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            let mut fields = row.clone();
            let id = fields["teacher"]["id"].as_str().unwrap().to_owned();
            fields.as_object_mut().unwrap().remove("teacher");
            (id, fields)
        })
        .collect()
}

db_test!(payroll_equals_a_brute_force_sum);
async fn payroll_equals_a_brute_force_sum(db: TestDb) {
    // The seeded running lessons are long silent: no sweep may end them between the payroll's
    // read and the brute force's.
    let app = TestApp::spawn(&db, &["--sweep-interval", "30d"]).await;
    let mut teachers = Vec::new();
    for name in ["Anna Lind", "Boris Ek", "Carla Moe"] {
        teachers.push(app.create_teacher(name).await);
    }
    let student: i64 = app.create_student("Bob Stone").await.parse().unwrap();
    let key = app.teacher_key(&teachers[1]).await;
    let origin = Utc.with_ymd_and_hms(2026, 2, 20, 0, 0, 0).unwrap();
    let mut runner = TestRunner::new(ProptestConfig {
        cases: if db.backend == zoomtrack_tests::Backend::Sqlite {
            24
        } else {
            8
        },
        ..ProptestConfig::default()
    });
    let strategy = (
        lesson_strategy(teachers.len()),
        0..20u64,
        0..20u64,
        prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("Pacific/Auckland")],
    );
    let handle = tokio::runtime::Handle::current();
    let round = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&strategy, |(lessons, first, length, tz)| {
            let round = round.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tokio::task::block_in_place(|| {
                handle.block_on(async {
                    zoom_link::Entity::delete_many()
                        .exec(&app.db)
                        .await
                        .unwrap();
                    let models = lessons.iter().enumerate().map(|(i, lesson)| {
                        let &(teacher, minute, status, seconds, plan, corrected) = lesson;
                        let at = origin + Duration::minutes(minute);
                        let mut model = Seed {
                            teacher_id: teachers[teacher].parse().unwrap(),
                            student_id: student,
                            at,
                            status,
                            duration_seconds: Some(seconds),
                        }
                        .model(round * 1000 + i);
                        if let Some((offset, minutes)) = plan {
                            let t = attendance::LessonPlan {
                                start: at + Duration::minutes(offset),
                                minutes,
                            }
                            .thresholds(attendance::AttendanceRules::default());
                            model.planned_start = Set(Some(t.start));
                            model.planned_minutes = Set(Some(t.minutes));
                            model.late_after = Set(Some(t.late_after));
                            model.no_show_after = Set(Some(t.no_show_after));
                            model.short_below_seconds = Set(Some(t.short_below_seconds));
                        }
                        if corrected && status.is_some() {
                            model.corrected_at = Set(Some(time::to_db(at)));
                        }
                        model
                    });
                    let models: Vec<_> = models.collect();
                    for chunk in models.chunks(100) {
                        zoom_link::Entity::insert_many(chunk.to_vec())
                            .exec_without_returning(&app.db)
                            .await
                            .unwrap();
                    }
                    let from = (origin + Duration::days(first as i64)).date_naive();
                    let to = from + chrono::Days::new(length);
                    let vars = json!({ "from": from, "to": to, "tz": tz });
                    let answer = app.admin(PAYROLL, vars.clone()).await;
                    let links = zoom_link::Entity::find().all(&app.db).await.unwrap();
                    let range = DayRange::new(from, to, tz.parse().unwrap()).unwrap();
                    let expected = brute_force(&links, range, Utc::now());
                    assert_eq!(rows(&answer), expected, "{lessons:?} {vars}");

                    // A teacher gets its own row, the same as the admin's.
                    let own = app.graphql_as(Some(&key), PAYROLL, vars.clone()).await;
                    let own = rows(&own["data"]);
                    let theirs: Rows = expected
                        .iter()
                        .filter(|(id, _)| **id == teachers[1])
                        .map(|(id, row)| (id.clone(), row.clone()))
                        .collect();
                    assert_eq!(own, theirs);

                    // The CSV holds the same rows.
                    let (from, to) = (from.to_string(), to.to_string());
                    let query = [
                        ("from", from.as_str()),
                        ("to", to.as_str()),
                        ("timeZone", tz),
                    ];
                    let csv = admin_get(&app, "/api/admin/payroll.csv", &query).await;
                    let mut from_csv = Rows::new();
                    for cells in csv_rows(&csv) {
                        let get = |name: &str| -> i64 { cells[name].parse().unwrap() };
                        from_csv.insert(
                            cells["teacher_id"].clone(),
                            json!({
                                "lessons": get("lessons"), "paidSeconds": get("paid_seconds"),
                                "paidMinutes": get("paid_minutes"),
                                "correctedLessons": get("corrected_lessons"),
                                "inProgress": get("in_progress"),
                                "plannedLessons": get("planned_lessons"),
                                "plannedMinutes": get("planned_minutes"),
                                "attendance": {
                                    "pending": get("pending"), "onTime": get("on_time"),
                                    "late": get("late"), "short": get("short"),
                                    "noShow": get("no_show"),
                                },
                            }),
                        );
                    }
                    assert_eq!(from_csv, expected);
                })
            });
            Ok(())
        })
        .unwrap();

    // A period is checked: both ends, their order, its length and the zone.
    for (from, to, tz, says) in [
        ("2026-03-10", "2026-03-01", "UTC", "before `from`"),
        ("2025-01-01", "2026-03-01", "UTC", "at most 366 days"),
        ("2026-03-01", "2026-03-02", "Mars/Olympus", "IANA"),
    ] {
        let answer = app
            .graphql_as(
                Some(ADMIN_TOKEN),
                PAYROLL,
                json!({ "from": from, "to": to, "tz": tz }),
            )
            .await;
        assert_eq!(
            answer["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{answer}"
        );
        assert!(
            answer["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains(says),
            "{answer}"
        );
    }
    let (status, answer) = app.get_json("/api/admin/payroll.csv?from=2026-03-01").await;
    assert_eq!(status, 401, "{answer}");
    let missing: Value = serde_json::from_str(
        &admin_get(&app, "/api/admin/payroll.csv", &[("from", "2026-03-01")]).await,
    )
    .unwrap();
    assert_eq!(missing["error"]["code"], "BAD_USER_INPUT", "{missing}");
    app.stop().await;
}

/// Issues a link without a plan for `meeting`.
async fn link_on(app: &TestApp, (teacher, student): (&str, &str), meeting: &str) -> Link {
    let data = app
        .admin(
            "mutation($t: ID!, $s: ID!, $u: String!) { issueZoomLink(input: {teacherId: $t, studentId: $s, zoomUrl: $u}) { id trackingUrl } }",
            json!({ "t": teacher, "s": student, "u": format!("https://us02web.zoom.us/j/{meeting}") }),
        )
        .await;
    let link = &data["issueZoomLink"];
    let url = link["trackingUrl"].as_str().unwrap();
    Link {
        id: link["id"].as_str().unwrap().to_owned(),
        token: url.split("token=").nth(1).unwrap().to_owned(),
        tracking_url: url.to_owned(),
    }
}

db_test!(interruptions_come_from_zoom_or_from_the_visible_page);
async fn interruptions_come_from_zoom_or_from_the_visible_page(db: TestDb) {
    let app = TestApp::spawn(&db, &["--zoom-webhook-secret", SECRET]).await;
    let teacher = app.create_teacher("Anna Teacher").await;
    let student = app.create_student("Bob Student").await;
    let who = (teacher.as_str(), student.as_str());
    let t0 = whole_seconds(Utc::now());
    let seconds = |s: i64| t0 + Duration::seconds(s);

    // The page only: beats every 30 s while visible, a silence of 170 s, then hidden in Zoom
    // for ten minutes (no interruption), then in front again.
    let page = link_on(&app, who, "85012345678").await;
    click(&app, &page, t0).await;
    for (at, visible) in [
        (30, true),
        (200, true),
        (230, false),
        (830, false),
        (860, true),
        (890, true),
    ] {
        app.tracker
            .heartbeat(&token(&page), Some(visible), seconds(at))
            .await
            .unwrap();
    }
    app.flush().await;

    // Zoom: a leave and a rejoin three minutes later; the page's silences no longer count.
    let zoomed = link_on(&app, who, OTHER_MEETING).await;
    click(&app, &zoomed, t0).await;
    deliver(&app, &zoom("meeting.participant_joined", seconds(10))).await;
    deliver(&app, &zoom("meeting.participant_left", seconds(610))).await;
    deliver(&app, &zoom("meeting.participant_joined", seconds(790))).await;
    app.tracker
        .heartbeat(&token(&zoomed), Some(true), seconds(20))
        .await
        .unwrap();
    app.tracker
        .heartbeat(&token(&zoomed), Some(true), seconds(500))
        .await
        .unwrap();
    app.flush().await;
    deliver(&app, &zoom("meeting.participant_left", seconds(2410))).await;

    let read = |link: &Link| {
        let (app, id) = (&app, link.id.clone());
        async move {
            app.admin(
                "query($id: ID!) { session(id: $id) { interruptions interruptedSeconds timeline { mark detail } } }",
                json!({ "id": id }),
            )
            .await["session"]
                .clone()
        }
    };
    let paged = read(&page).await;
    assert_eq!(
        (&paged["interruptions"], &paged["interruptedSeconds"]),
        (&json!(1), &json!(170)),
        "{paged}"
    );
    let marks: Vec<&str> = paged["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["mark"].as_str().unwrap())
        .collect();
    assert_eq!(
        marks,
        [
            "ISSUED",
            "OPENED",
            "AWAY",
            "PAGE_HIDDEN",
            "PAGE_VISIBLE",
            "LAST_ACTIVITY"
        ],
        "{paged}"
    );
    let zoomed_read = read(&zoomed).await;
    assert_eq!(
        (
            &zoomed_read["interruptions"],
            &zoomed_read["interruptedSeconds"]
        ),
        (&json!(1), &json!(180)),
        "{zoomed_read}"
    );

    // The average per teacher, and the CSV's columns.
    let stats = app
        .admin("{ teacherStats { avgInterruptions } }", json!({}))
        .await;
    assert_eq!(stats["teacherStats"][0]["avgInterruptions"], 1.0);
    let csv = admin_get(&app, "/api/admin/sessions.csv", &[]).await;
    for row in csv_rows(&csv) {
        let expected = if row["session_id"] == page.id {
            "170"
        } else {
            "180"
        };
        assert_eq!(row["interruptions"], "1", "{csv}");
        assert_eq!(row["interrupted_seconds"], expected, "{csv}");
    }
    app.stop().await;
}

shared_db_test!(beats_spread_over_two_servers_are_no_interruption);
async fn beats_spread_over_two_servers_are_no_interruption(db: TestDb) {
    let one = TestApp::spawn(&db, &[]).await;
    let two = TestApp::spawn(&db, &[]).await;
    let teacher = one.create_teacher("Anna Teacher").await;
    let student = one.create_student("Bob Student").await;
    let link = link_on(&one, (teacher.as_str(), student.as_str()), "85012345678").await;
    let t0 = whole_seconds(Utc::now());
    click(&one, &link, t0).await;
    // A load balancer without sticky sessions: each server sees every other beat, 60 s apart
    // and more, while the page never fell silent.
    let mut at = t0;
    for n in 0..10 {
        at += Duration::seconds(31);
        let server = if n % 2 == 0 { &one } else { &two };
        server
            .tracker
            .heartbeat(&token(&link), Some(true), at)
            .await
            .unwrap();
        server.flush().await;
    }
    // Then a real silence of 200 s.
    at += Duration::seconds(200);
    one.tracker
        .heartbeat(&token(&link), Some(true), at)
        .await
        .unwrap();
    one.flush().await;
    let session = one
        .admin(
            "query($id: ID!) { session(id: $id) { interruptions interruptedSeconds } }",
            json!({ "id": link.id }),
        )
        .await;
    assert_eq!(
        session["session"],
        json!({ "interruptions": 1, "interruptedSeconds": 200 }),
        "{session}"
    );
    two.stop().await;
    one.stop().await;
}

//! The read side: statistics against a brute-force count, pagination, time zones, scoping,
//! the admin REST answers and the CSV export.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use entity::zoom_link::SessionStatus;
use proptest::{prelude::*, test_runner::TestRunner};
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use zoomtrack_tests::{ADMIN_TOKEN, Seed, TestApp, TestDb, db_test, insert_seeds};

const STATS: &str = "query($f: SessionFilter) { sessionStats(filter: $f) { totalSessions activeSessions endedSessions timeoutSessions totalDurationSeconds neverClickedLinks } }";

async fn people(app: &TestApp, teachers: &[&str], students: &[&str]) -> (Vec<i64>, Vec<i64>) {
    let mut t = Vec::new();
    for name in teachers {
        t.push(app.create_teacher(name).await.parse().unwrap());
    }
    let mut s = Vec::new();
    for name in students {
        s.push(app.create_student(name).await.parse().unwrap());
    }
    (t, s)
}

fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "ACTIVE",
        SessionStatus::Ended => "ENDED",
        SessionStatus::Timeout => "TIMEOUT",
    }
}

/// A random filter: which teacher, student, statuses, days and name fragment.
#[derive(Clone, Debug)]
struct RandomFilter {
    teacher: Option<usize>,
    student: Option<usize>,
    statuses: Vec<SessionStatus>,
    days: Option<(i64, i64)>,
    time_zone: &'static str,
    search: Option<&'static str>,
}

/// A random link: teacher and student index, minute it was clicked in (or issued in, when
/// never clicked), mostly within 10 days from the origin and otherwise within 90 (so ranges
/// hold whole months), status (`None`: never clicked) and duration in seconds.
type Row = (usize, usize, i64, Option<SessionStatus>, i64);

fn seed_strategy(teachers: usize, students: usize) -> impl Strategy<Value = Vec<Row>> {
    let status = prop_oneof![
        Just(None),
        Just(Some(SessionStatus::Active)),
        Just(Some(SessionStatus::Ended)),
        Just(Some(SessionStatus::Timeout)),
    ];
    proptest::collection::vec(
        (
            0..teachers,
            0..students,
            prop_oneof![3 => 0i64..14_400, 1 => 0i64..129_600],
            status,
            0i64..7200,
        ),
        0..40,
    )
}

fn filter_strategy(teachers: usize, students: usize) -> impl Strategy<Value = RandomFilter> {
    let statuses = proptest::sample::subsequence(
        vec![
            SessionStatus::Active,
            SessionStatus::Ended,
            SessionStatus::Timeout,
        ],
        0..=3,
    );
    (
        proptest::option::of(0..teachers),
        proptest::option::of(0..students),
        statuses,
        proptest::option::of(prop_oneof![2 => (0i64..10, 0i64..4), 1 => (0i64..10, 20i64..70)]),
        proptest::sample::select(vec![
            "UTC",
            "Asia/Kolkata",
            "America/New_York",
            "Asia/Kathmandu",
        ]),
        // LIKE's own characters must match only themselves.
        proptest::option::of(proptest::sample::select(vec![
            "ann", "BOB", "li", "zz", "o_", "%", "\\", "_e",
        ])),
    )
        .prop_map(
            |(teacher, student, statuses, days, time_zone, search)| RandomFilter {
                teacher,
                student,
                statuses,
                days: days.map(|(from, len)| (from, from + len)),
                time_zone,
                search,
            },
        )
}

const TEACHERS: [&str; 3] = ["Anna Lind", "Boris_Ek", "Carla 100%"];
const STUDENTS: [&str; 3] = ["Bob Stone", "Dana \\Ray", "Eli Annex"];

db_test!(statistics_equal_a_brute_force_count);
async fn statistics_equal_a_brute_force_count(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (teachers, students) = people(&app, &TEACHERS, &STUDENTS).await;
    // Ten days across a month's end, then all of March and April.
    let origin = Utc.with_ymd_and_hms(2026, 2, 25, 0, 0, 0).unwrap();
    let cases = if db.backend == zoomtrack_tests::Backend::Sqlite {
        32
    } else {
        12
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let strategy = (
        seed_strategy(3, 3),
        proptest::collection::vec(filter_strategy(3, 3), 4),
    );
    let handle = tokio::runtime::Handle::current();
    let round = std::sync::atomic::AtomicUsize::new(0);
    runner
        .run(&strategy, |(rows, filters)| {
            let round = round.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            tokio::task::block_in_place(|| {
                handle.block_on(check_round(
                    &app, &teachers, &students, origin, &rows, &filters, round,
                ))
            });
            Ok(())
        })
        .unwrap();
    app.stop().await;
}

async fn check_round(
    app: &TestApp,
    teachers: &[i64],
    students: &[i64],
    origin: DateTime<Utc>,
    rows: &[Row],
    filters: &[RandomFilter],
    round: usize,
) {
    entity::zoom_link::Entity::delete_many()
        .exec(&app.db)
        .await
        .unwrap();
    let seeds: Vec<Seed> = rows
        .iter()
        .map(|&(t, s, minute, status, secs)| Seed {
            teacher_id: teachers[t],
            student_id: students[s],
            at: origin + Duration::minutes(minute),
            status,
            duration_seconds: Some(secs),
        })
        .collect();
    insert_seeds(&app.db, &seeds, round * 1000).await;
    for filter in filters {
        let mut vars = json!({});
        if let Some(t) = filter.teacher {
            vars["teacherId"] = json!(teachers[t].to_string());
        }
        if let Some(s) = filter.student {
            vars["studentId"] = json!(students[s].to_string());
        }
        if !filter.statuses.is_empty() {
            vars["status"] = json!(
                filter
                    .statuses
                    .iter()
                    .map(|s| status_name(*s))
                    .collect::<Vec<_>>()
            );
        }
        let tz: chrono_tz::Tz = filter.time_zone.parse().unwrap();
        // Local days counted from the origin's local date, and where they start in UTC.
        let first_day = origin.with_timezone(&tz).date_naive();
        let day = |d: i64| first_day + chrono::Days::new(d as u64);
        let day_start = |d: i64| {
            tz.from_local_datetime(&day(d).and_hms_opt(0, 0, 0).unwrap())
                .earliest()
                .unwrap()
                .with_timezone(&Utc)
        };
        if let Some((from, to)) = filter.days {
            vars["from"] = json!(day(from).to_string());
            vars["to"] = json!(day(to).to_string());
            vars["timeZone"] = json!(filter.time_zone);
        }
        if let Some(q) = filter.search {
            vars["search"] = json!(q);
        }
        let got = app.admin(STATS, json!({ "f": vars })).await["sessionStats"].clone();

        // The same count by hand.
        let in_scope = |&(t, s, minute, _, _): &Row| {
            let at = origin + Duration::minutes(minute);
            filter.teacher.is_none_or(|ft| ft == t)
                && filter.student.is_none_or(|fs| fs == s)
                && filter
                    .days
                    .is_none_or(|(from, to)| at >= day_start(from) && at < day_start(to + 1))
                && filter.search.is_none_or(|q| {
                    let q = q.to_lowercase();
                    TEACHERS[t].to_lowercase().contains(&q)
                        || STUDENTS[s].to_lowercase().contains(&q)
                })
        };
        let sessions: Vec<_> = rows
            .iter()
            .filter(|r| r.3.is_some())
            .filter(|r| filter.statuses.is_empty() || filter.statuses.contains(&r.3.unwrap()))
            .filter(|r| in_scope(r))
            .collect();
        let count = |status| sessions.iter().filter(|r| r.3 == Some(status)).count() as i64;
        let seconds: i64 = sessions
            .iter()
            .filter(|r| matches!(r.3, Some(SessionStatus::Ended | SessionStatus::Timeout)))
            .map(|r| r.4)
            .sum();
        let never = rows
            .iter()
            .filter(|r| r.3.is_none())
            .filter(|r| in_scope(r))
            .count() as i64;
        let expected = json!({
            "totalSessions": sessions.len() as i64,
            "activeSessions": count(SessionStatus::Active),
            "endedSessions": count(SessionStatus::Ended),
            "timeoutSessions": count(SessionStatus::Timeout),
            "totalDurationSeconds": seconds,
            "neverClickedLinks": never,
        });
        assert_eq!(got, expected, "filter {filter:?}");
    }
}

const PAGE: &str = "query($f: SessionFilter, $o: SessionOrder, $n: Int, $a: String) { sessions(filter: $f, orderBy: $o, first: $n, after: $a) { edges { cursor node { id teacher { name } durationSeconds clickedAt } } pageInfo { hasNextPage endCursor } } }";

db_test!(pages_have_no_duplicates_or_gaps_while_sessions_arrive);
async fn pages_have_no_duplicates_or_gaps_while_sessions_arrive(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (teachers, students) = people(&app, &TEACHERS, &STUDENTS).await;
    let now = Utc::now() - Duration::hours(1);
    let seeds: Vec<Seed> = (0..23)
        .map(|i| Seed {
            teacher_id: teachers[i % 3],
            student_id: students[i % 2],
            // Some share a start second, to exercise the id tie-break.
            at: now - Duration::minutes((i / 2) as i64),
            status: Some(if i % 4 == 0 {
                SessionStatus::Active
            } else {
                SessionStatus::Ended
            }),
            duration_seconds: Some((i as i64 % 5) * 600),
        })
        .collect();
    insert_seeds(&app.db, &seeds, 0).await;
    let mut fresh = 0;
    for order in [
        json!({}),
        json!({ "field": "DURATION", "direction": "ASC" }),
        json!({ "field": "DURATION", "direction": "DESC" }),
        json!({ "field": "TEACHER", "direction": "ASC" }),
        json!({ "field": "STARTED_AT", "direction": "ASC" }),
    ] {
        let before: HashSet<String> = {
            let all = app.admin(PAGE, json!({ "o": order, "n": 100 })).await;
            all["sessions"]["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
                .collect()
        };
        let mut seen = Vec::new();
        let mut after = Value::Null;
        loop {
            let page = app
                .admin(PAGE, json!({ "o": order, "n": 7, "a": after }))
                .await;
            let conn = &page["sessions"];
            for edge in conn["edges"].as_array().unwrap() {
                seen.push(edge["node"]["id"].as_str().unwrap().to_owned());
            }
            // A new session starts between pages.
            fresh += 1;
            insert_seeds(
                &app.db,
                &[Seed {
                    teacher_id: teachers[0],
                    student_id: students[0],
                    at: Utc::now(),
                    status: Some(SessionStatus::Active),
                    duration_seconds: None,
                }],
                10_000 + fresh,
            )
            .await;
            if conn["pageInfo"]["hasNextPage"] == false {
                break;
            }
            after = conn["pageInfo"]["endCursor"].clone();
        }
        let unique: HashSet<String> = seen.iter().cloned().collect();
        assert_eq!(unique.len(), seen.len(), "no duplicates in {order}");
        assert!(before.is_subset(&unique), "no gaps in {order}");
        if order == json!({}) {
            assert!(
                unique.iter().all(|id| before.contains(id)),
                "newer sessions stay before page one"
            );
        }
    }
    // Page size and cursors are checked.
    for (vars, code) in [
        (json!({ "n": 0 }), "BAD_USER_INPUT"),
        (json!({ "n": 101 }), "BAD_USER_INPUT"),
        (json!({ "a": "not-a-cursor" }), "BAD_USER_INPUT"),
    ] {
        let response = app.graphql_as(Some(ADMIN_TOKEN), PAGE, vars.clone()).await;
        assert_eq!(response["errors"][0]["extensions"]["code"], code, "{vars}");
    }
    let first = app.admin(PAGE, json!({ "n": 1 })).await;
    let cursor = first["sessions"]["pageInfo"]["endCursor"].clone();
    let mismatched = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            PAGE,
            json!({ "a": cursor, "o": { "field": "TEACHER" } }),
        )
        .await;
    assert_eq!(
        mismatched["errors"][0]["extensions"]["code"],
        "BAD_USER_INPUT"
    );
    app.stop().await;
}

db_test!(a_session_at_23_30_local_belongs_to_that_local_day);
async fn a_session_at_23_30_local_belongs_to_that_local_day(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (teachers, students) = people(&app, &["Anna"], &["Bob"]).await;
    // 23:30 in Berlin on 15 January is 22:30 UTC; 00:30 in Kolkata on 16 January is 19:00 UTC on the 15th.
    let late = Utc.with_ymd_and_hms(2026, 1, 15, 22, 30, 0).unwrap();
    let early = Utc.with_ymd_and_hms(2026, 1, 15, 19, 0, 0).unwrap();
    let seeds: Vec<Seed> = [late, early]
        .iter()
        .map(|at| Seed {
            teacher_id: teachers[0],
            student_id: students[0],
            at: *at,
            status: Some(SessionStatus::Ended),
            duration_seconds: Some(3000),
        })
        .collect();
    insert_seeds(&app.db, &seeds, 0).await;
    let app = &app;
    let total = |from: &str, to: &str, tz: &str| {
        let vars = json!({ "f": { "from": from, "to": to, "timeZone": tz } });
        async move {
            app.admin(STATS, vars).await["sessionStats"]["totalSessions"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(total("2026-01-15", "2026-01-15", "Europe/Berlin").await, 2);
    assert_eq!(total("2026-01-16", "2026-01-16", "Europe/Berlin").await, 0);
    assert_eq!(
        total("2026-01-16", "2026-01-16", "Asia/Kolkata").await,
        2,
        "both after midnight in Kolkata"
    );
    assert_eq!(total("2026-01-15", "2026-01-15", "UTC").await, 2);
    assert_eq!(
        total("2026-01-15", "2026-01-15", "America/New_York").await,
        2
    );

    let daily = app
        .admin(
            "query($f: SessionFilter) { dailyStats(filter: $f) { day sessions durationMinutes } }",
            json!({ "f": { "from": "2026-01-15", "to": "2026-01-16", "timeZone": "Asia/Kolkata" } }),
        )
        .await;
    assert_eq!(
        daily["dailyStats"],
        json!([
            { "day": "2026-01-15", "sessions": 0, "durationMinutes": 0 },
            { "day": "2026-01-16", "sessions": 2, "durationMinutes": 100 },
        ])
    );
    let bad = app
        .graphql_as(
            Some(ADMIN_TOKEN),
            STATS,
            json!({ "f": { "timeZone": "Mars/Base" } }),
        )
        .await;
    assert_eq!(bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT");
    for filter in [
        json!({ "to": "0001-01-01" }),
        json!({ "from": "2026-02-01", "to": "2026-01-01" }),
        json!({ "status": ["PENDING"] }),
        json!({ "search": "x".repeat(101) }),
    ] {
        let bad = app
            .graphql_as(Some(ADMIN_TOKEN), STATS, json!({ "f": filter }))
            .await;
        assert_eq!(
            bad["errors"][0]["extensions"]["code"], "BAD_USER_INPUT",
            "{filter}"
        );
    }
}

db_test!(a_teacher_reads_only_their_own_sessions);
async fn a_teacher_reads_only_their_own_sessions(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let anna = app.create_teacher("Anna").await;
    let boris = app.create_teacher("Boris").await;
    let student = app.create_student("Carl").await;
    let own = app
        .issue_link_for(Some(ADMIN_TOKEN), &anna, &student)
        .await
        .unwrap();
    let other = app
        .issue_link_for(Some(ADMIN_TOKEN), &boris, &student)
        .await
        .unwrap();
    app.track(&own.token).await;
    app.track(&other.token).await;
    let key = app.teacher_key(&anna).await;
    let code = |r: &Value| {
        r["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or("<none>")
            .to_owned()
    };

    let theirs = app
        .graphql_as(
            Some(&key),
            "query($id: ID!) { session(id: $id) { id } }",
            json!({ "id": other.id }),
        )
        .await;
    assert_eq!(code(&theirs), "NOT_FOUND");
    let list = app.graphql_as(Some(&key), PAGE, json!({})).await;
    let ids: Vec<&str> = list["data"]["sessions"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![own.id.as_str()]);
    let forbidden = app
        .graphql_as(Some(&key), PAGE, json!({ "f": { "teacherId": boris } }))
        .await;
    assert_eq!(code(&forbidden), "FORBIDDEN");
    let stats = app.graphql_as(Some(&key), STATS, json!({})).await;
    assert_eq!(stats["data"]["sessionStats"]["totalSessions"], 1);
    let per_teacher = app
        .graphql_as(
            Some(&key),
            "{ teacherStats { teacher { name } sessions activeNow } }",
            json!({}),
        )
        .await;
    assert_eq!(
        per_teacher["data"]["teacherStats"],
        json!([{ "teacher": { "name": "Anna" }, "sessions": 1, "activeNow": 1 }])
    );
    let teachers = app
        .graphql_as(
            Some(&key),
            "{ teachers { name } students { name } }",
            json!({}),
        )
        .await;
    assert_eq!(
        teachers["data"],
        json!({ "teachers": [{ "name": "Anna" }], "students": [{ "name": "Carl" }] })
    );
    for query in [
        "{ sessionStats { totalSessions } }",
        "{ teacherStats { sessions } }",
        "{ dailyStats { day } }",
        "{ teachers { name } }",
        "{ sessions { edges { cursor } } }",
    ] {
        assert_eq!(
            code(&app.graphql_as(None, query, json!({})).await),
            "UNAUTHENTICATED",
            "{query}"
        );
    }
    for path in ["/api/admin/teacher-sessions", "/api/admin/sessions.csv"] {
        let as_teacher = app
            .client
            .get(app.url(path))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(as_teacher.status(), 403, "{path}");
        let anonymous = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{path}");
    }
    app.stop().await;
}

db_test!(teacher_sessions_and_csv_hold_the_matching_rows);
async fn teacher_sessions_and_csv_hold_the_matching_rows(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (teachers, students) = people(&app, &["Lee, \"Anna\"", "Boris"], &["Bob"]).await;
    let day = Utc.with_ymd_and_hms(2026, 2, 10, 9, 0, 0).unwrap();
    // More rows than one export chunk, so the stream spans pages.
    let seeds: Vec<Seed> = (0..2600)
        .map(|i| Seed {
            teacher_id: teachers[usize::from(i % 3 == 0)],
            student_id: students[0],
            at: day + Duration::seconds(i as i64 * 7),
            status: Some(if i % 5 == 0 {
                SessionStatus::Timeout
            } else {
                SessionStatus::Ended
            }),
            duration_seconds: Some(1800),
        })
        .collect();
    insert_seeds(&app.db, &seeds, 0).await;
    let anna = teachers[0].to_string();
    let expected = seeds.iter().filter(|s| s.teacher_id == teachers[0]).count();

    let response = app
        .client
        .get(app.url("/api/admin/sessions.csv"))
        .query(&[
            ("teacherId", anna.as_str()),
            ("from", "2026-02-10"),
            ("to", "2026-02-10"),
            ("timeZone", "Europe/Berlin"),
        ])
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let body = response.text().await.unwrap();
    let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("session_id,teacher_id,teacher_name,"));
    assert!(
        lines[0].contains(",zoom_url,end_reason,zoom_joined_at,in_meeting_seconds,")
            && lines[0].ends_with(",interruptions,interrupted_seconds"),
        "{}",
        lines[0]
    );
    assert_eq!(lines.len() - 1, expected);
    let first = lines[1];
    assert!(first.contains(",\"Lee, \"\"Anna\"\"\","), "{first}");
    assert!(
        first.contains("+01:00"),
        "times in the asked time zone: {first}"
    );
    let ids: HashSet<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(ids.len(), expected, "each row once");

    let filtered = app
        .client
        .get(app.url("/api/admin/sessions.csv"))
        .query(&[("status", "timeout"), ("search", "boris")])
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let timeouts = seeds
        .iter()
        .filter(|s| s.teacher_id == teachers[1] && s.status == Some(SessionStatus::Timeout))
        .count();
    let rows: Vec<&str> = filtered.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len() - 1, timeouts);
    assert!(rows[1..].iter().all(|row| row.contains(",timed_out,,,")));

    let (status, answer) = app
        .get_json(&format!(
            "/api/admin/teacher-sessions?teacherId={anna}&date=2026-02-10&status=ended"
        ))
        .await;
    assert_eq!(status, 401, "needs the admin credential: {answer}");
    let answer: Value = app
        .client
        .get(app.url(&format!(
            "/api/admin/teacher-sessions?teacherId={anna}&date=2026-02-10&status=ended"
        )))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ended = seeds
        .iter()
        .filter(|s| s.teacher_id == teachers[0] && s.status == Some(SessionStatus::Ended))
        .count();
    assert_eq!(answer["statistics"]["endedSessions"], ended as i64);
    assert_eq!(answer["statistics"]["totalSessions"], ended as i64);
    assert_eq!(answer["statistics"]["avgDurationMinutes"], 30.0);
    assert_eq!(
        answer["sessions"].as_array().unwrap().len(),
        ended.min(1000)
    );
    assert_eq!(answer["sessions"][0]["teacherName"], "Lee, \"Anna\"");
    for bad in [
        "date=yesterday",
        "status=sleeping",
        "teacherId=x",
        "timeZone=Nowhere",
    ] {
        let response = app
            .client
            .get(app.url(&format!("/api/admin/teacher-sessions?{bad}")))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
    }
    app.stop().await;
}

db_test!(duration_distribution_counts_finished_sessions_by_length);
async fn duration_distribution_counts_finished_sessions_by_length(db: TestDb) {
    let app = TestApp::spawn(&db, &[]).await;
    let (teachers, students) = people(&app, &TEACHERS, &STUDENTS).await;
    let at = Utc::now() - Duration::hours(2);
    // Lengths in seconds at and around the bucket edges, and an active session (not counted).
    let lengths = [0, 299, 300, 899, 2700, 3599, 3600, 7199, 7200, 90_000];
    let mut seeds: Vec<Seed> = lengths
        .iter()
        .enumerate()
        .map(|(i, &seconds)| Seed {
            teacher_id: teachers[i % 2],
            student_id: students[0],
            at,
            status: Some(if i % 3 == 0 {
                SessionStatus::Timeout
            } else {
                SessionStatus::Ended
            }),
            duration_seconds: Some(seconds),
        })
        .collect();
    seeds.push(Seed {
        teacher_id: teachers[0],
        student_id: students[0],
        at,
        status: Some(SessionStatus::Active),
        duration_seconds: None,
    });
    insert_seeds(&app.db, &seeds, 0).await;
    let query = "query($f: SessionFilter) { durationDistribution(filter: $f) { fromMinutes toMinutes sessions } }";
    let all = app.admin(query, json!({})).await;
    assert_eq!(
        all["durationDistribution"],
        json!([
            { "fromMinutes": 0, "toMinutes": 5, "sessions": 2 },
            { "fromMinutes": 5, "toMinutes": 15, "sessions": 2 },
            { "fromMinutes": 15, "toMinutes": 30, "sessions": 0 },
            { "fromMinutes": 30, "toMinutes": 45, "sessions": 0 },
            { "fromMinutes": 45, "toMinutes": 60, "sessions": 2 },
            { "fromMinutes": 60, "toMinutes": 90, "sessions": 1 },
            { "fromMinutes": 90, "toMinutes": 120, "sessions": 1 },
            { "fromMinutes": 120, "toMinutes": null, "sessions": 2 },
        ])
    );
    // The filter applies; a teacher sees only their own.
    let one = app
        .admin(
            query,
            json!({ "f": { "teacherId": teachers[0].to_string(), "status": ["TIMEOUT"] } }),
        )
        .await;
    let total: i64 = one["durationDistribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["sessions"].as_i64().unwrap())
        .sum();
    // Timeouts are indexes 0, 3, 6, 9; teacher 0 has the even ones: 0 and 6.
    assert_eq!(total, 2);
    let key = app.teacher_key(&teachers[1].to_string()).await;
    let theirs = app.graphql_as(Some(&key), query, json!({})).await;
    let total: i64 = theirs["data"]["durationDistribution"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["sessions"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 5);
    app.stop().await;
}

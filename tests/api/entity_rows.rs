//! The hot paths read sessions by column position (`zoom_link::Model::from_row`); SeaORM's own
//! reader goes by column name. Both must agree on every database, for a session with every
//! column set and for a link with every nullable column empty.

use entity::zoom_link;
use migration::{Migrator, MigratorTrait};
use sea_orm::{ConnectionTrait, Database, EntityTrait, FromQueryResult, QueryOrder, QueryTrait};
use zoomtrack_tests::{TestDb, db_test};

const ROWS: [&str; 4] = [
    "INSERT INTO teachers (id, name, telegram_chat_id, created_at)
     VALUES (1, 'Anna Teacher', '100200300400', '2026-11-28 09:00:00')",
    "INSERT INTO students (id, name, telegram_chat_id, created_at)
     VALUES (2, 'Bob Student', '-1001234567890', '2026-11-28 09:00:00')",
    "INSERT INTO wpos_zoom_links (id, tracking_token, teacher_id, student_id, zoom_url, created_at,
        clicked_at, session_ended_at, session_duration_minutes, session_duration_seconds,
        session_status, last_activity_at, visit_id, session_end_reason, zoom_meeting_id,
        zoom_joined_at, in_meeting_seconds, zoom_in_meeting)
     VALUES (7, 'every-column', 1, 2, 'https://zoom.us/j/85012345678', '2026-11-28 09:50:00',
        '2026-11-28 10:00:00', '2026-11-28 10:41:07', 41, 2467, 'ended',
        '2026-11-28 10:41:07', 'visit-7', 'left_zoom', '85012345678',
        '2026-11-28 10:01:30', 2377, TRUE)",
    "INSERT INTO wpos_zoom_links (id, tracking_token, teacher_id, student_id, zoom_url, created_at)
     VALUES (8, 'never-opened', 1, 2, 'https://example.com/lesson', '2026-11-28 12:00:00')",
];

db_test!(a_session_read_by_position_is_the_session_read_by_name);
async fn a_session_read_by_position_is_the_session_read_by_name(db: TestDb) {
    let conn = Database::connect(&db.url).await.expect("connects");
    Migrator::up(&conn, None).await.expect("migrates");
    for sql in ROWS {
        conn.execute_unprepared(sql).await.expect(sql);
    }
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(
            zoom_link::Entity::find()
                .order_by_asc(zoom_link::Column::Id)
                .build(backend),
        )
        .await
        .expect("reads the links");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        let by_position = zoom_link::Model::from_row(row).expect("reads by position");
        let by_name = zoom_link::Model::from_query_result(row, "").expect("reads by name");
        assert_eq!(by_position, by_name);
    }
    let full = zoom_link::Model::from_row(&rows[0]).expect("the first link");
    assert_eq!(
        (
            full.zoom_in_meeting,
            full.session_end_reason,
            full.in_meeting_seconds
        ),
        (true, Some(zoom_link::EndReason::LeftZoom), Some(2377)),
        "every column of the first link is set"
    );
}

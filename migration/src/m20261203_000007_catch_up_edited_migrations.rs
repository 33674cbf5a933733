//! Gives a database what two migrations gained after their first release. SeaORM records a
//! migration by name, so a database that ran a first version never ran the edit:
//! - `m20261127_000001_create_tables` later added `wpos_zoom_links.visit_id` and widened
//!   `idx_zoom_links_clicked` to cover the statistics (the teacher and student indexes it also
//!   widened are rebuilt by `m20261128_000003_hot_paths` on every database);
//! - `m20261128_000005_zoom_webhooks` later added `zoom_participations.participant_name`, with
//!   one row per join and one per leave where the first version kept one per interval, and
//!   `wpos_zoom_links.zoom_in_meeting`.
//!
//! Each step looks for what it adds first, so on a database the current versions made (every
//! new one) it changes nothing.

use sea_orm_migration::{
    prelude::*,
    schema::*,
    sea_orm::{DbBackend, Statement},
};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    Id,
    ClickedAt,
    SessionStatus,
    SessionDurationSeconds,
    TeacherId,
    VisitId,
    ZoomInMeeting,
}

#[derive(DeriveIden)]
enum ZoomParticipations {
    Table,
    ParticipantName,
}

const CLICKED_INDEX: &str = "idx_zoom_links_clicked";

fn clicked_columns() -> [WposZoomLinks; 5] {
    use WposZoomLinks::*;
    [
        ClickedAt,
        Id,
        SessionStatus,
        SessionDurationSeconds,
        TeacherId,
    ]
}

/// The first version kept a time in the meeting as one row; the current one keeps its join and
/// its leave as a row each. A joined row keeps the join; its leave becomes a row of its own.
const SPLIT_INTERVALS: [&str; 2] = [
    "INSERT INTO zoom_participations (link_id, participant_key, participant_name, left_at, left_by)
     SELECT link_id, participant_key, participant_name, left_at, left_by
     FROM zoom_participations WHERE joined_at IS NOT NULL AND left_at IS NOT NULL",
    "UPDATE zoom_participations SET left_at = NULL, left_by = NULL
     WHERE joined_at IS NOT NULL AND left_at IS NOT NULL",
];

/// A participant is in the meeting when no leave came at or after one of their joins: what the
/// server sets `zoom_in_meeting` to when it next decides the session.
const IN_MEETING: &str = "UPDATE wpos_zoom_links SET zoom_in_meeting = TRUE WHERE id IN (
    SELECT j.link_id FROM zoom_participations j
    WHERE j.joined_at IS NOT NULL AND NOT EXISTS (
        SELECT 1 FROM zoom_participations l
        WHERE l.link_id = j.link_id AND l.participant_key = j.participant_key
          AND l.left_at >= j.joined_at))";

/// Adds `column` to `table` unless the table has it; says whether it did.
async fn add_missing(
    manager: &SchemaManager<'_>,
    table: impl IntoIden,
    column: ColumnDef,
) -> Result<bool, DbErr> {
    let table = table.into_iden();
    if manager
        .has_column(table.to_string(), column.get_column_name())
        .await?
    {
        return Ok(false);
    }
    manager
        .alter_table(Table::alter().table(table).add_column(column).to_owned())
        .await?;
    Ok(true)
}

/// The columns of `idx_zoom_links_clicked`, in order.
async fn clicked_index(manager: &SchemaManager<'_>) -> Result<Vec<String>, DbErr> {
    let backend = manager.get_database_backend();
    let sql = match backend {
        DbBackend::Sqlite => "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
        DbBackend::Postgres => {
            "SELECT a.attname::text AS name FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace
             ORDER BY array_position(i.indkey::int2[], a.attnum)"
        }
        _ => {
            "SELECT CAST(column_name AS CHAR) AS name FROM information_schema.statistics
             WHERE table_schema = DATABASE() AND table_name = 'wpos_zoom_links'
               AND index_name = ? ORDER BY seq_in_index"
        }
    };
    manager
        .get_connection()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [CLICKED_INDEX.into()],
        ))
        .await?
        .iter()
        .map(|row| row.try_get("", "name"))
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        add_missing(
            manager,
            WposZoomLinks::Table,
            string_len_null(WposZoomLinks::VisitId, 32),
        )
        .await?;

        let wanted: Vec<String> = clicked_columns().iter().map(|c| c.to_string()).collect();
        if clicked_index(manager).await? != wanted {
            manager
                .drop_index(
                    Index::drop()
                        .name(CLICKED_INDEX)
                        .table(WposZoomLinks::Table)
                        .to_owned(),
                )
                .await?;
            let mut index = Index::create();
            index.name(CLICKED_INDEX).table(WposZoomLinks::Table);
            for column in clicked_columns() {
                index.col(column);
            }
            manager.create_index(index).await?;
        }

        // Rows from before names were kept have an empty one.
        let name = string_len(ZoomParticipations::ParticipantName, 200)
            .default("")
            .to_owned();
        if add_missing(manager, ZoomParticipations::Table, name).await? {
            for sql in SPLIT_INTERVALS {
                manager.get_connection().execute_unprepared(sql).await?;
            }
        }

        let in_meeting = boolean(WposZoomLinks::ZoomInMeeting)
            .default(false)
            .to_owned();
        if add_missing(manager, WposZoomLinks::Table, in_meeting).await? {
            manager
                .get_connection()
                .execute_unprepared(IN_MEETING)
                .await?;
        }
        Ok(())
    }

    /// Nothing of its own to undo: what it adds belongs to the migrations it completes, and
    /// their `down` removes it.
    async fn down(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}

//! What a school does with the numbers: a link's planned lesson, admins' corrections, and how
//! broken-up a lesson was.
//!
//! - A link may carry its plan: `planned_start` and `planned_minutes`, and the thresholds its
//!   attendance is judged by, fixed when it was issued so that a later change of the server's
//!   grace or share never rewrites past lessons: `late_after` (the start plus the grace),
//!   `no_show_after` (the planned end plus the grace) and `short_below_seconds` (the share of the
//!   planned length a finished lesson must reach).
//! - `corrected_at` marks a session an admin corrected: no automatic signal changes it again.
//!   Every correction is a row of `session_corrections`, with the values measured before the
//!   first one.
//! - `interruptions` and `interrupted_seconds`: how often and how long the student was away
//!   during the lesson (Zoom's leave and rejoin where Zoom's webhooks spoke, else the tracking
//!   page's silences while it was visible). `session_marks` holds each of those silences and
//!   each change of the page's visibility, for the session's timeline.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    Id,
    PlannedStart,
    PlannedMinutes,
    LateAfter,
    NoShowAfter,
    ShortBelowSeconds,
    CorrectedAt,
    Interruptions,
    InterruptedSeconds,
}

#[derive(DeriveIden)]
enum SessionMarks {
    Table,
    Id,
    LinkId,
    At,
    Kind,
    Until,
}

#[derive(DeriveIden)]
enum SessionCorrections {
    Table,
    Id,
    LinkId,
    EndedAt,
    DurationSeconds,
    Reason,
    CorrectedBy,
    CorrectedAt,
    MeasuredStatus,
    MeasuredEndedAt,
    MeasuredDurationSeconds,
    MeasuredEndReason,
}

const PLANNED_START_INDEX: &str = "idx_zoom_links_planned_start";
const CORRECTIONS_LINK_INDEX: &str = "idx_session_corrections_link";
const CORRECTIONS_TIME_INDEX: &str = "idx_session_corrections_at";
const MARKS_LINK_INDEX: &str = "idx_session_marks_link";

/// The link's new columns, each added on its own (SQLite alters one column at a time).
fn link_columns() -> [ColumnDef; 8] {
    [
        date_time_null(WposZoomLinks::PlannedStart),
        integer_null(WposZoomLinks::PlannedMinutes),
        date_time_null(WposZoomLinks::LateAfter),
        date_time_null(WposZoomLinks::NoShowAfter),
        big_integer_null(WposZoomLinks::ShortBelowSeconds),
        date_time_null(WposZoomLinks::CorrectedAt),
        integer(WposZoomLinks::Interruptions).default(0).to_owned(),
        big_integer(WposZoomLinks::InterruptedSeconds)
            .default(0)
            .to_owned(),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = WposZoomLinks::Table.to_string();
        for mut column in link_columns() {
            // Checked first: MySQL's schema changes are not transactional, so a start that
            // failed halfway runs this again.
            let name = column.get_column_name();
            if manager.has_column(&table, &name).await? {
                continue;
            }
            manager
                .alter_table(
                    Table::alter()
                        .table(WposZoomLinks::Table)
                        .add_column(&mut column)
                        .to_owned(),
                )
                .await?;
        }
        if !manager.has_index(&table, PLANNED_START_INDEX).await? {
            manager
                .create_index(
                    Index::create()
                        .name(PLANNED_START_INDEX)
                        .table(WposZoomLinks::Table)
                        .col(WposZoomLinks::PlannedStart)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(SessionCorrections::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SessionCorrections::Id))
                    .col(big_integer(SessionCorrections::LinkId))
                    .col(date_time(SessionCorrections::EndedAt))
                    .col(big_integer(SessionCorrections::DurationSeconds))
                    .col(string_len(SessionCorrections::Reason, 500))
                    .col(string_len(SessionCorrections::CorrectedBy, 64))
                    .col(date_time(SessionCorrections::CorrectedAt))
                    .col(string_len_null(SessionCorrections::MeasuredStatus, 16))
                    .col(date_time_null(SessionCorrections::MeasuredEndedAt))
                    .col(big_integer_null(
                        SessionCorrections::MeasuredDurationSeconds,
                    ))
                    .col(string_len_null(SessionCorrections::MeasuredEndReason, 16))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionCorrections::Table, SessionCorrections::LinkId)
                            .to(WposZoomLinks::Table, WposZoomLinks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SessionMarks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SessionMarks::Id))
                    .col(big_integer(SessionMarks::LinkId))
                    .col(date_time(SessionMarks::At))
                    .col(string_len(SessionMarks::Kind, 16))
                    .col(date_time_null(SessionMarks::Until))
                    .foreign_key(
                        ForeignKey::create()
                            .from(SessionMarks::Table, SessionMarks::LinkId)
                            .to(WposZoomLinks::Table, WposZoomLinks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        let (corrections, marks) = (
            SessionCorrections::Table.to_string(),
            SessionMarks::Table.to_string(),
        );
        for (table, name, index) in [
            (
                &corrections,
                CORRECTIONS_LINK_INDEX,
                Index::create()
                    .table(SessionCorrections::Table)
                    .col(SessionCorrections::LinkId)
                    .to_owned(),
            ),
            (
                &corrections,
                CORRECTIONS_TIME_INDEX,
                Index::create()
                    .table(SessionCorrections::Table)
                    .col(SessionCorrections::CorrectedAt)
                    .to_owned(),
            ),
            (
                &marks,
                MARKS_LINK_INDEX,
                Index::create()
                    .table(SessionMarks::Table)
                    .col(SessionMarks::LinkId)
                    .to_owned(),
            ),
        ] {
            if !manager.has_index(table, name).await? {
                manager
                    .create_index(index.clone().name(name).to_owned())
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(
                Table::drop()
                    .table(SessionMarks::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(
                Table::drop()
                    .table(SessionCorrections::Table)
                    .if_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(PLANNED_START_INDEX)
                    .table(WposZoomLinks::Table)
                    .to_owned(),
            )
            .await?;
        for column in link_columns() {
            manager
                .alter_table(
                    Table::alter()
                        .table(WposZoomLinks::Table)
                        .drop_column(Alias::new(column.get_column_name()))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

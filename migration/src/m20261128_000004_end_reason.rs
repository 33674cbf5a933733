//! How each session ended: the tracking page closed, the student left Zoom, the meeting ended,
//! or it timed out. Sessions that ended before this column existed get the only reasons they
//! could have had: an end-session closed the tab, a timeout timed out.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    SessionStatus,
    SessionEndReason,
}

const REASONS: [&str; 4] = ["tab_closed", "left_zoom", "meeting_ended", "timed_out"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WposZoomLinks::Table)
                    .add_column(
                        string_len_null(WposZoomLinks::SessionEndReason, 16)
                            .check(Expr::col(WposZoomLinks::SessionEndReason).is_in(REASONS)),
                    )
                    .to_owned(),
            )
            .await?;
        for (status, reason) in [("ended", "tab_closed"), ("timeout", "timed_out")] {
            manager
                .exec_stmt(
                    Query::update()
                        .table(WposZoomLinks::Table)
                        .value(WposZoomLinks::SessionEndReason, reason)
                        .and_where(Expr::col(WposZoomLinks::SessionStatus).eq(status))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(WposZoomLinks::Table)
                    .drop_column(WposZoomLinks::SessionEndReason)
                    .to_owned(),
            )
            .await
    }
}

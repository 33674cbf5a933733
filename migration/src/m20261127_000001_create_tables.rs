use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Teachers {
    Table,
    Id,
    Name,
    TelegramChatId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Students {
    Table,
    Id,
    Name,
    TelegramChatId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    Id,
    TrackingToken,
    TeacherId,
    StudentId,
    ZoomUrl,
    CreatedAt,
    ClickedAt,
    SessionEndedAt,
    SessionDurationMinutes,
    SessionDurationSeconds,
    SessionStatus,
    LastActivityAt,
    VisitId,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Role,
    TeacherId,
    TokenHash,
    CreatedAt,
    RevokedAt,
}

fn person_table(
    table: impl IntoIden + 'static,
    id: impl IntoIden,
    name: impl IntoIden,
    chat: impl IntoIden,
    created: impl IntoIden,
) -> TableCreateStatement {
    Table::create()
        .table(table)
        .if_not_exists()
        .col(big_pk_auto(id))
        .col(string_len(name, 200))
        .col(string_len(chat, 64))
        .col(date_time(created))
        .to_owned()
}

fn index(
    name: &str,
    table: impl IntoIden + 'static,
    cols: impl IntoIterator<Item = WposZoomLinks>,
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table).if_not_exists();
    for col in cols {
        stmt.col(col);
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(person_table(
                Teachers::Table,
                Teachers::Id,
                Teachers::Name,
                Teachers::TelegramChatId,
                Teachers::CreatedAt,
            ))
            .await?;
        manager
            .create_table(person_table(
                Students::Table,
                Students::Id,
                Students::Name,
                Students::TelegramChatId,
                Students::CreatedAt,
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(WposZoomLinks::Table)
                    .if_not_exists()
                    .col(big_pk_auto(WposZoomLinks::Id))
                    .col(string_len_uniq(WposZoomLinks::TrackingToken, 64))
                    .col(big_integer(WposZoomLinks::TeacherId))
                    .col(big_integer(WposZoomLinks::StudentId))
                    .col(string_len(WposZoomLinks::ZoomUrl, 2048))
                    .col(date_time(WposZoomLinks::CreatedAt))
                    .col(date_time_null(WposZoomLinks::ClickedAt))
                    .col(date_time_null(WposZoomLinks::SessionEndedAt))
                    .col(integer_null(WposZoomLinks::SessionDurationMinutes))
                    .col(big_integer_null(WposZoomLinks::SessionDurationSeconds))
                    .col(
                        string_len_null(WposZoomLinks::SessionStatus, 16).check(
                            Expr::col(WposZoomLinks::SessionStatus)
                                .is_in(["active", "ended", "timeout"]),
                        ),
                    )
                    .col(date_time_null(WposZoomLinks::LastActivityAt))
                    .col(string_len_null(WposZoomLinks::VisitId, 32))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_zoom_links_teacher")
                            .from(WposZoomLinks::Table, WposZoomLinks::TeacherId)
                            .to(Teachers::Table, Teachers::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_zoom_links_student")
                            .from(WposZoomLinks::Table, WposZoomLinks::StudentId)
                            .to(Students::Table, Students::Id)
                            .on_delete(ForeignKeyAction::Restrict),
                    )
                    .to_owned(),
            )
            .await?;

        // The spec's index names, so its queries and tooling find them.
        for stmt in [
            index(
                "idx_session_status",
                WposZoomLinks::Table,
                [WposZoomLinks::SessionStatus],
            ),
            index(
                "idx_last_activity",
                WposZoomLinks::Table,
                [WposZoomLinks::LastActivityAt],
            ),
            // The sweep: active sessions whose last activity is older than the cut-off.
            index(
                "idx_status_last_activity",
                WposZoomLinks::Table,
                [WposZoomLinks::SessionStatus, WposZoomLinks::LastActivityAt],
            ),
            // The read side's filters, in the list's order (start, then id) and covering what
            // the statistics add up: a page stops early, a report reads one index, no rows.
            index(
                "idx_zoom_links_teacher_clicked",
                WposZoomLinks::Table,
                [
                    WposZoomLinks::TeacherId,
                    WposZoomLinks::ClickedAt,
                    WposZoomLinks::Id,
                    WposZoomLinks::SessionStatus,
                    WposZoomLinks::SessionDurationSeconds,
                ],
            ),
            index(
                "idx_zoom_links_student_clicked",
                WposZoomLinks::Table,
                [
                    WposZoomLinks::StudentId,
                    WposZoomLinks::ClickedAt,
                    WposZoomLinks::Id,
                    WposZoomLinks::SessionStatus,
                    WposZoomLinks::SessionDurationSeconds,
                ],
            ),
            index(
                "idx_zoom_links_clicked",
                WposZoomLinks::Table,
                [
                    WposZoomLinks::ClickedAt,
                    WposZoomLinks::Id,
                    WposZoomLinks::SessionStatus,
                    WposZoomLinks::SessionDurationSeconds,
                    WposZoomLinks::TeacherId,
                ],
            ),
        ] {
            manager.create_index(stmt).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(ApiKeys::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ApiKeys::Id))
                    .col(
                        string_len(ApiKeys::Role, 16)
                            .check(Expr::col(ApiKeys::Role).is_in(["admin", "teacher"])),
                    )
                    .col(big_integer_null(ApiKeys::TeacherId))
                    .col(string_len_uniq(ApiKeys::TokenHash, 64))
                    .col(date_time(ApiKeys::CreatedAt))
                    .col(date_time_null(ApiKeys::RevokedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_api_keys_teacher")
                            .from(ApiKeys::Table, ApiKeys::TeacherId)
                            .to(Teachers::Table, Teachers::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ApiKeys::Table.into_iden(),
            WposZoomLinks::Table.into_iden(),
            Students::Table.into_iden(),
            Teachers::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).if_exists().to_owned())
                .await?;
        }
        Ok(())
    }
}

//! What Zoom's webhooks say about a session: the meeting a link opens (to match events to it),
//! each join and leave of the student (one row each, paired by time when the session is
//! decided), and which events were already applied.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum WposZoomLinks {
    Table,
    Id,
    ClickedAt,
    ZoomMeetingId,
    ZoomJoinedAt,
    InMeetingSeconds,
    ZoomInMeeting,
}

#[derive(DeriveIden)]
enum ZoomParticipations {
    Table,
    Id,
    LinkId,
    ParticipantKey,
    ParticipantName,
    JoinedAt,
    LeftAt,
    LeftBy,
}

#[derive(DeriveIden)]
enum ZoomWebhookEvents {
    Table,
    EventKey,
    Event,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite adds one at a time.
        for column in [
            string_len_null(WposZoomLinks::ZoomMeetingId, 32),
            date_time_null(WposZoomLinks::ZoomJoinedAt),
            big_integer_null(WposZoomLinks::InMeetingSeconds),
            boolean(WposZoomLinks::ZoomInMeeting)
                .default(false)
                .to_owned(),
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WposZoomLinks::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // A join is matched to the links of its meeting clicked close to it.
        manager
            .create_index(
                Index::create()
                    .name("idx_zoom_links_meeting")
                    .table(WposZoomLinks::Table)
                    .col(WposZoomLinks::ZoomMeetingId)
                    .col(WposZoomLinks::ClickedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ZoomParticipations::Table)
                    .if_not_exists()
                    .col(big_pk_auto(ZoomParticipations::Id))
                    .col(big_integer(ZoomParticipations::LinkId))
                    .col(string_len(ZoomParticipations::ParticipantKey, 128))
                    .col(string_len(ZoomParticipations::ParticipantName, 200))
                    .col(date_time_null(ZoomParticipations::JoinedAt))
                    .col(date_time_null(ZoomParticipations::LeftAt))
                    .col(string_len_null(ZoomParticipations::LeftBy, 16).check(
                        Expr::col(ZoomParticipations::LeftBy).is_in(["left_zoom", "meeting_ended"]),
                    ))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_zoom_participations_link")
                            .from(ZoomParticipations::Table, ZoomParticipations::LinkId)
                            .to(WposZoomLinks::Table, WposZoomLinks::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_zoom_participations_link")
                    .table(ZoomParticipations::Table)
                    .col(ZoomParticipations::LinkId)
                    .col(ZoomParticipations::ParticipantKey)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ZoomWebhookEvents::Table)
                    .if_not_exists()
                    .col(string_len(ZoomWebhookEvents::EventKey, 64).primary_key())
                    .col(string_len(ZoomWebhookEvents::Event, 64))
                    .col(date_time(ZoomWebhookEvents::ReceivedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ZoomWebhookEvents::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(ZoomParticipations::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_zoom_links_meeting")
                    .table(WposZoomLinks::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            WposZoomLinks::ZoomInMeeting,
            WposZoomLinks::InMeetingSeconds,
            WposZoomLinks::ZoomJoinedAt,
            WposZoomLinks::ZoomMeetingId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(WposZoomLinks::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

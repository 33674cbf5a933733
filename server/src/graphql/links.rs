//! Issuing and reading Zoom links.

use async_graphql::{Context, ID, InputObject, Object};
use chrono::{DateTime, Utc};

use super::{
    context::{Gql, caller, error, notifier, settings, tracker},
    types::ZoomLink,
};
use crate::{
    domain::{ZoomUrl, attendance::LessonPlan, time},
    services::{links, notifications, parse_id, view},
};

#[derive(InputObject)]
pub struct IssueZoomLinkInput {
    pub teacher_id: ID,
    pub student_id: ID,
    /// An https link on a Zoom host, e.g. `https://us02web.zoom.us/j/85012345678?pwd=…`.
    pub zoom_url: String,
    /// When the lesson is planned to start; with `plannedMinutes`, the session gets an
    /// `attendance` state. From a day ago to a year ahead.
    pub planned_start: Option<DateTime<Utc>>,
    /// The planned length, 1 to 720 minutes; given with `plannedStart`.
    pub planned_minutes: Option<i32>,
}

#[derive(Default)]
pub struct LinkMutation;

#[Object]
impl LinkMutation {
    /// A teacher for themselves, an admin for any teacher. The student's Telegram message is
    /// sent in the background: `notificationStatus` follows it; issuing never waits for it.
    async fn issue_zoom_link(
        &self,
        ctx: &Context<'_>,
        input: IssueZoomLinkInput,
    ) -> async_graphql::Result<ZoomLink> {
        let caller = caller(ctx)?;
        let now = time::now();
        let rules = settings(ctx)?.attendance;
        let plan = LessonPlan::parse(input.planned_start, input.planned_minutes, now)
            .map_err(|msg| error("BAD_USER_INPUT", msg))?
            .map(|plan| plan.thresholds(rules));
        let issue = links::IssueLink {
            teacher_id: parse_id(&input.teacher_id, "teacherId").gql()?,
            student_id: parse_id(&input.student_id, "studentId").gql()?,
            zoom_url: ZoomUrl::parse(&input.zoom_url)
                .map_err(|msg| error("BAD_USER_INPUT", msg))?,
            plan,
        };
        let db = tracker(ctx)?.db();
        let notifier = notifier(ctx)?;
        let link = links::issue(db, caller, issue, notifier.enabled(), now)
            .await
            .gql()?;
        notifier.wake();
        view::view(db, link)
            .await
            .gql()
            .map(|view| ZoomLink::from(view).issued())
    }

    /// Sends the link's Telegram message again: the only way a second message goes out. A
    /// teacher for their own links, an admin for any. Refused while an attempt is in flight.
    async fn resend_notification(
        &self,
        ctx: &Context<'_>,
        link_id: ID,
    ) -> async_graphql::Result<ZoomLink> {
        let caller = caller(ctx)?;
        let id = parse_id(&link_id, "linkId").gql()?;
        let db = tracker(ctx)?.db();
        let notifier = notifier(ctx)?;
        let link = links::by_id(db, id).await.gql()?;
        let cooldown = settings(ctx)?.resend_cooldown;
        notifications::resend(db, caller, &link, notifier.enabled(), cooldown, time::now())
            .await
            .gql()?;
        notifier.wake();
        let link = links::by_id(db, id).await.gql()?;
        view::view(db, link).await.gql().map(Into::into)
    }
}

//! Session operations: the tracking endpoints' rules, and the manual auto-timeout.

use async_graphql::{Context, ID, Object};
use chrono::{DateTime, Utc};

use super::{
    context::{Gql, caller, error, tracker},
    types::{SessionEndResult, ZoomLink},
};
use crate::{
    domain::time,
    services::{
        self,
        auth::{self, Credential},
        corrections::Correction,
        parse_id,
        tracker::EndOutcome,
        view,
    },
};

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// The student is still there (as `POST /api/zoom/heartbeat`). The token is the credential;
    /// `visible`: whether the page showing the lesson is in the front.
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        token: String,
        visible: Option<bool>,
    ) -> async_graphql::Result<bool> {
        let token = services::parse_token(&token).gql()?;
        tracker(ctx)?
            .heartbeat(&token, visible, time::now())
            .await
            .gql()?;
        Ok(true)
    }

    /// Ends the session (as `POST /api/zoom/end-session`); repeating it returns the recorded end.
    async fn end_session(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> async_graphql::Result<SessionEndResult> {
        let token = services::parse_token(&token).gql()?;
        match tracker(ctx)?.end(&token, None, time::now()).await.gql()? {
            EndOutcome::Ended(end) => Ok(end.into()),
            EndOutcome::Superseded => Err(error(
                "INTERNAL",
                "an end without a visit is never superseded",
            )),
            EndOutcome::InMeeting => Err(error(
                "IN_MEETING",
                "Zoom reports the student in the meeting: the session ends when Zoom says they left",
            )),
        }
    }

    /// Admin. Sets a session's end (and so its duration) with a mandatory reason, between its
    /// start and now. The measured values stay in `correction`; no later automatic signal
    /// (a click, an end, Zoom, the timeout) changes a corrected session. Correcting again
    /// replaces the end and keeps every correction in `corrections`.
    async fn correct_session(
        &self,
        ctx: &Context<'_>,
        id: ID,
        ended_at: DateTime<Utc>,
        reason: String,
    ) -> async_graphql::Result<ZoomLink> {
        let credential = ctx
            .data_opt::<Credential>()
            .ok_or_else(|| error("UNAUTHENTICATED", "a valid credential is required"))?;
        let correction = Correction {
            link_id: parse_id(&id, "id").gql()?,
            ended_at,
            reason,
        };
        let tracker = tracker(ctx)?;
        let (link, _) = tracker
            .correct(credential, correction, time::now())
            .await
            .gql()?;
        view::view(tracker.db(), link).await.gql().map(Into::into)
    }

    /// Admin. Runs the auto-timeout now; returns how many sessions it ended.
    async fn run_auto_timeout(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        auth::require_admin(caller(ctx)?).gql()?;
        tracker(ctx)?.sweep(time::now()).await.gql()
    }
}

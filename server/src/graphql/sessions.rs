//! Session operations: the tracking endpoints' rules, and the manual auto-timeout.

use async_graphql::{Context, Object};

use super::{
    context::{Gql, caller, error, tracker},
    types::SessionEndResult,
};
use crate::{
    domain::time,
    services::{self, auth, tracker::EndOutcome},
};

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// The student is still there (as `POST /api/zoom/heartbeat`). The token is the credential.
    async fn heartbeat(&self, ctx: &Context<'_>, token: String) -> async_graphql::Result<bool> {
        let token = services::parse_token(&token).gql()?;
        tracker(ctx)?.heartbeat(&token, time::now()).await.gql()?;
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

    /// Admin. Runs the auto-timeout now; returns how many sessions it ended.
    async fn run_auto_timeout(&self, ctx: &Context<'_>) -> async_graphql::Result<u64> {
        auth::require_admin(caller(ctx)?).gql()?;
        tracker(ctx)?.sweep(time::now()).await.gql()
    }
}

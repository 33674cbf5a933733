//! Session operations: the tracking endpoints' rules, and the manual auto-timeout.

use async_graphql::{Context, Object};

use super::{Gql, beats, caller, db, error, events, read_db, settings, types::SessionEndResult};
use crate::{
    domain::{TrackingToken, time},
    services::{
        auth,
        sessions::{self, EndOutcome},
    },
};

fn token(value: &str) -> async_graphql::Result<TrackingToken> {
    TrackingToken::parse(value).ok_or_else(|| error("BAD_USER_INPUT", "token is malformed"))
}

#[derive(Default)]
pub struct SessionMutation;

#[Object]
impl SessionMutation {
    /// The student is still there (as `POST /api/zoom/heartbeat`). The token is the credential.
    async fn heartbeat(&self, ctx: &Context<'_>, token: String) -> async_graphql::Result<bool> {
        let token = self::token(&token)?;
        sessions::heartbeat(
            db(ctx)?,
            read_db(ctx)?,
            events(ctx)?,
            beats(ctx)?,
            &token,
            settings(ctx)?.rules,
            time::now(),
        )
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
        let token = self::token(&token)?;
        match sessions::end(
            db(ctx)?,
            events(ctx)?,
            beats(ctx)?,
            &token,
            None,
            settings(ctx)?.rules,
            time::now(),
        )
        .await
        .gql()?
        {
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
        sessions::sweep(
            db(ctx)?,
            events(ctx)?,
            beats(ctx)?,
            settings(ctx)?.rules.timeout,
            time::now(),
        )
        .await
        .gql()
    }
}

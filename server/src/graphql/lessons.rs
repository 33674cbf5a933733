//! What schools do with the numbers: planned lessons and their attendance, links never opened,
//! corrections of a session's end and their audit trail, a session's timeline, payroll.

use async_graphql::{
    Context, ID, Object,
    connection::{Connection, Edge},
};
use chrono::NaiveDate;

use super::{
    context::{Gql, caller, error, tracker},
    reports::{SessionFilter, link_connection},
    types::{Correction, PayrollRow, ZoomLink},
};
use crate::{
    domain::time,
    services::{
        corrections, parse_id,
        reports::{self, Listing},
    },
};

#[derive(Default)]
pub struct LessonQuery;

#[Object]
impl LessonQuery {
    /// Links, opened or not, newest issued first; cursor-paginated (at most 100 a page). The
    /// filter's `status` may hold `PENDING` (never opened) and its `attendance` every state; its
    /// days select by issue day. A page costs its size times its fields.
    #[graphql(
        complexity = "first.unwrap_or(reports::DEFAULT_PAGE as i64).clamp(1, reports::MAX_PAGE as i64) as usize * child_complexity"
    )]
    async fn links(
        &self,
        ctx: &Context<'_>,
        filter: Option<SessionFilter>,
        first: Option<i64>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, ZoomLink>> {
        let filter = SessionFilter::parse_for(filter.as_ref(), caller(ctx)?, Listing::Links)?;
        let first = reports::page_size(first).gql()?;
        let page = reports::links(tracker(ctx)?.read(), &filter, first, after.as_deref())
            .await
            .gql()?;
        Ok(link_connection(page))
    }

    /// Per teacher, the lessons of the days `from` to `to` (in `timeZone`, default UTC; at most
    /// 366 days): lessons held and the minutes paid for them, planned minutes and attendance.
    /// A lesson counts in the period of its planned start, else of its first click. Admins get
    /// every teacher with a lesson in the period, a teacher its own row. Costs 100.
    #[graphql(complexity = 100)]
    async fn payroll(
        &self,
        ctx: &Context<'_>,
        from: NaiveDate,
        to: NaiveDate,
        time_zone: Option<String>,
    ) -> async_graphql::Result<Vec<PayrollRow>> {
        let caller = caller(ctx)?;
        let range = reports::period(from, to, time_zone.as_deref()).gql()?;
        Ok(
            reports::payroll(tracker(ctx)?.read(), caller, range, time::now())
                .await
                .gql()?
                .into_iter()
                .map(Into::into)
                .collect(),
        )
    }

    /// Corrections of sessions' ends, newest first (at most 100 a page); a teacher reads those
    /// of its own sessions. A page costs its size times its fields.
    #[graphql(
        complexity = "first.unwrap_or(reports::DEFAULT_PAGE as i64).clamp(1, reports::MAX_PAGE as i64) as usize * child_complexity"
    )]
    async fn corrections(
        &self,
        ctx: &Context<'_>,
        teacher_id: Option<ID>,
        first: Option<i64>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Correction>> {
        let teacher = teacher_id
            .map(|id| parse_id(&id, "teacherId"))
            .transpose()
            .gql()?;
        let first = reports::page_size(first).gql()?;
        let after = after
            .map(|cursor| {
                cursor
                    .parse::<i64>()
                    .map_err(|_| error("BAD_USER_INPUT", "`after` is not a cursor from this list"))
            })
            .transpose()?;
        let (rows, more) =
            corrections::list(tracker(ctx)?.read(), caller(ctx)?, teacher, first, after)
                .await
                .gql()?;
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|row| Edge::new(row.id.to_string(), Correction::from(row))),
        );
        Ok(connection)
    }
}

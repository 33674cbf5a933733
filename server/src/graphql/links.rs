//! Issuing and reading Zoom links.

use async_graphql::{Context, ID, InputObject, Object};

use super::{Gql, caller, db, error, parse_id, types::ZoomLink};
use crate::{
    domain::{Caller, ZoomUrl, time},
    services::{ServiceError, links},
};

#[derive(InputObject)]
pub struct IssueZoomLinkInput {
    pub teacher_id: ID,
    pub student_id: ID,
    /// An https link on a Zoom host, e.g. `https://us02web.zoom.us/j/85012345678?pwd=…`.
    pub zoom_url: String,
}

#[derive(Default)]
pub struct LinkQuery;

#[Object]
impl LinkQuery {
    /// One link and its session: admins see all, a teacher only their own.
    async fn zoom_link(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ZoomLink> {
        let caller = caller(ctx)?;
        let link = links::by_id(db(ctx)?, parse_id(&id, "id")?).await.gql()?;
        match caller {
            Caller::Teacher(own) if own != link.teacher_id => {
                Err(ServiceError::NotFound("zoom link")).gql()
            }
            _ => Ok(link.into()),
        }
    }
}

#[derive(Default)]
pub struct LinkMutation;

#[Object]
impl LinkMutation {
    /// A teacher for themselves, an admin for any teacher.
    async fn issue_zoom_link(
        &self,
        ctx: &Context<'_>,
        input: IssueZoomLinkInput,
    ) -> async_graphql::Result<ZoomLink> {
        let caller = caller(ctx)?;
        let issue = links::IssueLink {
            teacher_id: parse_id(&input.teacher_id, "teacherId")?,
            student_id: parse_id(&input.student_id, "studentId")?,
            zoom_url: ZoomUrl::parse(&input.zoom_url)
                .map_err(|msg| error("BAD_USER_INPUT", msg))?,
        };
        links::issue(db(ctx)?, caller, issue, time::now())
            .await
            .gql()
            .map(Into::into)
    }
}

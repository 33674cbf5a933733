//! GraphQL output types, mapped from the entities (the API and the tables change for
//! different reasons).

use async_graphql::{ComplexObject, Context, Enum, ID, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{
    api_key::{self, ApiRole as DbRole},
    student, teacher,
    zoom_link::{self, SessionStatus as DbStatus},
};

use super::{Gql, db, settings};
use crate::{
    domain::time,
    services::{self, sessions::SessionEnd},
};

#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum ApiRole {
    Admin,
    Teacher,
}

impl From<ApiRole> for DbRole {
    fn from(role: ApiRole) -> Self {
        match role {
            ApiRole::Admin => DbRole::Admin,
            ApiRole::Teacher => DbRole::Teacher,
        }
    }
}

impl From<DbRole> for ApiRole {
    fn from(role: DbRole) -> Self {
        match role {
            DbRole::Admin => ApiRole::Admin,
            DbRole::Teacher => ApiRole::Teacher,
        }
    }
}

/// Where a link's session stands. `PENDING`: issued, never opened.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum SessionStatus {
    Pending,
    Active,
    Ended,
    Timeout,
}

impl From<Option<DbStatus>> for SessionStatus {
    fn from(status: Option<DbStatus>) -> Self {
        match status {
            None => Self::Pending,
            Some(DbStatus::Active) => Self::Active,
            Some(DbStatus::Ended) => Self::Ended,
            Some(DbStatus::Timeout) => Self::Timeout,
        }
    }
}

#[derive(SimpleObject)]
pub struct Teacher {
    pub id: ID,
    pub name: String,
    pub telegram_chat_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<teacher::Model> for Teacher {
    fn from(m: teacher::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            telegram_chat_id: m.telegram_chat_id,
            created_at: time::from_db(m.created_at),
        }
    }
}

#[derive(SimpleObject)]
pub struct Student {
    pub id: ID,
    pub name: String,
    pub telegram_chat_id: String,
    pub created_at: DateTime<Utc>,
}

impl From<student::Model> for Student {
    fn from(m: student::Model) -> Self {
        Self {
            id: m.id.into(),
            name: m.name,
            telegram_chat_id: m.telegram_chat_id,
            created_at: time::from_db(m.created_at),
        }
    }
}

/// An issued Zoom link and the session it tracks.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct ZoomLink {
    pub id: ID,
    pub teacher_id: ID,
    pub student_id: ID,
    pub zoom_url: String,
    pub issued_at: DateTime<Utc>,
    pub status: SessionStatus,
    /// The first click: when the session started.
    pub clicked_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub last_activity_at: Option<DateTime<Utc>>,
    pub duration_minutes: Option<i32>,
    pub duration_seconds: Option<i64>,
    #[graphql(skip)]
    token: String,
    #[graphql(skip)]
    teacher: i64,
    #[graphql(skip)]
    student: i64,
}

#[ComplexObject]
impl ZoomLink {
    /// The URL the student opens; it starts the session.
    async fn tracking_url(&self, ctx: &Context<'_>) -> async_graphql::Result<String> {
        Ok(settings(ctx)?.tracking_url(&self.token))
    }

    async fn teacher(&self, ctx: &Context<'_>) -> async_graphql::Result<Teacher> {
        services::people::teacher(db(ctx)?, self.teacher)
            .await
            .gql()
            .map(Into::into)
    }

    async fn student(&self, ctx: &Context<'_>) -> async_graphql::Result<Student> {
        services::people::student(db(ctx)?, self.student)
            .await
            .gql()
            .map(Into::into)
    }
}

impl From<zoom_link::Model> for ZoomLink {
    fn from(m: zoom_link::Model) -> Self {
        Self {
            id: m.id.into(),
            teacher_id: m.teacher_id.into(),
            student_id: m.student_id.into(),
            zoom_url: m.zoom_url,
            issued_at: time::from_db(m.created_at),
            status: m.session_status.into(),
            clicked_at: m.clicked_at.map(time::from_db),
            ended_at: m.session_ended_at.map(time::from_db),
            last_activity_at: m.last_activity_at.map(time::from_db),
            duration_minutes: m.session_duration_minutes,
            duration_seconds: m.session_duration_seconds,
            token: m.tracking_token,
            teacher: m.teacher_id,
            student: m.student_id,
        }
    }
}

/// A new credential. `token` is shown this once; only its hash is stored.
#[derive(SimpleObject)]
pub struct NewApiKey {
    pub id: ID,
    pub role: ApiRole,
    pub teacher_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    pub token: String,
}

impl NewApiKey {
    pub fn new(key: api_key::Model, token: String) -> Self {
        Self {
            id: key.id.into(),
            role: key.role.into(),
            teacher_id: key.teacher_id.map(Into::into),
            created_at: time::from_db(key.created_at),
            token,
        }
    }
}

/// How a session ended.
#[derive(SimpleObject)]
pub struct SessionEndResult {
    pub status: SessionStatus,
    pub ended_at: DateTime<Utc>,
    pub duration_minutes: i32,
    pub duration_seconds: i64,
}

impl From<SessionEnd> for SessionEndResult {
    fn from(end: SessionEnd) -> Self {
        Self {
            status: Some(end.status).into(),
            ended_at: end.ended_at,
            duration_minutes: end.duration_minutes,
            duration_seconds: end.duration_seconds,
        }
    }
}

/// The caller of `me`.
#[derive(SimpleObject)]
pub struct Viewer {
    pub role: ApiRole,
    pub teacher_id: Option<ID>,
}

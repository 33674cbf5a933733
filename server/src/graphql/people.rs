//! Teachers, students, credentials and the caller.

use std::sync::Arc;

use async_graphql::{Context, Enum, ID, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_key::{self, ApiRole as DbRole};

use super::{
    context::{Gql, caller, tracker},
    types::{Student, Teacher},
};
use crate::{
    domain::{Caller, time},
    services::{
        auth::{self, Revocations},
        parse_id, people,
    },
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

/// A credential as admins see it: never its token (only its hash is stored).
#[derive(SimpleObject)]
pub struct ApiKey {
    pub id: ID,
    pub role: ApiRole,
    pub teacher_id: Option<ID>,
    pub created_at: DateTime<Utc>,
    /// When it was last used, to the minute; null when never.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; null while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<api_key::Model> for ApiKey {
    fn from(key: api_key::Model) -> Self {
        Self {
            id: key.id.into(),
            role: key.role.into(),
            teacher_id: key.teacher_id.map(Into::into),
            created_at: time::from_db(key.created_at),
            last_used_at: key.last_used_at.map(time::from_db),
            revoked_at: key.revoked_at.map(time::from_db),
        }
    }
}

/// The caller of `me`.
#[derive(SimpleObject)]
pub struct Viewer {
    pub role: ApiRole,
    pub teacher_id: Option<ID>,
}

#[derive(InputObject)]
pub struct PersonInput {
    pub name: String,
    /// A numeric Telegram chat id (may exceed 32 bits) or an `@username`.
    pub telegram_chat_id: String,
}

#[derive(InputObject)]
pub struct CreateApiKeyInput {
    pub role: ApiRole,
    /// Required for a TEACHER credential: the teacher it acts as.
    pub teacher_id: Option<ID>,
}

#[derive(Default)]
pub struct PeopleQuery;

#[Object]
impl PeopleQuery {
    /// Who the credential of this request belongs to.
    async fn me(&self, ctx: &Context<'_>) -> async_graphql::Result<Viewer> {
        Ok(match caller(ctx)? {
            Caller::Admin => Viewer {
                role: ApiRole::Admin,
                teacher_id: None,
            },
            Caller::Teacher(id) => Viewer {
                role: ApiRole::Teacher,
                teacher_id: Some(id.into()),
            },
        })
    }

    /// Admin. Every credential, newest first, revoked ones included; never a token.
    async fn api_keys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ApiKey>> {
        auth::require_admin(caller(ctx)?).gql()?;
        let keys = auth::api_keys(tracker(ctx)?.read()).await.gql()?;
        Ok(keys.into_iter().map(Into::into).collect())
    }
}

#[derive(Default)]
pub struct PeopleMutation;

#[Object]
impl PeopleMutation {
    /// Admin.
    async fn create_teacher(
        &self,
        ctx: &Context<'_>,
        input: PersonInput,
    ) -> async_graphql::Result<Teacher> {
        auth::require_admin(caller(ctx)?).gql()?;
        let input = people::PersonInput::parse(&input.name, &input.telegram_chat_id).gql()?;
        people::create_teacher(tracker(ctx)?.db(), input, time::now())
            .await
            .gql()
            .map(Into::into)
    }

    /// Admin.
    async fn create_student(
        &self,
        ctx: &Context<'_>,
        input: PersonInput,
    ) -> async_graphql::Result<Student> {
        auth::require_admin(caller(ctx)?).gql()?;
        let input = people::PersonInput::parse(&input.name, &input.telegram_chat_id).gql()?;
        people::create_student(tracker(ctx)?.db(), input, time::now())
            .await
            .gql()
            .map(Into::into)
    }

    /// Admin. The token is returned once and cannot be read again.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        input: CreateApiKeyInput,
    ) -> async_graphql::Result<NewApiKey> {
        auth::require_admin(caller(ctx)?).gql()?;
        let teacher = input
            .teacher_id
            .as_ref()
            .map(|id| parse_id(id, "teacherId"))
            .transpose()
            .gql()?;
        let created =
            auth::create_api_key(tracker(ctx)?.db(), input.role.into(), teacher, time::now())
                .await
                .gql()?;
        Ok(NewApiKey::new(created.key, created.token))
    }

    /// Admin. The key stops working at once and its open subscriptions close. Revoking a
    /// revoked key returns it unchanged.
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<ApiKey> {
        auth::require_admin(caller(ctx)?).gql()?;
        let id = parse_id(&id, "id").gql()?;
        let revocations = ctx.data::<Arc<Revocations>>()?;
        auth::revoke_api_key(tracker(ctx)?.db(), revocations, id, time::now())
            .await
            .gql()
            .map(Into::into)
    }
}

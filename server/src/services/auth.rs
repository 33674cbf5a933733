//! Credentials: who a bearer token belongs to, and issuing new ones.

use chrono::{DateTime, Utc};
use entity::api_key::{self, ApiRole};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use subtle::ConstantTimeEq;

use super::{Result, ServiceError, people};
use crate::domain::{ApiToken, Caller, TeacherId, time};

/// The caller a bearer token stands for. `admin_token_hash` is the hash of `ADMIN_TOKEN`.
pub async fn authenticate(
    db: &impl ConnectionTrait,
    admin_token_hash: Option<&str>,
    token: &str,
) -> Result<Caller> {
    let hash = ApiToken::hash(token);
    if admin_token_hash.is_some_and(|admin| bool::from(admin.as_bytes().ct_eq(hash.as_bytes()))) {
        return Ok(Caller::Admin);
    }
    let key = api_key::Entity::find()
        .filter(api_key::Column::TokenHash.eq(hash))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .ok_or(ServiceError::Unauthenticated)?;
    match (key.role, key.teacher_id) {
        (ApiRole::Admin, _) => Ok(Caller::Admin),
        (ApiRole::Teacher, Some(teacher)) => Ok(Caller::Teacher(teacher)),
        (ApiRole::Teacher, None) => Err(ServiceError::Unauthenticated),
    }
}

pub fn require_admin(caller: Caller) -> Result<()> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(
            "this operation needs an admin credential",
        ))
    }
}

/// A new credential; the token is returned once and only its hash is kept.
pub struct NewApiKey {
    pub key: api_key::Model,
    pub token: String,
}

pub async fn create_api_key(
    db: &impl ConnectionTrait,
    role: ApiRole,
    teacher_id: Option<TeacherId>,
    now: DateTime<Utc>,
) -> Result<NewApiKey> {
    match (role, teacher_id) {
        (ApiRole::Teacher, None) => {
            return Err(ServiceError::BadInput(
                "a TEACHER credential needs teacherId".into(),
            ));
        }
        (ApiRole::Admin, Some(_)) => {
            return Err(ServiceError::BadInput(
                "an ADMIN credential is not bound to a teacher: leave teacherId out".into(),
            ));
        }
        (ApiRole::Teacher, Some(id)) => {
            people::teacher(db, id).await?;
        }
        (ApiRole::Admin, None) => {}
    }
    let token = ApiToken::generate()?;
    let key = api_key::ActiveModel {
        role: Set(role),
        teacher_id: Set(teacher_id),
        token_hash: Set(ApiToken::hash(token.as_str())),
        created_at: Set(time::to_db(now)),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(NewApiKey {
        key,
        token: token.into_string(),
    })
}

/// At first start without `ADMIN_TOKEN`: makes an admin credential when none exists.
/// Returns the new token, to be shown once.
pub async fn bootstrap_admin(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<String>> {
    let exists = api_key::Entity::find()
        .filter(api_key::Column::Role.eq(ApiRole::Admin))
        .filter(api_key::Column::RevokedAt.is_null())
        .one(db)
        .await?
        .is_some();
    if exists {
        return Ok(None);
    }
    let created = create_api_key(db, ApiRole::Admin, None, now).await?;
    Ok(Some(created.token))
}

//! Credentials: who a bearer token belongs to, and issuing new ones.

use chrono::{DateTime, Utc};
use entity::api_key::{self, ApiRole};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, sea_query::Expr,
};
use subtle::ConstantTimeEq;
use tokio::sync::broadcast;

use super::{Result, ServiceError, people};
use crate::domain::{ApiKeyId, ApiToken, Caller, TeacherId, time};

/// Who a bearer token is: the caller, and the stored key it is (none for `ADMIN_TOKEN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Credential {
    pub caller: Caller,
    pub key: Option<ApiKeyId>,
    /// The key's last recorded use.
    pub last_used: Option<DateTime<Utc>>,
}

/// The credential a bearer token stands for. `admin_token_hash` is the hash of `ADMIN_TOKEN`.
pub async fn identify(
    db: &impl ConnectionTrait,
    admin_token_hash: Option<&str>,
    token: &str,
) -> Result<Credential> {
    let hash = ApiToken::hash(token);
    if admin_token_hash.is_some_and(|admin| bool::from(admin.as_bytes().ct_eq(hash.as_bytes()))) {
        return Ok(Credential {
            caller: Caller::Admin,
            key: None,
            last_used: None,
        });
    }
    let key = super::unique(
        api_key::Entity::find()
            .filter(api_key::Column::TokenHash.eq(hash))
            .filter(api_key::Column::RevokedAt.is_null()),
        db,
    )
    .await?
    .ok_or(ServiceError::Unauthenticated)?;
    let caller = match (key.role, key.teacher_id) {
        (ApiRole::Admin, _) => Caller::Admin,
        (ApiRole::Teacher, Some(teacher)) => Caller::Teacher(teacher),
        (ApiRole::Teacher, None) => return Err(ServiceError::Unauthenticated),
    };
    Ok(Credential {
        caller,
        key: Some(key.id),
        last_used: key.last_used_at.map(time::from_db),
    })
}

/// How often a key's last use is written: at most once a minute, not on every request.
const USE_RECORDED_EVERY: chrono::Duration = chrono::Duration::minutes(1);

/// Records that `credential` was used now, when its last recorded use is a minute old.
pub async fn note_use(
    db: &impl ConnectionTrait,
    credential: &Credential,
    now: DateTime<Utc>,
) -> Result<()> {
    let Some(key) = credential.key else {
        return Ok(());
    };
    if credential
        .last_used
        .is_some_and(|last| last > now - USE_RECORDED_EVERY)
    {
        return Ok(());
    }
    // Conditional: of requests arriving together, one writes.
    api_key::Entity::update_many()
        .col_expr(api_key::Column::LastUsedAt, Expr::value(time::to_db(now)))
        .filter(api_key::Column::Id.eq(key))
        .filter(
            Condition::any()
                .add(api_key::Column::LastUsedAt.is_null())
                .add(api_key::Column::LastUsedAt.lte(time::to_db(now - USE_RECORDED_EVERY))),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// Tells long-lived connections (WebSocket subscriptions) that a key stopped working.
pub struct Revocations(broadcast::Sender<ApiKeyId>);

impl Default for Revocations {
    fn default() -> Self {
        Self(broadcast::channel(256).0)
    }
}

impl Revocations {
    pub fn subscribe(&self) -> broadcast::Receiver<ApiKeyId> {
        self.0.subscribe()
    }

    fn announce(&self, key: ApiKeyId) {
        // Nobody listening is fine: no connection uses the key.
        let _ = self.0.send(key);
    }

    /// Whether any connection listens (one with a credential is open).
    pub fn listened(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Closes this server's connections that use a key revoked on another server sharing the
    /// database: the keys revoked since `since` (a window wider than the time between two
    /// calls and the servers' clocks' difference; a key announced twice closes nothing more).
    /// Returns how many keys were announced.
    pub async fn announce_revoked_since(
        &self,
        db: &impl ConnectionTrait,
        since: DateTime<Utc>,
    ) -> Result<usize> {
        let keys: Vec<ApiKeyId> = api_key::Entity::find()
            .select_only()
            .column(api_key::Column::Id)
            .filter(api_key::Column::RevokedAt.gte(time::to_db(since)))
            .into_tuple()
            .all(db)
            .await?;
        for key in &keys {
            self.announce(*key);
        }
        Ok(keys.len())
    }
}

/// Whether a key still works (a connection that missed announcements asks).
pub async fn is_live(db: &impl ConnectionTrait, key: ApiKeyId) -> Result<bool> {
    Ok(super::unique(
        api_key::Entity::find_by_id(key).filter(api_key::Column::RevokedAt.is_null()),
        db,
    )
    .await?
    .is_some())
}

/// Every credential, newest first (the tokens themselves are never stored).
pub async fn api_keys(db: &impl ConnectionTrait) -> Result<Vec<api_key::Model>> {
    Ok(api_key::Entity::find()
        .order_by_desc(api_key::Column::Id)
        .all(db)
        .await?)
}

/// Revokes a key: it stops working at once, and its open connections close. Revoking a revoked
/// key changes nothing and returns it as it is.
pub async fn revoke_api_key(
    db: &impl ConnectionTrait,
    revocations: &Revocations,
    id: ApiKeyId,
    now: DateTime<Utc>,
) -> Result<api_key::Model> {
    api_key::Entity::update_many()
        .col_expr(api_key::Column::RevokedAt, Expr::value(time::to_db(now)))
        .filter(api_key::Column::Id.eq(id))
        .filter(api_key::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    let key = api_key::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(ServiceError::NotFound("API key"))?;
    revocations.announce(id);
    Ok(key)
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
        last_used_at: Set(None),
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

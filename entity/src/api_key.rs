use sea_orm::entity::prelude::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ApiRole {
    #[sea_orm(string_value = "admin")]
    Admin,
    #[sea_orm(string_value = "teacher")]
    Teacher,
}

/// An API credential. Only the SHA-256 of the token is stored; the token is shown once.
#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::ApiKeyId,
    pub role: ApiRole,
    pub teacher_id: Option<crate::TeacherId>,
    #[sea_orm(unique)]
    pub token_hash: String,
    pub created_at: DateTime,
    pub revoked_at: Option<DateTime>,
    /// Recorded at most once a minute.
    pub last_used_at: Option<DateTime>,
}

impl ActiveModelBehavior for ActiveModel {}

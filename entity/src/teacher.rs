use sea_orm::entity::prelude::*;

#[sea_orm::model]
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "teachers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: crate::TeacherId,
    pub name: String,
    pub telegram_chat_id: String,
    pub created_at: DateTime,
    #[sea_orm(has_many)]
    pub zoom_links: HasMany<super::zoom_link::Entity>,
}

impl ActiveModelBehavior for ActiveModel {}

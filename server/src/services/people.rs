//! Teachers and students.

use entity::{student, teacher};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::{Result, ServiceError};
use crate::domain::{StudentId, TeacherId, time};
use chrono::{DateTime, Utc};

const MAX_NAME: usize = 200;
const MAX_CHAT_ID: usize = 64;

/// A validated name and Telegram chat id.
pub struct PersonInput {
    pub name: String,
    pub telegram_chat_id: String,
}

impl PersonInput {
    pub fn parse(name: &str, telegram_chat_id: &str) -> Result<Self> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(ServiceError::BadInput(format!(
                "name must be 1 to {MAX_NAME} characters"
            )));
        }
        let chat = telegram_chat_id.trim();
        let digits = chat.strip_prefix('-').unwrap_or(chat);
        let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
        let username = chat.strip_prefix('@').is_some_and(|u| {
            (4..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if chat.len() > MAX_CHAT_ID || !(numeric || username) {
            return Err(ServiceError::BadInput(
                "telegramChatId must be a numeric chat id (e.g. 123456789 or -1001234567890) \
                 or an @username"
                    .into(),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            telegram_chat_id: chat.to_owned(),
        })
    }
}

pub async fn create_teacher(
    db: &impl ConnectionTrait,
    input: PersonInput,
    now: DateTime<Utc>,
) -> Result<teacher::Model> {
    Ok(teacher::ActiveModel {
        name: Set(input.name),
        telegram_chat_id: Set(input.telegram_chat_id),
        created_at: Set(time::to_db(now)),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn create_student(
    db: &impl ConnectionTrait,
    input: PersonInput,
    now: DateTime<Utc>,
) -> Result<student::Model> {
    Ok(student::ActiveModel {
        name: Set(input.name),
        telegram_chat_id: Set(input.telegram_chat_id),
        created_at: Set(time::to_db(now)),
        ..Default::default()
    }
    .insert(db)
    .await?)
}

pub async fn teacher(db: &impl ConnectionTrait, id: TeacherId) -> Result<teacher::Model> {
    super::unique(teacher::Entity::find_by_id(id), db)
        .await?
        .ok_or(ServiceError::NotFound("teacher"))
}

pub async fn student(db: &impl ConnectionTrait, id: StudentId) -> Result<student::Model> {
    super::unique(student::Entity::find_by_id(id), db)
        .await?
        .ok_or(ServiceError::NotFound("student"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_ids_are_numbers_or_usernames() {
        for ok in ["123456789", "-1001234567890", "@anna_k", " 42 "] {
            assert!(PersonInput::parse("Anna", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-",
            "@ab",
            "anna",
            "12 34",
            "@bad-name",
            &"9".repeat(65),
        ] {
            assert!(PersonInput::parse("Anna", bad).is_err(), "{bad}");
        }
        assert!(PersonInput::parse("  ", "1").is_err());
        assert!(PersonInput::parse(&"x".repeat(201), "1").is_err());
    }
}

//! SeaORM entities: the tables, and the types of the ids the APIs take.
//!
//! Timestamps are `DATETIME` columns holding UTC wall-clock time with whole seconds, so the
//! spec's SQL (`DATE_SUB(NOW(), INTERVAL 2 HOUR)`) keeps working on MySQL/MariaDB.

pub mod api_key;
mod ids;
pub mod session_correction;
pub mod session_mark;
pub mod session_month_total;
pub mod session_total;
pub mod session_total_change;
pub mod student;
pub mod teacher;
pub mod telegram_notification;
pub mod zoom_link;
pub mod zoom_participation;
pub mod zoom_webhook_event;

pub use ids::{ApiKeyId, LinkId, NotAnId, StudentId, TeacherId};

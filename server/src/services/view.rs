//! A session with its teacher and student: what lists, exports, live events and messages show.

use std::collections::HashMap;

use entity::{student, teacher, zoom_link};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use super::{Result, ServiceError};
use crate::domain::{StudentId, TeacherId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionView {
    pub link: zoom_link::Model,
    pub teacher: teacher::Model,
    pub student: student::Model,
}

/// Teachers by id.
pub async fn teachers(
    db: &impl ConnectionTrait,
    ids: impl IntoIterator<Item = TeacherId>,
) -> Result<HashMap<TeacherId, teacher::Model>> {
    Ok(teacher::Entity::find()
        .filter(teacher::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect())
}

/// Attaches teachers and students to links: two queries, whatever the number of links.
pub async fn attach(
    db: &impl ConnectionTrait,
    links: Vec<zoom_link::Model>,
) -> Result<Vec<SessionView>> {
    let teacher_ids: Vec<TeacherId> = links.iter().map(|l| l.teacher_id).collect();
    let student_ids: Vec<StudentId> = links.iter().map(|l| l.student_id).collect();
    let teachers = teachers(db, teacher_ids).await?;
    let students: HashMap<StudentId, student::Model> = student::Entity::find()
        .filter(student::Column::Id.is_in(student_ids))
        .all(db)
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    links
        .into_iter()
        .map(|link| {
            let teacher = teachers.get(&link.teacher_id).cloned();
            let student = students.get(&link.student_id).cloned();
            match (teacher, student) {
                (Some(teacher), Some(student)) => Ok(SessionView {
                    link,
                    teacher,
                    student,
                }),
                _ => Err(ServiceError::Internal(format!(
                    "link {} lost its teacher or student",
                    link.id
                ))),
            }
        })
        .collect()
}

pub async fn view(db: &impl ConnectionTrait, link: zoom_link::Model) -> Result<SessionView> {
    attach(db, vec![link])
        .await?
        .pop()
        .ok_or(ServiceError::NotFound("session"))
}

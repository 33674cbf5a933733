//! The read side: filtered, paginated sessions and the statistics over them.
//!
//! A session is a link that was clicked (`session_status IS NOT NULL`). Every query applies one
//! [`SessionFilter`], so the list, the statistics, the CSV and the live events agree.

pub mod attendance;
pub mod csv;
mod daily;
mod filter;
mod list;
pub mod live;
mod payroll;
mod stats;

use entity::{student, teacher, zoom_link};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

pub use self::{
    daily::{DURATION_BOUNDS, DayStats, DurationBucket, daily, daily_range, durations},
    filter::{FilterParts, Listing, SessionFilter, parse_filter},
    list::{
        Cursor, DEFAULT_PAGE, MAX_PAGE, Page, Sort, SortKey, links, list, page_size, statements,
    },
    payroll::{PayrollRow, payroll, period},
    stats::{
        SessionStats, TeacherStats, attendance_counts, attendance_total, interruption_counts,
        stats, teacher_stats,
    },
};
use crate::{
    domain::{Caller, LinkId},
    services::{
        Result, ServiceError,
        view::{self, SessionView},
    },
};

/// One session: admins read any, a teacher only their own (others are "not found").
pub async fn session(db: &impl ConnectionTrait, caller: Caller, id: LinkId) -> Result<SessionView> {
    let link = crate::services::unique(zoom_link::Entity::find_by_id(id), db)
        .await?
        .filter(|link| match caller {
            Caller::Admin => true,
            Caller::Teacher(own) => link.teacher_id == own,
        })
        .ok_or(ServiceError::NotFound("session"))?;
    view::view(db, link).await
}

/// Everyone, by name: for filters and forms.
pub async fn teachers(db: &impl ConnectionTrait, caller: Caller) -> Result<Vec<teacher::Model>> {
    let mut select = teacher::Entity::find().order_by_asc(teacher::Column::Name);
    if let Caller::Teacher(own) = caller {
        select = select.filter(teacher::Column::Id.eq(own));
    }
    Ok(select.all(db).await?)
}

/// Students by name; a teacher sees the students they have issued links for.
pub async fn students(db: &impl ConnectionTrait, caller: Caller) -> Result<Vec<student::Model>> {
    let mut select = student::Entity::find().order_by_asc(student::Column::Name);
    if let Caller::Teacher(own) = caller {
        let theirs = zoom_link::Entity::find()
            .select_only()
            .column(zoom_link::Column::StudentId)
            .filter(zoom_link::Column::TeacherId.eq(own))
            .into_query();
        select = select.filter(student::Column::Id.in_subquery(theirs));
    }
    Ok(select.all(db).await?)
}

//! Attendance states in SQL: the rules of [`crate::domain::attendance`] as conditions on a
//! link's own columns, so that lists filter by them and statistics count them in the database.

use chrono::{DateTime, Utc};
use entity::zoom_link::{self, Column, SessionStatus};
use sea_orm::{
    Condition,
    sea_query::{Expr, ExprTrait, Func, SimpleExpr},
};

use crate::domain::{attendance::Attendance, time};

fn col(column: Column) -> Expr {
    Expr::col((zoom_link::Entity, column))
}

/// A plan with every threshold (they are stored together).
fn planned() -> Condition {
    [
        Column::PlannedStart,
        Column::LateAfter,
        Column::NoShowAfter,
        Column::ShortBelowSeconds,
    ]
    .into_iter()
    .fold(Condition::all(), |all, column| {
        all.add(col(column).is_not_null())
    })
}

fn unopened() -> Condition {
    Condition::all()
        .add(col(Column::ClickedAt).is_null())
        .add(col(Column::ZoomJoinedAt).is_null())
}

fn no_show_by(now: DateTime<Utc>) -> SimpleExpr {
    col(Column::NoShowAfter).lte(time::to_db(now))
}

/// Finished below its share of the planned length.
fn short() -> Condition {
    Condition::all()
        .add(col(Column::SessionStatus).is_in([SessionStatus::Ended, SessionStatus::Timeout]))
        .add(col(Column::SessionDurationSeconds).is_not_null())
        .add(col(Column::SessionDurationSeconds).lt(col(Column::ShortBelowSeconds)))
}

/// Started after the grace: Zoom's first join where Zoom spoke, else the first click.
fn late() -> SimpleExpr {
    Expr::expr(Func::coalesce([
        SimpleExpr::from(col(Column::ZoomJoinedAt)),
        SimpleExpr::from(col(Column::ClickedAt)),
    ]))
    .gt(col(Column::LateAfter))
}

/// Links in `state` at `now`.
pub fn condition(state: Attendance, now: DateTime<Utc>) -> Condition {
    let opened = planned().add(unopened().not());
    match state {
        Attendance::Pending => planned().add(unopened()).add(no_show_by(now).not()),
        Attendance::NoShow => planned().add(unopened()).add(no_show_by(now)),
        Attendance::Short => opened.add(short()),
        Attendance::Late => opened.add(short().not()).add(late()),
        Attendance::OnTime => opened.add(short().not()).add(late().not()),
    }
}

/// Links in any of `states` at `now`.
pub fn any_of(states: &[Attendance], now: DateTime<Utc>) -> Condition {
    states.iter().fold(Condition::any(), |any, state| {
        any.add(condition(*state, now))
    })
}

/// Planned lessons by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttendanceCounts {
    pub pending: i64,
    pub on_time: i64,
    pub late: i64,
    pub short: i64,
    pub no_show: i64,
}

impl AttendanceCounts {
    pub fn add(&mut self, state: Attendance, count: i64) {
        let slot = match state {
            Attendance::Pending => &mut self.pending,
            Attendance::OnTime => &mut self.on_time,
            Attendance::Late => &mut self.late,
            Attendance::Short => &mut self.short,
            Attendance::NoShow => &mut self.no_show,
        };
        *slot += count;
    }

    pub fn get(&self, state: Attendance) -> i64 {
        match state {
            Attendance::Pending => self.pending,
            Attendance::OnTime => self.on_time,
            Attendance::Late => self.late,
            Attendance::Short => self.short,
            Attendance::NoShow => self.no_show,
        }
    }

    pub fn planned(&self) -> i64 {
        self.pending + self.on_time + self.late + self.short + self.no_show
    }
}

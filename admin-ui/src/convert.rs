//! From the dashboard's state to each operation's variables, and from each operation's answer
//! to the rows the views show. (Every operation has its own generated types.)

use crate::{
    api::{links, live_stats, overview, session_events, sessions, teacher_stats_query},
    state::{Attendance, Filter, SortField, Status},
};

macro_rules! filter_of {
    ($module:ident) => {
        impl Filter {
            pub fn $module(&self, time_zone: &str) -> $module::SessionFilter {
                let none_if_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
                $module::SessionFilter {
                    teacher_id: self.teacher.clone(),
                    student_id: None,
                    status: (!self.statuses.is_empty()).then(|| {
                        self.statuses
                            .iter()
                            .map(|s| match s {
                                Status::Active => $module::SessionStatus::ACTIVE,
                                Status::Ended => $module::SessionStatus::ENDED,
                                Status::Timeout => $module::SessionStatus::TIMEOUT,
                            })
                            .collect()
                    }),
                    from: none_if_empty(&self.from),
                    to: none_if_empty(&self.to),
                    time_zone: Some(time_zone.to_owned()),
                    search: none_if_empty(&self.search),
                    attendance: (!self.attendance.is_empty()).then(|| {
                        self.attendance
                            .iter()
                            .map(|a| match a {
                                Attendance::OnTime => $module::AttendanceState::ON_TIME,
                                Attendance::Late => $module::AttendanceState::LATE,
                                Attendance::Short => $module::AttendanceState::SHORT,
                            })
                            .collect()
                    }),
                }
            }
        }
    };
}

filter_of!(overview);
filter_of!(live_stats);
filter_of!(sessions);
filter_of!(session_events);
filter_of!(teacher_stats_query);
filter_of!(links);

pub fn order(field: SortField, descending: bool) -> sessions::SessionOrder {
    sessions::SessionOrder {
        field: match field {
            SortField::Started => sessions::SessionSortField::STARTED_AT,
            SortField::Duration => sessions::SessionSortField::DURATION,
            SortField::Teacher => sessions::SessionSortField::TEACHER,
        },
        direction: if descending {
            sessions::SortDirection::DESC
        } else {
            sessions::SortDirection::ASC
        },
    }
}

/// A session as the table shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub id: String,
    pub status: String,
    pub teacher_id: String,
    pub teacher: String,
    pub student: String,
    pub clicked_at: Option<String>,
    pub ended_at: Option<String>,
    pub last_activity_at: Option<String>,
    pub duration_seconds: Option<i64>,
    /// `TAB_CLOSED`, `LEFT_ZOOM`, `MEETING_ENDED` or `TIMED_OUT`; none while running.
    pub end_reason: Option<String>,
    /// Zoom webhooks: the time actually in the meeting.
    pub in_meeting_seconds: Option<i64>,
    /// `ON_TIME`, `LATE`, `SHORT`, `NO_SHOW` or `PENDING`; none without a plan.
    pub attendance: Option<String>,
    pub planned_minutes: Option<i64>,
    /// An admin corrected the session's end.
    pub corrected: bool,
}

macro_rules! row_from {
    ($node:ty, $status:ty, $reason:ty, $attendance:ty) => {
        impl From<$node> for Row {
            fn from(n: $node) -> Self {
                Row {
                    id: n.id,
                    status: match n.status {
                        <$status>::ACTIVE => "ACTIVE",
                        <$status>::ENDED => "ENDED",
                        <$status>::TIMEOUT => "TIMEOUT",
                        _ => "PENDING",
                    }
                    .to_owned(),
                    teacher_id: n.teacher.id,
                    teacher: n.teacher.name,
                    student: n.student.name,
                    clicked_at: n.clicked_at,
                    ended_at: n.ended_at,
                    last_activity_at: n.last_activity_at,
                    duration_seconds: n.duration_seconds,
                    end_reason: n.end_reason.and_then(|reason| match reason {
                        <$reason>::TAB_CLOSED => Some("TAB_CLOSED".to_owned()),
                        <$reason>::LEFT_ZOOM => Some("LEFT_ZOOM".to_owned()),
                        <$reason>::MEETING_ENDED => Some("MEETING_ENDED".to_owned()),
                        <$reason>::TIMED_OUT => Some("TIMED_OUT".to_owned()),
                        _ => None,
                    }),
                    in_meeting_seconds: n.in_meeting_seconds,
                    attendance: n.attendance.and_then(|state| match state {
                        <$attendance>::ON_TIME => Some("ON_TIME".to_owned()),
                        <$attendance>::LATE => Some("LATE".to_owned()),
                        <$attendance>::SHORT => Some("SHORT".to_owned()),
                        <$attendance>::NO_SHOW => Some("NO_SHOW".to_owned()),
                        <$attendance>::PENDING => Some("PENDING".to_owned()),
                        _ => None,
                    }),
                    planned_minutes: n.planned_minutes,
                    corrected: n.corrected_at.is_some(),
                }
            }
        }
    };
}

row_from!(
    sessions::SessionsSessionsEdgesNode,
    sessions::SessionStatus,
    sessions::EndReason,
    sessions::AttendanceState
);
row_from!(
    session_events::SessionEventsSessionEventsSession,
    session_events::SessionStatus,
    session_events::EndReason,
    session_events::AttendanceState
);

/// The statistics cards.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub total: i64,
    pub active: i64,
    pub ended: i64,
    pub timeout: i64,
    pub total_minutes: i64,
    pub average_minutes: Option<f64>,
    pub never_clicked: i64,
}

macro_rules! stats_from {
    ($ty:ty) => {
        impl From<$ty> for Stats {
            fn from(s: $ty) -> Self {
                Stats {
                    total: s.total_sessions,
                    active: s.active_sessions,
                    ended: s.ended_sessions,
                    timeout: s.timeout_sessions,
                    total_minutes: s.total_duration_minutes,
                    average_minutes: s.avg_duration_minutes,
                    never_clicked: s.never_clicked_links,
                }
            }
        }
    };
}

stats_from!(overview::OverviewSessionStats);
stats_from!(live_stats::LiveStatsSessionStats);

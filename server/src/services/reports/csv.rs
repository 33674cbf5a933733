//! The CSV export's rows (RFC 4180), one per session.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use entity::session_correction;

use crate::{
    domain::{
        attendance::attendance,
        names::{end_reason_name, status_name},
        time,
    },
    services::{reports::PayrollRow, view::SessionView},
};

/// The columns. A corrected session's `ended_at` and durations are the corrected ones;
/// `measured_*` are what the tracking recorded before the first correction.
pub const HEADER: &str = "session_id,teacher_id,teacher_name,student_id,student_name,status,\
started_at,ended_at,last_activity_at,duration_minutes,duration_seconds,issued_at,zoom_url,end_reason,\
zoom_joined_at,in_meeting_seconds,planned_start,planned_minutes,attendance,corrected_at,\
correction_reason,corrected_by,measured_ended_at,measured_duration_seconds,interruptions,\
interrupted_seconds\r\n";

/// One RFC 4180 field: quoted when it holds a comma, a quote or a line break. Text that a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) is kept as text with a `'`.
fn field(value: &str) -> String {
    let guarded;
    let value = if value.starts_with(['=', '+', '-', '@']) {
        guarded = format!("'{value}");
        guarded.as_str()
    } else {
        value
    };
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// One session's line, its times in `tz`, its attendance at `now`, with its latest correction.
pub fn row(
    view: &SessionView,
    tz: Tz,
    now: DateTime<Utc>,
    correction: Option<&session_correction::Model>,
) -> String {
    let link = &view.link;
    let time = |at: Option<NaiveDateTime>| time::local(at, tz).unwrap_or_default();
    let number = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let fields = [
        link.id.to_string(),
        link.teacher_id.to_string(),
        field(&view.teacher.name),
        link.student_id.to_string(),
        field(&view.student.name),
        status_name(link.session_status).to_owned(),
        time(link.clicked_at),
        time(link.session_ended_at),
        time(link.last_activity_at),
        number(link.session_duration_minutes.map(i64::from)),
        number(link.session_duration_seconds),
        time(Some(link.created_at)),
        field(&link.zoom_url),
        link.session_end_reason
            .map(end_reason_name)
            .unwrap_or_default()
            .to_owned(),
        time(link.zoom_joined_at),
        number(link.in_meeting_seconds),
        time(link.planned_start),
        number(link.planned_minutes.map(i64::from)),
        attendance(link, now)
            .map(|state| state.name())
            .unwrap_or_default()
            .to_owned(),
        time(link.corrected_at),
        correction.map(|c| field(&c.reason)).unwrap_or_default(),
        correction
            .map(|c| field(&c.corrected_by))
            .unwrap_or_default(),
        time(correction.and_then(|c| c.measured_ended_at)),
        number(correction.and_then(|c| c.measured_duration_seconds)),
        link.interruptions.to_string(),
        link.interrupted_seconds.to_string(),
    ];
    let mut row = fields.join(",");
    row.push_str("\r\n");
    row
}

/// The payroll export's columns, one row per teacher.
pub const PAYROLL_HEADER: &str = "teacher_id,teacher_name,lessons,paid_minutes,paid_seconds,\
corrected_lessons,in_progress,planned_lessons,planned_minutes,on_time,late,short,no_show,pending\r\n";

/// One teacher's payroll line.
pub fn payroll_row(row: &PayrollRow) -> String {
    let a = &row.attendance;
    let fields = [
        row.teacher.id.to_string(),
        field(&row.teacher.name),
        row.lessons.to_string(),
        row.paid_minutes().to_string(),
        row.paid_seconds.to_string(),
        row.corrected.to_string(),
        row.in_progress.to_string(),
        row.planned_lessons.to_string(),
        row.planned_minutes.to_string(),
        a.on_time.to_string(),
        a.late.to_string(),
        a.short.to_string(),
        a.no_show.to_string(),
        a.pending.to_string(),
    ];
    let mut line = fields.join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(field("Anna"), "Anna");
        assert_eq!(field("Lee, Bob"), "\"Lee, Bob\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
    }
}

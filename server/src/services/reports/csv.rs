//! The CSV export's rows (RFC 4180), one per session.

use chrono::NaiveDateTime;
use chrono_tz::Tz;

use crate::{
    domain::{
        names::{end_reason_name, status_name},
        time,
    },
    services::view::SessionView,
};

pub const HEADER: &str = "session_id,teacher_id,teacher_name,student_id,student_name,status,\
started_at,ended_at,last_activity_at,duration_minutes,duration_seconds,issued_at,zoom_url,end_reason,\
zoom_joined_at,in_meeting_seconds\r\n";

/// One RFC 4180 field: quoted when it holds a comma, a quote or a line break.
fn field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// One session's line, its times in `tz`.
pub fn row(view: &SessionView, tz: Tz) -> String {
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
    ];
    let mut row = fields.join(",");
    row.push_str("\r\n");
    row
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
    }
}

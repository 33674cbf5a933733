//! What the admin is looking at: the view, the filters and the order. It lives in the URL's
//! query, so a view can be bookmarked and shared.

use wasm_bindgen::JsValue;
use web_sys::UrlSearchParams;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    Overview,
    Sessions,
    NotOpened,
    Teachers,
    People,
    Keys,
}

impl View {
    pub const ALL: [View; 6] = [
        View::Overview,
        View::Sessions,
        View::NotOpened,
        View::Teachers,
        View::People,
        View::Keys,
    ];

    pub fn key(self) -> &'static str {
        match self {
            View::Overview => "overview",
            View::Sessions => "sessions",
            View::NotOpened => "not-opened",
            View::Teachers => "teachers",
            View::People => "people",
            View::Keys => "keys",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Sessions => "Sessions",
            View::NotOpened => "Not opened",
            View::Teachers => "Teachers",
            View::People => "Teachers & students",
            View::Keys => "API keys",
        }
    }

    fn parse(key: &str) -> View {
        View::ALL
            .into_iter()
            .find(|v| v.key() == key)
            .unwrap_or(View::Overview)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Ended,
    Timeout,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Active, Status::Ended, Status::Timeout];

    /// The name in URLs and the CSV export.
    pub fn key(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Ended => "ended",
            Status::Timeout => "timeout",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Status::Active => "Active",
            Status::Ended => "Ended",
            Status::Timeout => "Timed out",
        }
    }
}

/// How a planned lesson went, for the sessions it can be said of (opened ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attendance {
    OnTime,
    Late,
    Short,
}

impl Attendance {
    pub const ALL: [Attendance; 3] = [Attendance::OnTime, Attendance::Late, Attendance::Short];

    /// The name in URLs and the CSV export.
    pub fn key(self) -> &'static str {
        match self {
            Attendance::OnTime => "on_time",
            Attendance::Late => "late",
            Attendance::Short => "short",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Attendance::OnTime => "On time",
            Attendance::Late => "Late",
            Attendance::Short => "Short",
        }
    }
}

/// The label of an attendance state as the API names it (`ON_TIME`, …, `NO_SHOW`).
pub fn attendance_label(state: &str) -> &'static str {
    match state {
        "ON_TIME" => "On time",
        "LATE" => "Late",
        "SHORT" => "Short",
        "NO_SHOW" => "No-show",
        "PENDING" => "Pending",
        _ => "",
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortField {
    Started,
    Duration,
    Teacher,
}

impl SortField {
    fn key(self) -> &'static str {
        match self {
            SortField::Started => "started",
            SortField::Duration => "duration",
            SortField::Teacher => "teacher",
        }
    }
}

/// Which sessions, as the filter bar sets them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub teacher: Option<String>,
    pub search: String,
    pub statuses: Vec<Status>,
    /// Planned lessons in these states; empty: every session.
    pub attendance: Vec<Attendance>,
    /// `YYYY-MM-DD` in the admin's time zone, or empty.
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub view: View,
    pub filter: Filter,
    pub sort: SortField,
    pub descending: bool,
    /// The session page open over the view, if any.
    pub session: Option<String>,
}

impl Route {
    /// The route in the address bar.
    pub fn current() -> Route {
        let search = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .unwrap_or_default();
        let params = UrlSearchParams::new_with_str(&search).ok();
        let get = |key: &str| {
            params
                .as_ref()
                .and_then(|p| p.get(key))
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let statuses = get("status")
            .map(|list| {
                Status::ALL
                    .into_iter()
                    .filter(|s| list.split(',').any(|part| part == s.key()))
                    .collect()
            })
            .unwrap_or_default();
        let attendance = get("attendance")
            .map(|list| {
                Attendance::ALL
                    .into_iter()
                    .filter(|a| list.split(',').any(|part| part == a.key()))
                    .collect()
            })
            .unwrap_or_default();
        let sort = match get("sort").as_deref() {
            Some("duration") => SortField::Duration,
            Some("teacher") => SortField::Teacher,
            _ => SortField::Started,
        };
        Route {
            view: View::parse(&get("view").unwrap_or_default()),
            filter: Filter {
                teacher: get("teacher"),
                search: get("search").unwrap_or_default(),
                statuses,
                attendance,
                from: get("from").unwrap_or_default(),
                to: get("to").unwrap_or_default(),
            },
            sort,
            descending: get("dir").as_deref() != Some("asc"),
            session: get("session"),
        }
    }

    /// The query string of this route (without defaults).
    pub fn query(&self) -> String {
        let params = self.filter.params();
        if self.view != View::Overview {
            params.set("view", self.view.key());
        }
        if self.sort != SortField::Started {
            params.set("sort", self.sort.key());
        }
        if !self.descending {
            params.set("dir", "asc");
        }
        if let Some(session) = &self.session {
            params.set("session", session);
        }
        params.to_string().as_string().unwrap_or_default()
    }

    /// Puts the route in the address bar (no reload, no new history entry).
    pub fn publish(&self) {
        let query = self.query();
        let Some(window) = web_sys::window() else {
            return;
        };
        let path = window.location().pathname().unwrap_or_default();
        let url = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        if let Ok(history) = window.history() {
            let _ = history.replace_state_with_url(&JsValue::NULL, "", Some(&url));
        }
    }
}

impl Filter {
    fn write(&self, params: &UrlSearchParams, teacher_key: &str) {
        if let Some(teacher) = &self.teacher {
            params.set(teacher_key, teacher);
        }
        if !self.search.trim().is_empty() {
            params.set("search", self.search.trim());
        }
        if !self.statuses.is_empty() {
            let list: Vec<_> = self.statuses.iter().map(|s| s.key()).collect();
            params.set("status", &list.join(","));
        }
        if !self.attendance.is_empty() {
            let list: Vec<_> = self.attendance.iter().map(|a| a.key()).collect();
            params.set("attendance", &list.join(","));
        }
        if !self.from.is_empty() {
            params.set("from", &self.from);
        }
        if !self.to.is_empty() {
            params.set("to", &self.to);
        }
    }

    /// The filter as the dashboard's query parameters.
    pub fn params(&self) -> UrlSearchParams {
        let params = new_params();
        self.write(&params, "teacher");
        params
    }

    /// The export URL of the sessions this filter selects, days read in `time_zone`.
    pub fn csv_url(&self, time_zone: &str) -> String {
        let params = new_params();
        self.write(&params, "teacherId");
        params.set("timeZone", time_zone);
        format!(
            "/api/admin/sessions.csv?{}",
            params.to_string().as_string().unwrap_or_default()
        )
    }
}

fn new_params() -> UrlSearchParams {
    UrlSearchParams::new().expect("every browser has URLSearchParams")
}

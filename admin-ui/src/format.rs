//! Times and lengths as the admin reads them: in the browser's time zone.

use js_sys::{Date, Intl, Object, Reflect};
use wasm_bindgen::JsValue;

/// The browser's IANA time zone, e.g. `Europe/Berlin`.
pub fn time_zone() -> String {
    let options =
        Intl::DateTimeFormat::new(&js_sys::Array::new(), &Object::new()).resolved_options();
    Reflect::get(&options, &JsValue::from_str("timeZone"))
        .ok()
        .and_then(|zone| zone.as_string())
        .unwrap_or_else(|| "UTC".into())
}

/// `2026-11-27 21:05:03` in the browser's time zone.
pub fn local_time(iso: &str) -> String {
    let date = Date::new(&JsValue::from_str(iso));
    if date.get_time().is_nan() {
        return iso.to_owned();
    }
    date.to_locale_string("sv-SE", &JsValue::UNDEFINED).into()
}

/// Today in the browser's time zone, `YYYY-MM-DD`.
pub fn today() -> String {
    Date::new_0()
        .to_locale_date_string("sv-SE", &JsValue::UNDEFINED)
        .into()
}

/// Seconds since `iso`, by the browser's clock.
pub fn seconds_since(iso: &str, now_ms: f64) -> Option<i64> {
    let start = Date::new(&JsValue::from_str(iso)).get_time();
    (!start.is_nan()).then(|| (((now_ms - start) / 1000.0).max(0.0)) as i64)
}

/// `1:02:03`, or `2:03` under an hour.
pub fn clock(seconds: i64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// `12 h 05 min`, or `45 min`.
pub fn minutes(total: i64) -> String {
    if total >= 60 {
        format!("{} h {:02} min", total / 60, total % 60)
    } else {
        format!("{total} min")
    }
}

/// `YYYY-MM-DD` moved by `days`; `None` when it is not a date.
pub fn add_days(day: &str, days: i64) -> Option<String> {
    let date = Date::new(&JsValue::from_str(&format!("{day}T00:00:00Z")));
    if date.get_time().is_nan() {
        return None;
    }
    let moved = Date::new(&JsValue::from_f64(
        date.get_time() + days as f64 * 86_400_000.0,
    ));
    moved
        .to_iso_string()
        .as_string()?
        .get(..10)
        .map(str::to_owned)
}

/// Days from `from` to `to`, both counted; `None` unless both are dates in that order.
pub fn days_between(from: &str, to: &str) -> Option<i64> {
    let at = |day: &str| Date::new(&JsValue::from_str(&format!("{day}T00:00:00Z"))).get_time();
    let (from, to) = (at(from), at(to));
    (!from.is_nan() && !to.is_nan() && from <= to)
        .then(|| ((to - from) / 86_400_000.0).round() as i64 + 1)
}

/// The first day of this month in the browser's time zone, `YYYY-MM-DD`.
pub fn month_start() -> String {
    let today = today();
    format!("{}-01", today.get(..7).unwrap_or("1970-01"))
}

/// A time as a `datetime-local` input shows it: `2026-11-27T21:05:03`, in the browser's zone.
pub fn local_input(iso: &str) -> String {
    local_time(iso).replacen(' ', "T", 1)
}

/// A `datetime-local` input's value (the browser's zone) as an RFC 3339 time in UTC.
pub fn from_local_input(value: &str) -> Option<String> {
    let date = Date::new(&JsValue::from_str(value));
    (!value.is_empty() && !date.get_time().is_nan())
        .then(|| date.to_iso_string().as_string())
        .flatten()
}

pub fn now_ms() -> f64 {
    Date::now()
}

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

pub fn now_ms() -> f64 {
    Date::now()
}

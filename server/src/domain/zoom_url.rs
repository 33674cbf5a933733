//! A Zoom meeting URL: https on a Zoom host, and what the tracking page derives from it.

use url::{Host, Url};

const MAX_LEN: usize = 2048;
const ZOOM_DOMAINS: [&str; 2] = ["zoom.us", "zoomgov.com"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoomUrl(Url);

impl ZoomUrl {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.len() > MAX_LEN {
            return Err(format!("zoomUrl is longer than {MAX_LEN} characters"));
        }
        let url = Url::parse(value).map_err(|e| format!("zoomUrl is not a valid URL: {e}"))?;
        if url.scheme() != "https" {
            return Err("zoomUrl must use https".into());
        }
        if !url.username().is_empty() || url.password().is_some() || url.port().is_some() {
            return Err("zoomUrl must not carry a user name, password or port".into());
        }
        let on_zoom = match url.host() {
            Some(Host::Domain(host)) => ZOOM_DOMAINS.iter().any(|domain| {
                host == *domain
                    || host
                        .strip_suffix(domain)
                        .is_some_and(|sub| sub.ends_with('.'))
            }),
            _ => false,
        };
        if !on_zoom {
            return Err("zoomUrl must be on a Zoom host (zoom.us or zoomgov.com)".into());
        }
        Ok(Self(url))
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The numeric meeting id (9 to 20 digits) of a `/j/<id>` or `/wc/join/<id>` link.
    pub fn meeting_id(&self) -> Option<String> {
        let mut segments = self.0.path_segments()?;
        let id = match segments.next()? {
            "j" | "s" => segments.next()?,
            "wc" => match (segments.next()?, segments.next()?) {
                ("join", id) => id,
                (id, _) => id,
            },
            _ => return None,
        };
        ((9..=20).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_digit()))
            .then(|| id.to_owned())
    }

    /// The `zoommtg:` URL that opens the meeting in the Zoom app, when the meeting id is known.
    pub fn app_url(&self) -> Option<String> {
        let id = self.meeting_id()?;
        let host = self.0.host_str()?;
        let mut launch = format!("zoommtg://{host}/join?action=join&confno={id}");
        if let Some((_, pwd)) = self.0.query_pairs().find(|(k, _)| k == "pwd") {
            let pwd: String = url::form_urlencoded::byte_serialize(pwd.as_bytes()).collect();
            launch.push_str("&pwd=");
            launch.push_str(&pwd);
        }
        Some(launch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_zoom_meeting_links() {
        for ok in [
            "https://zoom.us/j/1234567890",
            "https://us02web.zoom.us/j/85012345678?pwd=abcDEF.1",
            "https://school.zoomgov.com/j/1234567890",
            "  https://zoom.us/my/teacher.anna  ",
        ] {
            assert!(ZoomUrl::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "http://zoom.us/j/1234567890",
            "https://zoom.us.evil.com/j/1234567890",
            "https://evilzoom.us/j/1234567890",
            "https://user:pw@zoom.us/j/1234567890",
            "https://zoom.us:8443/j/1234567890",
            "javascript:alert(1)",
            "zoommtg://zoom.us/join?confno=1",
            "not a url",
            "",
        ] {
            assert!(ZoomUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://zoom.us/j/1?x={}", "a".repeat(MAX_LEN));
        assert!(ZoomUrl::parse(&long).is_err());
    }

    #[test]
    fn derives_the_app_launch_url() {
        let url = ZoomUrl::parse("https://us02web.zoom.us/j/85012345678?pwd=ab+c").unwrap();
        assert_eq!(url.meeting_id().as_deref(), Some("85012345678"));
        assert_eq!(
            url.app_url().as_deref(),
            Some("zoommtg://us02web.zoom.us/join?action=join&confno=85012345678&pwd=ab+c")
        );
        let personal = ZoomUrl::parse("https://zoom.us/my/anna").unwrap();
        assert_eq!(personal.app_url(), None);
    }
}

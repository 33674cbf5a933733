//! The ids the APIs take, one type per table (teachers, students, links, credentials), so a
//! teacher's id can never be passed where a student's is expected. Each is stored as the
//! table's `BIGINT` id and parsed from text in one place.

use std::{fmt, str::FromStr};

use sea_orm::DeriveValueType;

/// Why a text is not an id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotAnId;

impl fmt::Display for NotAnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a valid id")
    }
}

impl std::error::Error for NotAnId {}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, DeriveValueType)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        /// A positive decimal integer, as the APIs show ids.
        impl FromStr for $name {
            type Err = NotAnId;

            fn from_str(text: &str) -> Result<Self, NotAnId> {
                text.parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .map(Self)
                    .ok_or(NotAnId)
            }
        }
    )*};
}

ids! {
    /// `teachers.id`.
    TeacherId;
    /// `students.id`.
    StudentId;
    /// `wpos_zoom_links.id`: a link, and the session it tracks.
    LinkId;
    /// `api_keys.id`.
    ApiKeyId;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_decimal_integers() {
        assert_eq!("42".parse(), Ok(TeacherId(42)));
        assert_eq!(LinkId(7).to_string(), "7");
        for bad in ["", "0", "-3", "1.5", "x", " 4", "99999999999999999999"] {
            assert_eq!(bad.parse::<StudentId>(), Err(NotAnId), "{bad:?}");
        }
    }
}

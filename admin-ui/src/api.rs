//! The GraphQL API over HTTP, typed by the operations in `admin-ui/graphql/`, checked against
//! `schema.graphql` when the app compiles.

use gloo_net::http::Request;
use graphql_client::{GraphQLQuery, Response};

use crate::session::Credential;

/// Scalars of the schema, as the operations receive them.
pub type DateTime = String;
pub type NaiveDate = String;

// rustfmt re-indents attributes inside macro_rules on every run: this one is laid out by hand.
#[rustfmt::skip]
macro_rules! operation {
    ($name:ident, $file:literal) => {
        #[derive(GraphQLQuery)]
        #[graphql(
            schema_path = "../schema.graphql",
            query_path = $file,
            response_derives = "Debug, Clone, PartialEq",
            variables_derives = "Debug, Clone, PartialEq"
        )]
        pub struct $name;
    };
}

operation!(Me, "graphql/me.graphql");
operation!(Overview, "graphql/stats.graphql");
operation!(LiveStats, "graphql/stats.graphql");
operation!(Sessions, "graphql/sessions.graphql");
operation!(SessionEvents, "graphql/sessions.graphql");
operation!(TeacherStatsQuery, "graphql/teacher_stats.graphql");
operation!(People, "graphql/people.graphql");
operation!(CreateTeacher, "graphql/create_teacher.graphql");
operation!(CreateStudent, "graphql/create_student.graphql");
operation!(CreateTeacherKey, "graphql/create_api_key.graphql");
operation!(IssueLink, "graphql/issue_link.graphql");
operation!(LinkNotification, "graphql/link_notification.graphql");
operation!(Resend, "graphql/resend.graphql");
operation!(AutoTimeout, "graphql/auto_timeout.graphql");
operation!(ApiKeys, "graphql/api_keys.graphql");
operation!(RevokeApiKey, "graphql/revoke_api_key.graphql");
operation!(Lesson, "graphql/lesson.graphql");
operation!(CorrectSession, "graphql/lesson.graphql");
operation!(Links, "graphql/links.graphql");
operation!(Payroll, "graphql/payroll.graphql");

/// What went wrong, in words for the admin, and the API's code when it gave one.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn network(err: impl std::fmt::Display) -> Self {
        Self {
            code: None,
            message: format!("the server could not be reached ({err})"),
        }
    }

    pub fn is_unauthenticated(&self) -> bool {
        self.code.as_deref() == Some("UNAUTHENTICATED")
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Runs one operation with the admin's credential.
pub async fn run<Q: GraphQLQuery>(
    credential: &Credential,
    variables: Q::Variables,
) -> Result<Q::ResponseData, ApiError> {
    let body = Q::build_query(variables);
    let response = Request::post("/graphql")
        .header("Authorization", &credential.bearer())
        .json(&body)
        .map_err(ApiError::network)?
        .send()
        .await
        .map_err(ApiError::network)?;
    let answer: Response<Q::ResponseData> = response.json().await.map_err(|err| ApiError {
        code: None,
        message: format!("unexpected answer from the server ({err})"),
    })?;
    if let Some(error) = answer.errors.and_then(|errors| errors.into_iter().next()) {
        let code = error
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .and_then(|code| code.as_str())
            .map(str::to_owned);
        return Err(ApiError {
            code,
            message: error.message,
        });
    }
    answer.data.ok_or_else(|| ApiError {
        code: None,
        message: "the server sent no data".into(),
    })
}

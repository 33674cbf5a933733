//! What every view shares: the admin's credential, the route, the live numbers and events, the
//! clock, and the teachers and students. The frame provides it; the views only read it.

use std::future::Future;

use graphql_client::GraphQLQuery;
use leptos::prelude::*;

use crate::{
    api::{self, ApiError, People, people},
    convert::{Row, Stats},
    format,
    session::Credential,
    state::{Filter, Route, View},
};

/// A live session event.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveEvent {
    pub kind: String,
    pub row: Row,
}

/// The way back to the sign-in, taken when the server refuses the credential.
#[derive(Clone, Copy)]
struct Exit {
    signed_in: RwSignal<Option<Credential>>,
    notice: RwSignal<Option<String>>,
}

impl Exit {
    /// The error in words; a refused credential signs out.
    fn explain(self, err: ApiError) -> String {
        if err.is_unauthenticated() {
            Credential::forget();
            self.notice.set(Some(
                "Your credential is no longer accepted. Sign in again.".into(),
            ));
            self.signed_in.set(None);
        }
        err.message
    }
}

/// What the views share.
#[derive(Clone)]
pub struct Ctx {
    pub credential: Credential,
    pub route: RwSignal<Route>,
    /// The route's filter alone: what follows it does not reload on a change of view or order.
    pub filter: Memo<Filter>,
    pub time_zone: String,
    pub stats: RwSignal<Option<Stats>>,
    /// Session events not yet applied, oldest first.
    pub events: RwSignal<Vec<LiveEvent>>,
    /// Bumped on each (re)connect of the live link: reload what may have missed events.
    pub epoch: RwSignal<u64>,
    /// The browser's clock in milliseconds, ticking every second (running sessions tick).
    pub now: RwSignal<f64>,
    people: LocalResource<Result<people::ResponseData, String>>,
    exit: Exit,
}

impl Ctx {
    /// The context of a signed-in admin; it starts loading the teachers and students.
    pub fn new(
        credential: Credential,
        signed_in: RwSignal<Option<Credential>>,
        notice: RwSignal<Option<String>>,
    ) -> Self {
        let route = RwSignal::new(Route::current());
        let exit = Exit { signed_in, notice };
        let people = LocalResource::new({
            let credential = credential.clone();
            move || fetch::<People>(credential.clone(), exit, people::Variables {})
        });
        Self {
            credential,
            route,
            filter: Memo::new(move |_| route.with(|r| r.filter.clone())),
            time_zone: format::time_zone(),
            stats: RwSignal::new(None),
            events: RwSignal::new(Vec::new()),
            epoch: RwSignal::new(0),
            now: RwSignal::new(format::now_ms()),
            people,
            exit,
        }
    }

    /// Runs `Q` with the admin's credential; an error comes in words for the view (a refused
    /// credential signs out).
    pub fn fetch<Q: GraphQLQuery + 'static>(
        &self,
        variables: Q::Variables,
    ) -> impl Future<Output = Result<Q::ResponseData, String>> + use<Q> {
        fetch::<Q>(self.credential.clone(), self.exit, variables)
    }

    pub fn set_filter(&self, change: impl FnOnce(&mut Filter)) {
        self.route.update(|route| change(&mut route.filter));
    }

    pub fn show(&self, view: View) {
        self.route.update(|route| route.view = view);
    }

    pub fn teachers(&self) -> Vec<people::PeopleTeachers> {
        self.people
            .map(|answer| {
                answer
                    .as_ref()
                    .map(|p| p.teachers.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    pub fn students(&self) -> Vec<people::PeopleStudents> {
        self.people
            .map(|answer| {
                answer
                    .as_ref()
                    .map(|p| p.students.clone())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    /// Reloads the teachers and students lists.
    pub fn reload_people(&self) {
        self.people.refetch();
    }
}

async fn fetch<Q: GraphQLQuery>(
    credential: Credential,
    exit: Exit,
    variables: Q::Variables,
) -> Result<Q::ResponseData, String> {
    api::run::<Q>(&credential, variables)
        .await
        .map_err(|err| exit.explain(err))
}

pub fn ctx() -> Ctx {
    expect_context::<Ctx>()
}

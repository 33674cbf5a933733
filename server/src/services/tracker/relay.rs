//! Other servers' events, read from the events table, for this server's subscribers and its
//! heartbeat buffer.

use std::collections::{HashMap, HashSet};

use chrono::Utc;
use entity::zoom_link;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::Tracker;
use crate::{
    domain::LinkId,
    services::{
        Result,
        events::{EventKind, table::Recorded},
        view,
    },
    telemetry,
};

impl Tracker {
    /// Passes on `recorded`, the events the table holds, but this server's own (published when
    /// they happened). A session another server ended is forgotten by the heartbeat buffer, so
    /// its next beat here asks the database and is refused. Subscribers get each event with the
    /// session as it is now, read once for all of them, and only while somebody listens here.
    pub async fn relay(&self, recorded: &[Recorded]) -> Result<()> {
        let others: Vec<&Recorded> = recorded
            .iter()
            .filter(|event| event.origin != self.events.origin)
            .collect();
        if others.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        for event in &others {
            telemetry::event_relayed((now - event.written_at).to_std().unwrap_or_default());
        }
        let ended: HashSet<LinkId> = others
            .iter()
            .filter(|event| matches!(event.kind, EventKind::Ended | EventKind::TimedOut))
            .map(|event| event.link)
            .collect();
        let listened = self.events.listened();
        if !listened && ended.is_empty() {
            return Ok(());
        }
        let wanted: HashSet<LinkId> = if listened {
            others.iter().map(|event| event.link).collect()
        } else {
            ended.clone()
        };
        let links = zoom_link::Entity::find()
            .filter(zoom_link::Column::Id.is_in(wanted))
            .all(&self.read)
            .await?;
        let tokens: Vec<&str> = links
            .iter()
            .filter(|link| ended.contains(&link.id))
            .map(|link| link.tracking_token.as_str())
            .collect();
        if !tokens.is_empty() {
            self.beats.forget_tokens(&tokens);
        }
        if !listened {
            return Ok(());
        }
        let sessions: HashMap<LinkId, view::SessionView> = view::attach(&self.read, links)
            .await?
            .into_iter()
            .map(|session| (session.link.id, session))
            .collect();
        for event in others {
            if let Some(session) = sessions.get(&event.link) {
                self.events
                    .publish(event.kind, vec![session.clone()], event.at);
            }
        }
        Ok(())
    }
}

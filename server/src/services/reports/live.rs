//! The live versions of the reports: a filter's events as they happen, and its statistics
//! recounted when they change.

use std::{sync::Arc, time::Duration};

use futures::{Stream, StreamExt};
use tokio::sync::broadcast::{
    self,
    error::{RecvError, TryRecvError},
};

use super::{
    filter::SessionFilter,
    stats::{SessionStats, stats},
};
use crate::services::{
    Result, Tracker,
    events::{EventKind, SessionEvent},
};

/// How long the statistics wait after a change for more changes before they recount.
const STATS_DEBOUNCE: Duration = Duration::from_millis(200);

/// The events of the sessions `filter` selects. A subscriber that falls behind has its stream
/// ended rather than go on with a gap: the client subscribes again and reloads what it shows.
pub fn events(
    tracker: &Tracker,
    filter: SessionFilter,
) -> impl Stream<Item = Arc<SessionEvent>> + use<> {
    futures::stream::unfold(tracker.events().subscribe(), move |mut receiver| {
        let filter = filter.clone();
        async move {
            loop {
                match receiver.recv().await {
                    Ok(event) if filter.matches(&event.session) => {
                        return Some((event, receiver));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "a sessionEvents subscriber fell behind; its stream ends"
                        );
                        return None;
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    })
}

/// Whether `filter`'s statistics may have changed: waits for such an event. `None` when the
/// bus is gone.
async fn changed(
    receiver: &mut broadcast::Receiver<Arc<SessionEvent>>,
    filter: &SessionFilter,
) -> Option<()> {
    loop {
        match receiver.recv().await {
            Ok(event)
                if event.kind != EventKind::Heartbeat
                    && filter.matches_any_status(&event.session) =>
            {
                return Some(());
            }
            Ok(_) => continue,
            Err(RecvError::Lagged(_)) => return Some(()),
            Err(RecvError::Closed) => return None,
        }
    }
}

/// `filter`'s statistics now, then again whenever they change: after a change, more changes
/// within [`STATS_DEBOUNCE`] are taken together, and a recount that finds the same figures is
/// not sent. A recount that fails is logged and tried at the next change.
pub async fn stats_updates(
    tracker: Arc<Tracker>,
    filter: SessionFilter,
) -> Result<impl Stream<Item = SessionStats>> {
    let receiver = tracker.events().subscribe();
    let first = {
        // The first count waits its turn like every recount: many new subscribers at once
        // cannot run many counts at once.
        let _permit = tracker.events().recounts.acquire().await;
        stats(tracker.read(), &filter).await?
    };
    let state = (receiver, first, tracker, filter);
    let updates = futures::stream::unfold(
        state,
        |(mut receiver, last, tracker, filter)| async move {
            loop {
                changed(&mut receiver, &filter).await?;
                tokio::time::sleep(STATS_DEBOUNCE).await;
                while let Ok(_) | Err(TryRecvError::Lagged(_)) = receiver.try_recv() {}
                let recount = async {
                    let _permit = tracker.events().recounts.acquire().await;
                    stats(tracker.read(), &filter).await
                };
                match recount.await {
                    Ok(stats) if stats != last => {
                        return Some((stats, (receiver, stats, tracker, filter)));
                    }
                    Ok(_) => {}
                    Err(err) => {
                        tracing::error!(error = %err, cause = ?err, "recounting live statistics failed")
                    }
                }
            }
        },
    );
    Ok(futures::stream::once(async move { first }).chain(updates))
}

//! How the daemon's threads report to the engine without knowing it: each module defines
//! what it reports, and is handed an [`Inbox`] for it. The engine wraps its own channel, so
//! the modules below it (disk, peer link, NBD export, control socket) import nothing of it.

use std::sync::mpsc::Sender;
use std::sync::Arc;

/// Delivers a report to the engine; `false` once the engine is gone (the thread then ends).
pub type Inbox<R> = Arc<dyn Fn(R) -> bool + Send + Sync>;

/// An inbox that wraps each report into the engine's input type.
pub fn to<R: 'static, I: Send + 'static>(tx: &Sender<I>, wrap: fn(R) -> I) -> Inbox<R> {
    let tx = tx.clone();
    Arc::new(move |r| tx.send(wrap(r)).is_ok())
}

//! One shutdown signal for threads and tasks alike.
//!
//! The process makes one [`channel`]. The [`Sender`] is kept by whoever decides to stop (the
//! signal handler, a test); every part of the daemon holds a [`Receiver`]. A thread asks
//! [`Receiver::is_down`] between units of work or sleeps with [`Receiver::wait_for`] (which
//! returns early when the signal comes); a task awaits [`Receiver::down`]. Dropping the sender
//! signals too, so a part can never outlive the code that owns it by mistake. Parts that end
//! on their own report it on their own channel; the grace period is a timeout awaited on that,
//! never a poll.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
struct State {
    down: bool,
    wakers: Vec<Waker>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    changed: Condvar,
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Signals shutdown, explicitly or when dropped.
#[derive(Debug)]
pub struct Sender(Arc<Inner>);

/// Learns of shutdown. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Receiver(Arc<Inner>);

/// A new signal, not yet given.
pub fn channel() -> (Sender, Receiver) {
    let inner = Arc::new(Inner::default());
    (Sender(inner.clone()), Receiver(inner))
}

impl Sender {
    /// Gives the signal (again: harmless).
    pub fn shutdown(&self) {
        let wakers = {
            let mut s = self.0.lock();
            s.down = true;
            std::mem::take(&mut s.wakers)
        };
        self.0.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// A receiver of this signal.
    pub fn subscribe(&self) -> Receiver {
        Receiver(self.0.clone())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Receiver {
    /// A receiver that is never signalled (its sender is forgotten).
    pub fn never() -> Receiver {
        let (tx, rx) = channel();
        std::mem::forget(tx);
        rx
    }

    pub fn is_down(&self) -> bool {
        self.0.lock().down
    }

    /// Blocks this thread for `d` or until the signal, whichever is first; true when it came.
    pub fn wait_for(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut s = self.0.lock();
        while !s.down {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = self.0.changed.wait_timeout(s, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
        }
        true
    }

    /// Completes when the signal is given.
    pub fn down(&self) -> Down {
        Down(self.0.clone())
    }
}

/// The future of [`Receiver::down`].
#[derive(Debug)]
pub struct Down(Arc<Inner>);

impl Future for Down {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.0.lock();
        if s.down {
            return Poll::Ready(());
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_waiting_wakes_on_the_signal_not_at_its_timeout() {
        let (tx, rx) = channel();
        assert!(!rx.wait_for(Duration::from_millis(1)) && !rx.is_down());
        let waiter = std::thread::spawn(move || {
            let t = Instant::now();
            (rx.wait_for(Duration::from_secs(600)), t.elapsed())
        });
        std::thread::sleep(Duration::from_millis(20));
        tx.shutdown();
        let (down, waited) = waiter.join().unwrap();
        assert!(down && waited < Duration::from_secs(600));
    }

    #[test]
    fn dropping_the_sender_signals_and_the_future_completes() {
        let (tx, rx) = channel();
        let mut fut = std::pin::pin!(rx.down());
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        drop(tx);
        assert!(fut.as_mut().poll(&mut cx).is_ready());
        assert!(rx.is_down() && rx.wait_for(Duration::from_secs(600)));
        assert!(!Receiver::never().is_down());
    }
}

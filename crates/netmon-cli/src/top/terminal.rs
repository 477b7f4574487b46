//! The full-screen terminal: raw mode and the alternate screen while `top`
//! runs, and the user's terminal back afterwards on every way out — a
//! normal exit, an error (the guard's drop) and a panic (a panic hook that
//! restores before the panic message is printed, so the message is
//! readable and the shell is usable).

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::{Frame, Terminal};

/// Whether the terminal is in `top`'s state, so it is restored once even
/// when the drop and the panic hook both run.
static TAKEN_OVER: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();

pub struct FullScreen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl FullScreen {
    pub fn enter() -> io::Result<FullScreen> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                let _ = restore();
                previous(info);
            }));
        });
        enable_raw_mode()?;
        TAKEN_OVER.store(true, Ordering::SeqCst);
        let entered = execute!(io::stdout(), EnterAlternateScreen, Hide)
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match entered {
            Ok(terminal) => Ok(FullScreen { terminal }),
            Err(error) => {
                let _ = restore();
                Err(error)
            }
        }
    }

    pub fn draw(&mut self, render: impl FnOnce(&mut Frame)) -> io::Result<()> {
        self.terminal.draw(render).map(|_| ())
    }

    /// Restores the terminal, reporting a failure (the drop ignores it).
    pub fn leave(self) -> io::Result<()> {
        restore()
    }
}

impl Drop for FullScreen {
    fn drop(&mut self) {
        let _ = restore();
    }
}

fn restore() -> io::Result<()> {
    if !TAKEN_OVER.swap(false, Ordering::SeqCst) {
        return Ok(());
    }
    // Every step is tried even if one fails: a half-restored terminal is
    // worse than a reported error.
    let screen = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let raw = disable_raw_mode();
    screen.and(raw)
}

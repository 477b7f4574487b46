//! Keys: `b`/`p`/`c` sort by bytes, packets or connections, `f` switches
//! between flows and peers, `/` opens the filter prompt (Enter applies,
//! Esc cancels), Esc outside the prompt clears the filter, `q` or Ctrl-C
//! quits. While the prompt is open, letters are text, not commands.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::filter::TextFilter;
use super::state::TopState;
use crate::cli::{TopRows, TopSort};

/// What the main loop does after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOutcome {
    Quit,
    Redraw,
    Ignored,
}

pub fn handle_key(state: &mut TopState, key: KeyEvent) -> KeyOutcome {
    // Terminals that report releases (kitty protocol) would act twice.
    if key.kind == KeyEventKind::Release {
        return KeyOutcome::Ignored;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    // Raw mode delivers Ctrl-C as a key, not SIGINT.
    if ctrl && key.code == KeyCode::Char('c') {
        return KeyOutcome::Quit;
    }
    if state.prompt.is_some() {
        edit_prompt(state, key, ctrl)
    } else {
        command(state, key)
    }
}

fn edit_prompt(state: &mut TopState, key: KeyEvent, ctrl: bool) -> KeyOutcome {
    let Some(typed) = state.prompt.as_mut() else {
        return KeyOutcome::Ignored;
    };
    match key.code {
        KeyCode::Enter => {
            state.filter = TextFilter::new(typed);
            state.prompt = None;
        }
        KeyCode::Esc => state.prompt = None,
        KeyCode::Backspace => {
            typed.pop();
        }
        KeyCode::Char('u') if ctrl => typed.clear(),
        KeyCode::Char(c) if !ctrl => typed.push(c),
        _ => return KeyOutcome::Ignored,
    }
    KeyOutcome::Redraw
}

fn command(state: &mut TopState, key: KeyEvent) -> KeyOutcome {
    match key.code {
        KeyCode::Char('q') => return KeyOutcome::Quit,
        KeyCode::Char('b') => state.sort = TopSort::Bytes,
        KeyCode::Char('p') => state.sort = TopSort::Packets,
        KeyCode::Char('c') => state.sort = TopSort::Connections,
        KeyCode::Char('f') => {
            state.rows = match state.rows {
                TopRows::Flows => TopRows::Peers,
                TopRows::Peers => TopRows::Flows,
            }
        }
        KeyCode::Char('/') => state.prompt = Some(state.filter.text().to_owned()),
        KeyCode::Esc if !state.filter.is_empty() => state.filter = TextFilter::default(),
        _ => return KeyOutcome::Ignored,
    }
    KeyOutcome::Redraw
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn state() -> TopState {
        TopState::new(
            "/run/netmon/netmon.sock".into(),
            Duration::from_secs(1),
            "none".into(),
            TopRows::Flows,
            TopSort::Bytes,
        )
    }

    fn press(state: &mut TopState, code: KeyCode) -> KeyOutcome {
        handle_key(state, KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn type_text(state: &mut TopState, text: &str) {
        for c in text.chars() {
            press(state, KeyCode::Char(c));
        }
    }

    #[test]
    fn sort_keys_change_the_sort_and_f_switches_rows() {
        let mut state = state();
        assert_eq!(press(&mut state, KeyCode::Char('p')), KeyOutcome::Redraw);
        assert_eq!(state.sort, TopSort::Packets);
        press(&mut state, KeyCode::Char('c'));
        assert_eq!(state.sort, TopSort::Connections);
        press(&mut state, KeyCode::Char('b'));
        assert_eq!(state.sort, TopSort::Bytes);
        press(&mut state, KeyCode::Char('f'));
        assert_eq!(state.rows, TopRows::Peers);
        press(&mut state, KeyCode::Char('f'));
        assert_eq!(state.rows, TopRows::Flows);
    }

    #[test]
    fn the_prompt_takes_text_until_enter_applies_it() {
        let mut state = state();
        press(&mut state, KeyCode::Char('/'));
        type_text(&mut state, "10.0.0.2qx");
        press(&mut state, KeyCode::Backspace);
        assert_eq!(state.prompt.as_deref(), Some("10.0.0.2q"));
        assert_eq!(state.sort, TopSort::Bytes, "letters at the prompt are text");
        press(&mut state, KeyCode::Backspace);
        press(&mut state, KeyCode::Enter);
        assert_eq!(state.prompt, None);
        assert_eq!(state.filter, TextFilter::new("10.0.0.2"));
    }

    #[test]
    fn esc_cancels_the_prompt_and_then_clears_the_filter() {
        let mut state = state();
        press(&mut state, KeyCode::Char('/'));
        type_text(&mut state, "db");
        press(&mut state, KeyCode::Enter);
        press(&mut state, KeyCode::Char('/'));
        assert_eq!(
            state.prompt.as_deref(),
            Some("db"),
            "the prompt starts from the filter"
        );
        type_text(&mut state, "-0");
        press(&mut state, KeyCode::Esc);
        assert_eq!(state.prompt, None);
        assert_eq!(
            state.filter.text(),
            "db",
            "a cancelled edit changes nothing"
        );
        press(&mut state, KeyCode::Esc);
        assert!(state.filter.is_empty());
        assert_eq!(press(&mut state, KeyCode::Esc), KeyOutcome::Ignored);
    }

    #[test]
    fn q_and_ctrl_c_quit_but_q_at_the_prompt_is_text() {
        let mut state = state();
        assert_eq!(press(&mut state, KeyCode::Char('q')), KeyOutcome::Quit);
        press(&mut state, KeyCode::Char('/'));
        assert_eq!(press(&mut state, KeyCode::Char('q')), KeyOutcome::Redraw);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(handle_key(&mut state, ctrl_c), KeyOutcome::Quit);
    }
}

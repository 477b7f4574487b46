//! Whether to colour output: only for a person at a terminal, unless
//! `--color` says otherwise.

use std::io::IsTerminal;

use crate::cli::ColorChoice;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    pub fn for_stdout(choice: ColorChoice) -> Self {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // NO_COLOR (https://no-color.org) wins over a terminal.
            ColorChoice::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        };
        Style { color }
    }
}

/// The few colours human output uses, each with one meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Healthy: an active flow, a check that passed.
    Green,
    /// Worth a look: a warning, a table filling up.
    Yellow,
    /// Failed: reset, refused, timed out, lost events.
    Red,
    /// Headers.
    Bold,
}

impl Color {
    fn ansi(self) -> &'static str {
        match self {
            Color::Green => "\x1b[32m",
            Color::Yellow => "\x1b[33m",
            Color::Red => "\x1b[31m",
            Color::Bold => "\x1b[1m",
        }
    }
}

impl Style {
    /// `text` in `color` when colours are on, else unchanged.
    pub fn paint(&self, text: &str, color: Color) -> String {
        if self.color {
            format!("{}{text}\x1b[0m", color.ansi())
        } else {
            text.to_owned()
        }
    }

    /// The colour a flow status is shown in: failures red, live flows green.
    pub fn status_color(status: &str) -> Option<Color> {
        match status {
            "active" => Some(Color::Green),
            "reset" | "refused" | "timeout" => Some(Color::Red),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_escape_codes_only_when_on() {
        assert_eq!(Style { color: false }.paint("reset", Color::Red), "reset");
        assert_eq!(
            Style { color: true }.paint("reset", Color::Red),
            "\x1b[31mreset\x1b[0m"
        );
    }
}

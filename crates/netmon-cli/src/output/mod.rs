//! How results are printed: colours, units, tables, and the flow formats.

pub mod compact;
pub mod csv;
pub mod sink;
mod style;
pub mod table;
pub mod units;

pub use sink::Stdout;
pub use style::{Color, Style};

//! How results are printed: colours, units, tables.

mod style;
pub mod units;

pub use style::Style;

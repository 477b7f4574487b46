//! How results are printed: colours, units, tables.

mod style;

pub use style::Style;

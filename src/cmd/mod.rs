//! The verbs: each wires the stages below for one subcommand.

pub mod apply;
pub mod export;
pub mod manual;
pub mod plan;
pub mod schema;

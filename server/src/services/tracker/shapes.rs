//! Statements over a padded list of values, their SQL built once per length.
//!
//! A click runs three statements over lists (the lookup by token, the locking read and the
//! write back), and building one with the query builder costs about as much as SQLite takes
//! to run it. Their lists are [`padded`](super::padded) to a power of two, so each statement
//! has nine shapes: the SQL of each is built the first time it is needed and then only bound
//! to new values.

use std::sync::OnceLock;

use sea_orm::{DbBackend, Statement, Value};

/// Lists longer than this are built each time.
const LONGEST: usize = 256;
const SHAPES: usize = LONGEST.trailing_zeros() as usize + 1;

/// One statement's SQL for each padded length, on one database.
pub(super) struct Shapes {
    backend: DbBackend,
    /// The statement for a list of this many values, bound to any values of the right types.
    build: fn(DbBackend, usize) -> Statement,
    built: [OnceLock<String>; SHAPES],
}

impl Shapes {
    pub fn new(backend: DbBackend, build: fn(DbBackend, usize) -> Statement) -> Self {
        Self {
            backend,
            build,
            built: Default::default(),
        }
    }

    /// The statement over a list of `len` items, bound to `values` (in the order in which the
    /// builder binds them).
    pub fn bind(&self, len: usize, values: Vec<Value>) -> Statement {
        let sql = match self.built.get(len.trailing_zeros() as usize) {
            Some(built) if len.is_power_of_two() => built
                .get_or_init(|| (self.build)(self.backend, len).sql)
                .clone(),
            _ => (self.build)(self.backend, len).sql,
        };
        Statement::from_sql_and_values(self.backend, sql, values)
    }
}

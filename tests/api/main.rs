mod auth;
mod bad_input;
mod concurrency;
mod flow;
mod spec_sql;
mod startup;

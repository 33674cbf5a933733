mod auth;
mod bad_input;
mod concurrency;
mod contract;
mod flow;
mod reports;
mod spec_sql;
mod startup;

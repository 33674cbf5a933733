//! Per-month totals on PostgreSQL and MySQL, beside the per-day ones.
//!
//! Statistics over all time, or over months, read one row per day, teacher and status: about
//! 150,000 rows for a school of 200 teachers after a year, 15 to 30 ms to sum on MariaDB and
//! PostgreSQL. `session_month_totals` holds the same sums per UTC month of the sessions' start
//! (`month` is the month's first day): readers take whole months from it and only the days
//! at either end of a range from `session_totals`. The server's fold moves each change into
//! both tables in one transaction, so they always agree. SQLite's triggers keep the per-day
//! totals themselves, in the writer's transaction, and it stays on those.
//!
//! The month totals start as the sums of the day totals: upgrade with every server stopped
//! (`docs/deploy.md`), so no fold by an older server adds to the days alone.

use sea_orm_migration::{prelude::*, sea_orm::DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// `IF NOT EXISTS`, and the fill empties it first: on MySQL, where a schema change is not
/// transactional, a start that failed after the table was made runs this again.
const CREATE: &str = "CREATE TABLE IF NOT EXISTS session_month_totals (
        month DATE NOT NULL,
        teacher_id BIGINT NOT NULL,
        session_status VARCHAR(16) NOT NULL,
        sessions BIGINT NOT NULL,
        duration_seconds BIGINT NOT NULL,
        PRIMARY KEY (month, teacher_id, session_status)
    )";

const POSTGRES_FILL: &str =
    "INSERT INTO session_month_totals (month, teacher_id, session_status, sessions, duration_seconds)
     SELECT CAST(date_trunc('month', CAST(day AS TIMESTAMP)) AS DATE), teacher_id, session_status,
            SUM(sessions),
            SUM(duration_seconds)
     FROM session_totals GROUP BY 1, 2, 3";

const MYSQL_FILL: &str =
    "INSERT INTO session_month_totals (month, teacher_id, session_status, sessions, duration_seconds)
     SELECT day - INTERVAL (DAYOFMONTH(day) - 1) DAY, teacher_id, session_status, SUM(sessions),
            SUM(duration_seconds)
     FROM session_totals GROUP BY 1, 2, 3";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let fill = match manager.get_database_backend() {
            DbBackend::Postgres => POSTGRES_FILL,
            DbBackend::MySql => MYSQL_FILL,
            _ => return Ok(()),
        };
        let db = manager.get_connection();
        db.execute_unprepared(CREATE).await?;
        db.execute_unprepared("DELETE FROM session_month_totals")
            .await?;
        db.execute_unprepared(fill).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() == DbBackend::Sqlite {
            return Ok(());
        }
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS session_month_totals")
            .await?;
        Ok(())
    }
}

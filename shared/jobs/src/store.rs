//! Every SQL statement of the library, for both backends. Nothing else touches the tables.
//!
//! Each state change is one statement guarded by the state it leaves, and the ones a
//! running attempt makes are also guarded by the attempt number and the node holding it:
//! a node whose lease was taken over cannot complete, fail or requeue the job any more, so
//! one attempt's outcome is recorded at most once.
//!
//! Postgres claims with `FOR UPDATE SKIP LOCKED`, so nodes fetching at once take disjoint
//! jobs without waiting on each other. SQLite has one writer at a time: each claim is one
//! `UPDATE ... WHERE id IN (SELECT ... LIMIT n)` statement, which takes the write lock
//! before it reads, so no two claims can see the same row as due. Batches travel as one
//! JSON parameter (`jsonb_to_recordset` / `json_each`), so a statement's text does not
//! depend on the batch size and is prepared once per connection.

use crate::clock::{from_micros, micros};
use crate::error::JobsError;
use crate::job::{AttemptError, Enqueued, JobView, RawJob, Row};
use crate::state::JobState;
use chrono::{DateTime, Utc};
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DbErr, QueryResult, Statement, TransactionTrait, Value,
};
use std::time::Duration;

/// `$n` placeholders as the backend wants them: Postgres takes `$n`, SQLite `?n` (the same
/// numbered parameter may then appear twice on both).
fn statement(backend: DatabaseBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = if backend == DatabaseBackend::Sqlite {
        let mut out = String::with_capacity(sql.len());
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    } else {
        sql.to_owned()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// `errors` with one more entry (`entry` is an SQL expression yielding a JSON object).
fn append_error(backend: DatabaseBackend, entry: &str) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            format!("(errors::jsonb || jsonb_build_array(({entry})::jsonb))::text")
        }
        _ => format!("json_insert(errors, '$[#]', json({entry}))"),
    }
}

/// A JSON array of records as a set of rows with typed columns `(name type, ...)`.
fn records(backend: DatabaseBackend, param: &str, columns: &[(&str, &str)]) -> String {
    match backend {
        DatabaseBackend::Postgres => {
            let typed: Vec<String> = columns.iter().map(|(n, t)| format!("{n} {t}")).collect();
            format!(
                "jsonb_to_recordset({param}::jsonb) AS r({})",
                typed.join(", ")
            )
        }
        _ => {
            let extracted: Vec<String> = columns
                .iter()
                .map(|(n, _)| format!("json_extract(value, '$.{n}') AS {n}"))
                .collect();
            format!(
                "(SELECT {} FROM json_each({param})) AS r",
                extracted.join(", ")
            )
        }
    }
}

/// The JSON text of one error entry.
fn error_entry(attempt: u32, at: DateTime<Utc>, error: &str) -> String {
    serde_json::json!({"attempt": attempt, "at": at, "error": error}).to_string()
}

const DUE: &str = "state IN ('scheduled', 'available', 'retryable')";
const UNFINISHED: &str = "state IN ('scheduled', 'available', 'executing', 'retryable')";
const FINISHED: &str = "state IN ('completed', 'discarded', 'cancelled')";

/// `unique_key` once the job is in `state`: kept while the state is one of its unique
/// states, dropped otherwise (unfinished states always keep it, see [`crate::Unique`]).
fn unique_key_in(state: JobState) -> String {
    format!(
        "unique_key = CASE WHEN unique_states & {} <> 0 THEN unique_hash ELSE NULL END",
        state.bit()
    )
}

fn count(row: Option<QueryResult>) -> Result<u64, DbErr> {
    let n: i64 = row.map_or(Ok(0), |row| row.try_get_by_index(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Inserts `rows`; a row whose unique key is taken is not inserted and reports the job
/// holding the key.
pub(crate) async fn insert<C: ConnectionTrait>(
    conn: &C,
    rows: &[Row],
) -> Result<Vec<Enqueued>, JobsError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let source = records(
        backend,
        "$1",
        &[
            ("id", "text"),
            ("queue", "text"),
            ("worker", "text"),
            ("state", "text"),
            ("priority", "int"),
            ("args", "text"),
            ("max_attempts", "int"),
            ("timeout_ms", "bigint"),
            ("unique_hash", "text"),
            ("unique_states", "int"),
            ("unique_key", "text"),
            ("inserted_at", "bigint"),
            ("scheduled_at", "bigint"),
        ],
    );
    // SQLite needs the WHERE to tell the SELECT's end from the upsert clause.
    let sql = format!(
        "INSERT INTO jobs (id, queue, worker, state, priority, args, errors, attempt, max_attempts, \
         timeout_ms, unique_hash, unique_states, unique_key, inserted_at, scheduled_at) \
         SELECT id, queue, worker, state, priority, args, '[]', 0, max_attempts, timeout_ms, \
         unique_hash, unique_states, unique_key, inserted_at, scheduled_at FROM {source} WHERE true \
         ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL DO NOTHING RETURNING id"
    );
    let payload = serde_json::to_string(rows)?;
    let inserted = conn
        .query_all_raw(statement(backend, &sql, vec![payload.into()]))
        .await?;
    let mut ids = std::collections::HashSet::with_capacity(inserted.len());
    for row in inserted {
        ids.insert(row.try_get_by_index::<String>(0)?);
    }
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if ids.contains(&row.id) {
            out.push(Enqueued {
                id: row.id.clone(),
                queue: row.queue.clone(),
                duplicate: false,
            });
            continue;
        }
        let existing = match &row.unique_key {
            Some(key) => holder_of(conn, key).await?,
            None => None,
        };
        // Only a unique key conflict skips a row; its holder just finished otherwise.
        let existing = existing.ok_or_else(|| JobsError::UniqueConflict {
            id: row.id.clone(),
            existing: "a job that has just left its unique states; enqueue again".into(),
        })?;
        out.push(Enqueued {
            id: existing,
            queue: row.queue.clone(),
            duplicate: true,
        });
    }
    Ok(out)
}

async fn holder_of<C: ConnectionTrait>(conn: &C, key: &str) -> Result<Option<String>, DbErr> {
    let backend = conn.get_database_backend();
    let row = conn
        .query_one_raw(statement(
            backend,
            "SELECT id FROM jobs WHERE unique_key = $1",
            vec![key.into()],
        ))
        .await?;
    row.map(|row| row.try_get_by_index::<String>(0)).transpose()
}

/// Limits a claim must respect beyond the node's free slots.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ClaimLimits {
    /// Executing jobs of the queue across all nodes.
    pub global: Option<u32>,
    /// Attempts started per window, across all nodes.
    pub rate: Option<(u32, Duration)>,
}

const CLAIMED: &str = "id, worker, args, attempt, max_attempts, timeout_ms, scheduled_at";

fn claimed(row: &QueryResult, queue: &str) -> Result<RawJob, DbErr> {
    let attempt: i32 = row.try_get_by_index(3)?;
    let max_attempts: i32 = row.try_get_by_index(4)?;
    let timeout_ms: Option<i64> = row.try_get_by_index(5)?;
    Ok(RawJob {
        id: row.try_get_by_index(0)?,
        worker: row.try_get_by_index(1)?,
        args: row.try_get_by_index(2)?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        max_attempts: u32::try_from(max_attempts).unwrap_or(0),
        queue: queue.to_owned(),
        scheduled_at: from_micros(row.try_get_by_index(6)?),
        timeout: timeout_ms.map(|ms| Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
    })
}

/// A stable 64-bit key for the Postgres advisory lock that serialises limited claims of one
/// queue (FNV-1a: the same on every node and every release).
fn advisory_key(queue: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in b"jobs.claim.".iter().chain(queue.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

/// Claims up to `limit` due jobs of `queue` for `node`, leased until `lease_until`.
pub(crate) async fn claim(
    db: &sea_orm::DatabaseConnection,
    queue: &str,
    limit: u32,
    limits: ClaimLimits,
    node: &str,
    now: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Vec<RawJob>, DbErr> {
    let backend = db.get_database_backend();
    let paused = "NOT EXISTS (SELECT 1 FROM jobs_queues p WHERE p.queue = $1 AND p.paused = 1)";
    let limited = limits.global.is_some() || limits.rate.is_some();
    let rate_since = limits.rate.map_or(0, |(_, window)| {
        micros(now) - crate::clock::duration_micros(window)
    });
    let rows = if backend == DatabaseBackend::Postgres {
        // A claim lost in a database crash only makes its jobs due again, and they run at
        // least once anyway, so it need not wait for its own fsync: `set_config(.., true)`
        // turns synchronous commit off for the claim's transaction alone. (It sits in the
        // WHERE clause to run inside the one statement; with no row claimed there is
        // nothing to commit.)
        let sql = format!(
            "WITH next AS (SELECT id FROM jobs WHERE queue = $1 AND {DUE} AND scheduled_at <= $2 AND {paused} \
             ORDER BY priority, scheduled_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) \
             UPDATE jobs SET state = 'executing', attempt = jobs.attempt + 1, attempted_at = $2, \
             attempted_by = $4, lease_until = $5 FROM next WHERE jobs.id = next.id \
             AND set_config('synchronous_commit', 'off', true) = 'off' RETURNING {}",
            CLAIMED
                .split(", ")
                .map(|c| format!("jobs.{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values = |n: i64| -> Vec<Value> {
            vec![
                queue.into(),
                micros(now).into(),
                n.into(),
                node.into(),
                micros(lease_until).into(),
            ]
        };
        if !limited {
            // One round trip: the statement is its own transaction.
            let rows = db
                .query_all_raw(statement(backend, &sql, values(i64::from(limit))))
                .await?;
            return rows.iter().map(|row| claimed(row, queue)).collect();
        }
        let txn = db.begin().await?;
        let mut room = i64::from(limit);
        // Counting and claiming must not interleave with another node's claim, or
        // both would see room for the same last slot: one claim per queue at a time.
        txn.execute_raw(statement(
            backend,
            "SELECT pg_advisory_xact_lock($1)",
            vec![advisory_key(queue).into()],
        ))
        .await?;
        if let Some(global) = limits.global {
            let executing = count(
                txn.query_one_raw(statement(
                    backend,
                    "SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state = 'executing'",
                    vec![queue.into()],
                ))
                .await?,
            )?;
            room = room.min(i64::from(global) - i64::try_from(executing).unwrap_or(i64::MAX));
        }
        if let Some((allowed, _)) = limits.rate {
            let started = count(
                txn.query_one_raw(statement(
                    backend,
                    "SELECT COUNT(*) FROM jobs WHERE queue = $1 AND attempted_at > $2",
                    vec![queue.into(), rate_since.into()],
                ))
                .await?,
            )?;
            room = room.min(i64::from(allowed) - i64::try_from(started).unwrap_or(i64::MAX));
        }
        let rows = if room > 0 {
            txn.query_all_raw(statement(backend, &sql, values(room)))
                .await?
        } else {
            Vec::new()
        };
        txn.commit().await?;
        rows
    } else {
        // One statement: the counts and the claim happen under the one write lock.
        let room = if limited {
            let global = limits.global.map_or(i64::from(i32::MAX), i64::from);
            let rate = limits
                .rate
                .map_or(i64::from(i32::MAX), |(n, _)| i64::from(n));
            format!(
                "max(0, min($3, {global} - (SELECT COUNT(*) FROM jobs WHERE queue = $1 AND state = 'executing'), \
                 {rate} - (SELECT COUNT(*) FROM jobs WHERE queue = $1 AND attempted_at > {rate_since})))"
            )
        } else {
            "$3".to_owned()
        };
        let sql = format!(
            "UPDATE jobs SET state = 'executing', attempt = attempt + 1, attempted_at = $2, \
             attempted_by = $4, lease_until = $5 WHERE id IN (SELECT id FROM jobs WHERE queue = $1 AND {DUE} \
             AND scheduled_at <= $2 AND {paused} ORDER BY priority, scheduled_at, id LIMIT {room}) \
             RETURNING {CLAIMED}"
        );
        db.query_all_raw(statement(
            backend,
            &sql,
            vec![
                queue.into(),
                micros(now).into(),
                i64::from(limit).into(),
                node.into(),
                micros(lease_until).into(),
            ],
        ))
        .await?
    };
    rows.iter().map(|row| claimed(row, queue)).collect()
}

/// One completed attempt, for [`complete`].
#[derive(serde::Serialize)]
pub(crate) struct Completion {
    pub id: String,
    pub attempt: u32,
    /// The result as JSON text; `None` for a `null` result.
    pub result: Option<String>,
}

/// Records completed attempts of `node`; returns how many were still its to complete.
pub(crate) async fn complete(
    db: &sea_orm::DatabaseConnection,
    node: &str,
    done: &[Completion],
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    if done.is_empty() {
        return Ok(0);
    }
    let backend = db.get_database_backend();
    let source = records(
        backend,
        "$1",
        &[("id", "text"), ("attempt", "int"), ("result", "text")],
    );
    let sql = format!(
        "UPDATE jobs SET state = 'completed', finished_at = $2, lease_until = NULL, result = r.result, {} \
         FROM {source} WHERE jobs.id = r.id AND jobs.attempt = r.attempt AND jobs.state = 'executing' \
         AND jobs.attempted_by = $3",
        unique_key_in(JobState::Completed)
    );
    let payload = serde_json::to_string(done).map_err(|e| DbErr::Custom(e.to_string()))?;
    let write = statement(
        backend,
        &sql,
        vec![payload.into(), micros(now).into(), node.into()],
    );
    if backend != DatabaseBackend::Postgres {
        return Ok(db.execute_raw(write).await?.rows_affected());
    }
    // A completion lost in a database crash makes the job run again, which at-least-once
    // delivery allows: it need not wait for its own fsync.
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL synchronous_commit = off")
        .await?;
    let affected = txn.execute_raw(write).await?.rows_affected();
    txn.commit().await?;
    Ok(affected)
}

/// Records a failed attempt of `node`: `retryable` at `retry_at`, or `discarded` when
/// `retry_at` is `None`. False if the attempt was no longer the node's.
pub(crate) async fn fail<C: ConnectionTrait>(
    db: &C,
    node: &str,
    id: &str,
    attempt: u32,
    error: &str,
    retry_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let (state, scheduled_at, finished_at) = match retry_at {
        Some(at) => (JobState::Retryable, micros(at), None),
        None => (JobState::Discarded, micros(now), Some(micros(now))),
    };
    let sql = format!(
        "UPDATE jobs SET state = $3, scheduled_at = $4, finished_at = $5, lease_until = NULL, \
         errors = {}, unique_key = CASE WHEN unique_states & $7 <> 0 THEN unique_hash ELSE NULL END \
         WHERE id = $1 AND attempt = $2 AND state = 'executing' AND attempted_by = $8",
        append_error(backend, "$6")
    );
    let result = db
        .execute_raw(statement(
            backend,
            &sql,
            vec![
                id.into(),
                i64::from(attempt).into(),
                state.as_str().into(),
                scheduled_at.into(),
                finished_at.into(),
                error_entry(attempt, now, error).into(),
                state.bit().into(),
                node.into(),
            ],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives an interrupted attempt back (a node shutting down): `available` now, and the
/// attempt does not count.
pub(crate) async fn requeue<C: ConnectionTrait>(
    db: &C,
    node: &str,
    id: &str,
    attempt: u32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let result = db
        .execute_raw(statement(
            backend,
            "UPDATE jobs SET state = 'available', attempt = attempt - 1, scheduled_at = $3, lease_until = NULL \
             WHERE id = $1 AND attempt = $2 AND state = 'executing' AND attempted_by = $4",
            vec![id.into(), i64::from(attempt).into(), micros(now).into(), node.into()],
        ))
        .await?;
    Ok(result.rows_affected() == 1)
}

/// Extends the leases `node` holds on `ids` and returns `(id, attempt)` of those it still
/// holds: a job missing from the answer was cancelled or rescued, and must stop here.
pub(crate) async fn renew<C: ConnectionTrait>(
    db: &C,
    node: &str,
    ids: &[String],
    lease_until: DateTime<Utc>,
) -> Result<Vec<(String, u32)>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    // The ids as a table joined on the primary key: as `id IN (SELECT ...)` Postgres
    // re-read the list for every executing row, and a renewal of a hundred jobs took
    // seconds while holding the rows completions wait for.
    let list = match backend {
        DatabaseBackend::Postgres => "SELECT jsonb_array_elements_text($3::jsonb) AS id",
        _ => "SELECT value AS id FROM json_each($3)",
    };
    let sql = format!(
        "UPDATE jobs SET lease_until = $1 FROM ({list}) AS r WHERE jobs.id = r.id \
         AND jobs.attempted_by = $2 AND jobs.state = 'executing' RETURNING jobs.id, jobs.attempt"
    );
    let ids = serde_json::to_string(ids).map_err(|e| DbErr::Custom(e.to_string()))?;
    let rows = db
        .query_all_raw(statement(
            backend,
            &sql,
            vec![micros(lease_until).into(), node.into(), ids.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| {
            let attempt: i32 = row.try_get_by_index(1)?;
            Ok((
                row.try_get_by_index(0)?,
                u32::try_from(attempt).unwrap_or(0),
            ))
        })
        .collect()
}

/// Takes back executing jobs whose lease expired before `now` (their node died or lost
/// touch): retryable at once, or discarded when that was their last attempt. Returns the
/// queues that got jobs back.
pub(crate) async fn rescue<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DbErr> {
    let backend = db.get_database_backend();
    let last = "attempt >= max_attempts";
    let entry = match backend {
        DatabaseBackend::Postgres => {
            "jsonb_build_object('attempt', attempt, 'at', $2::text, 'error', \
             'lease expired on node ' || COALESCE(attempted_by, '?'))::text"
        }
        _ => {
            "json_object('attempt', attempt, 'at', $2, 'error', 'lease expired on node ' || COALESCE(attempted_by, '?'))"
        }
    };
    let sql = format!(
        "UPDATE jobs SET state = CASE WHEN {last} THEN 'discarded' ELSE 'retryable' END, scheduled_at = $1, \
         finished_at = CASE WHEN {last} THEN $1 ELSE NULL END, lease_until = NULL, errors = {}, \
         unique_key = CASE WHEN {last} AND unique_states & {} = 0 THEN NULL ELSE unique_key END \
         WHERE state = 'executing' AND lease_until < $1 RETURNING queue",
        append_error(backend, entry),
        JobState::Discarded.bit()
    );
    let rows = db
        .query_all_raw(statement(
            backend,
            &sql,
            vec![micros(now).into(), now.to_rfc3339().into()],
        ))
        .await?;
    let mut queues: Vec<String> = rows
        .iter()
        .map(|row| row.try_get_by_index(0))
        .collect::<Result<_, _>>()?;
    queues.sort();
    queues.dedup();
    Ok(queues)
}

/// Cancels a job that has not finished. `Ok(None)` when there is no such job, otherwise
/// whether this call cancelled it (false: it had already finished).
pub(crate) async fn cancel<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "UPDATE jobs SET state = 'cancelled', finished_at = $2, lease_until = NULL, {} WHERE id = $1 AND {UNFINISHED}",
        unique_key_in(JobState::Cancelled)
    );
    let result = db
        .execute_raw(statement(
            backend,
            &sql,
            vec![id.into(), micros(now).into()],
        ))
        .await?;
    if result.rows_affected() == 1 {
        return Ok(Some(true));
    }
    Ok(state_of(db, id).await?.map(|_| false))
}

/// Makes a finished or retryable job available now, with one more attempt if it had used
/// them all. `Ok(None)` when there is no such job, otherwise whether it was retried (false:
/// it is waiting or running already).
pub(crate) async fn retry<C: ConnectionTrait>(
    db: &C,
    id: &str,
    now: DateTime<Utc>,
) -> Result<Option<bool>, JobsError> {
    let backend = db.get_database_backend();
    let sql = "UPDATE jobs SET state = 'available', scheduled_at = $2, finished_at = NULL, \
         max_attempts = CASE WHEN attempt >= max_attempts THEN attempt + 1 ELSE max_attempts END, \
         unique_key = unique_hash WHERE id = $1 AND state IN ('retryable', 'completed', 'discarded', 'cancelled')";
    match db
        .execute_raw(statement(backend, sql, vec![id.into(), micros(now).into()]))
        .await
    {
        Ok(result) if result.rows_affected() == 1 => Ok(Some(true)),
        Ok(_) => Ok(state_of(db, id).await?.map(|_| false)),
        Err(error)
            if matches!(
                error.sql_err(),
                Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
            ) =>
        {
            let view = get(db, id)
                .await?
                .ok_or_else(|| JobsError::NotFound(id.to_owned()))?;
            let key = db
                .query_one_raw(statement(
                    backend,
                    "SELECT unique_hash FROM jobs WHERE id = $1",
                    vec![id.into()],
                ))
                .await?
                .map(|row| row.try_get_by_index::<Option<String>>(0))
                .transpose()?
                .flatten();
            let existing = match key {
                Some(key) => holder_of(db, &key).await?,
                None => None,
            };
            Err(JobsError::UniqueConflict {
                id: view.id,
                existing: existing.unwrap_or_default(),
            })
        }
        Err(error) => Err(error.into()),
    }
}

async fn state_of<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<JobState>, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "SELECT state FROM jobs WHERE id = $1",
            vec![id.into()],
        ))
        .await?;
    Ok(row
        .map(|row| row.try_get_by_index::<String>(0))
        .transpose()?
        .and_then(|state| JobState::parse(&state)))
}

const VIEW: &str = "id, queue, worker, state, priority, args, result, errors, attempt, max_attempts, timeout_ms, \
     inserted_at, scheduled_at, attempted_at, finished_at, attempted_by";

fn view(row: &QueryResult) -> Result<JobView, DbErr> {
    let parse =
        |text: String| serde_json::from_str(&text).map_err(|e| DbErr::Custom(e.to_string()));
    let state: String = row.try_get_by_index(3)?;
    let result: Option<String> = row.try_get_by_index(6)?;
    let errors: String = row.try_get_by_index(7)?;
    let attempt: i32 = row.try_get_by_index(8)?;
    let max_attempts: i32 = row.try_get_by_index(9)?;
    let optional_time = |index: usize| -> Result<Option<DateTime<Utc>>, DbErr> {
        Ok(row.try_get_by_index::<Option<i64>>(index)?.map(from_micros))
    };
    Ok(JobView {
        id: row.try_get_by_index(0)?,
        queue: row.try_get_by_index(1)?,
        worker: row.try_get_by_index(2)?,
        state: JobState::parse(&state)
            .ok_or_else(|| DbErr::Custom(format!("unknown job state {state:?}")))?,
        priority: row.try_get_by_index(4)?,
        args: parse(row.try_get_by_index(5)?)?,
        result: result.map(parse).transpose()?,
        errors: serde_json::from_str::<Vec<AttemptError>>(&errors)
            .map_err(|e| DbErr::Custom(e.to_string()))?,
        attempt: u32::try_from(attempt).unwrap_or(0),
        max_attempts: u32::try_from(max_attempts).unwrap_or(0),
        timeout_ms: row.try_get_by_index(10)?,
        inserted_at: from_micros(row.try_get_by_index(11)?),
        scheduled_at: from_micros(row.try_get_by_index(12)?),
        attempted_at: optional_time(13)?,
        finished_at: optional_time(14)?,
        attempted_by: row.try_get_by_index(15)?,
    })
}

/// One job.
pub(crate) async fn get<C: ConnectionTrait>(db: &C, id: &str) -> Result<Option<JobView>, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!("SELECT {VIEW} FROM jobs WHERE id = $1");
    let row = db
        .query_one_raw(statement(backend, &sql, vec![id.into()]))
        .await?;
    row.as_ref().map(view).transpose()
}

/// Which jobs [`list`] returns, newest first.
#[derive(Clone, Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListFilter {
    pub queue: Option<String>,
    pub state: Option<JobState>,
    pub worker: Option<String>,
    /// Only jobs with ids below this one (the last id of the previous page).
    pub before: Option<String>,
    /// At most this many (default 50, at most 500).
    pub limit: Option<u32>,
}

/// Jobs matching `filter`, newest first.
pub(crate) async fn list<C: ConnectionTrait>(
    db: &C,
    filter: &ListFilter,
) -> Result<Vec<JobView>, DbErr> {
    let backend = db.get_database_backend();
    let mut conditions = Vec::new();
    let mut values: Vec<Value> = Vec::new();
    let mut add = |column: &str, value: Value, op: &str| {
        values.push(value);
        conditions.push(format!("{column} {op} ${}", values.len()));
    };
    if let Some(queue) = &filter.queue {
        add("queue", queue.clone().into(), "=");
    }
    if let Some(state) = filter.state {
        add("state", state.as_str().into(), "=");
    }
    if let Some(worker) = &filter.worker {
        add("worker", worker.clone().into(), "=");
    }
    if let Some(before) = &filter.before {
        add("id", before.clone().into(), "<");
    }
    let limit = filter.limit.unwrap_or(50).clamp(1, 500);
    let sql = format!(
        "SELECT {VIEW} FROM jobs {} ORDER BY id DESC LIMIT {limit}",
        if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        }
    );
    let rows = db.query_all_raw(statement(backend, &sql, values)).await?;
    rows.iter().map(view).collect()
}

/// Jobs per state of one queue, and whether it is paused.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    pub queue: String,
    pub paused: bool,
    pub scheduled: u64,
    pub available: u64,
    pub executing: u64,
    pub retryable: u64,
    pub completed: u64,
    pub discarded: u64,
    pub cancelled: u64,
}

/// Counts per queue and state, with paused flags (queues known from jobs or pauses).
pub(crate) async fn stats<C: ConnectionTrait>(db: &C) -> Result<Vec<QueueStats>, DbErr> {
    let backend = db.get_database_backend();
    let mut by_queue: std::collections::BTreeMap<String, QueueStats> = Default::default();
    let rows = db
        .query_all_raw(statement(
            backend,
            "SELECT queue, state, COUNT(*) FROM jobs GROUP BY queue, state",
            vec![],
        ))
        .await?;
    for row in rows {
        let queue: String = row.try_get_by_index(0)?;
        let state: String = row.try_get_by_index(1)?;
        let n = u64::try_from(row.try_get_by_index::<i64>(2)?).unwrap_or(0);
        let entry = by_queue.entry(queue.clone()).or_insert_with(|| QueueStats {
            queue,
            ..Default::default()
        });
        match JobState::parse(&state) {
            Some(JobState::Scheduled) => entry.scheduled = n,
            Some(JobState::Available) => entry.available = n,
            Some(JobState::Executing) => entry.executing = n,
            Some(JobState::Retryable) => entry.retryable = n,
            Some(JobState::Completed) => entry.completed = n,
            Some(JobState::Discarded) => entry.discarded = n,
            Some(JobState::Cancelled) => entry.cancelled = n,
            None => {}
        }
    }
    let paused = db
        .query_all_raw(statement(
            backend,
            "SELECT queue FROM jobs_queues WHERE paused = 1",
            vec![],
        ))
        .await?;
    for row in paused {
        let queue: String = row.try_get_by_index(0)?;
        by_queue
            .entry(queue.clone())
            .or_insert_with(|| QueueStats {
                queue,
                ..Default::default()
            })
            .paused = true;
    }
    Ok(by_queue.into_values().collect())
}

/// Pauses or resumes a queue on every node.
pub(crate) async fn set_paused<C: ConnectionTrait>(
    db: &C,
    queue: &str,
    paused: bool,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "INSERT INTO jobs_queues (queue, paused, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (queue) DO UPDATE SET paused = excluded.paused, updated_at = excluded.updated_at",
        vec![queue.into(), i32::from(paused).into(), micros(now).into()],
    ))
    .await?;
    Ok(())
}

/// Takes or extends the named lease for `holder` until `until`; true if `holder` has it.
pub(crate) async fn acquire_lease<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(statement(
            backend,
            "INSERT INTO jobs_leases (name, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE jobs_leases.holder = excluded.holder OR jobs_leases.expires_at < $4 RETURNING holder",
            vec![name.into(), holder.into(), micros(until).into(), micros(now).into()],
        ))
        .await?;
    Ok(row.is_some())
}

/// Gives the named lease up, if `holder` has it, so another node takes over at once.
pub(crate) async fn release_lease<C: ConnectionTrait>(
    db: &C,
    name: &str,
    holder: &str,
) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    db.execute_raw(statement(
        backend,
        "DELETE FROM jobs_leases WHERE name = $1 AND holder = $2",
        vec![name.into(), holder.into()],
    ))
    .await?;
    Ok(())
}

/// Deletes up to `batch` finished jobs that finished before `before`.
pub(crate) async fn prune<C: ConnectionTrait>(
    db: &C,
    before: DateTime<Utc>,
    batch: u32,
) -> Result<u64, DbErr> {
    let backend = db.get_database_backend();
    let sql = format!(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE {FINISHED} AND finished_at < $1 LIMIT $2)"
    );
    let result = db
        .execute_raw(statement(
            backend,
            &sql,
            vec![micros(before).into(), i64::from(batch).into()],
        ))
        .await?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_placeholders_are_numbered() {
        let stmt = statement(
            DatabaseBackend::Sqlite,
            "a = $1 AND b = $12 AND c = '$x'",
            vec![],
        );
        assert_eq!(stmt.sql, "a = ?1 AND b = ?12 AND c = '$x'");
        let stmt = statement(DatabaseBackend::Postgres, "a = $1", vec![]);
        assert_eq!(stmt.sql, "a = $1");
    }

    #[test]
    fn advisory_keys_are_stable_and_distinct() {
        assert_eq!(advisory_key("default"), advisory_key("default"));
        assert_ne!(advisory_key("default"), advisory_key("wallet"));
    }
}

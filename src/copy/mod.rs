//! `hummbl copy --to TARGET`: the whole database into another backend (SQLite
//! to PostgreSQL, or back), verified.
//!
//! Every table is read from one snapshot of the source (a single read
//! transaction, so the copy is one consistent moment even of a large file)
//! and written into the migrated, empty target in foreign-key order — the
//! order comes from the source's catalog, so a new table needs nothing here.
//! Values are carried as the target column declares them (SQLite's 0/1 into
//! PostgreSQL's BOOLEAN and back) and nothing is decoded or re-encoded on
//! the way: sealed provider keys stay sealed under the same master key, and
//! the roll-ups arrive as they were. At the end each target table is read
//! back and its row count and checksum compared with what was read from the
//! source; a difference fails the copy.
//!
//! Both databases are claimed (`storage::presence`) for the whole copy: it
//! refuses while a server runs on either, and no server starts on them until
//! it ends. A copy that fails leaves the target partly written: drop and
//! recreate it, then copy again.

pub mod progress;
mod rows;
mod store;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::TryStreamExt;
use tokio::sync::mpsc;

pub use rows::Checksum;
use rows::{Kind, Value};

use crate::storage::{Backend, Db, presence};

/// Rows written per transaction on the target.
const ROWS_PER_COMMIT: usize = 20_000;
/// Bound parameters per INSERT (SQLite allows 32,766, PostgreSQL 65,535).
const PARAMETERS_PER_INSERT: usize = 30_000;
/// Batches read ahead of the writer.
const BATCHES_IN_FLIGHT: usize = 4;

/// What the copy says while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress<'a> {
    /// Rows of `table` written so far, of `total`.
    Copying {
        table: &'a str,
        copied: u64,
        total: u64,
    },
    /// `table` is being read back from the target.
    Verifying { table: &'a str },
}

/// One table as copied and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableReport {
    pub name: String,
    pub checksum: Checksum,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// In the order they were written.
    pub tables: Vec<TableReport>,
    pub copy_time: Duration,
    pub verify_time: Duration,
}

impl CopyReport {
    pub fn rows(&self) -> u64 {
        self.tables.iter().map(|table| table.checksum.rows).sum()
    }
}

/// A table as the target declares it.
struct Table {
    name: String,
    columns: Vec<String>,
    kinds: Vec<Kind>,
}

/// Copies everything in `source` into `target` (migrated here, and empty).
pub async fn copy(
    source: &Db,
    target: &Db,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<CopyReport> {
    let _source_claim = presence::alone(source).await.context("the source")?;
    let _target_claim = presence::alone(target).await.context("the target")?;
    check_versions(source).await?;
    target
        .migrate()
        .await
        .context("migrating the target failed")?;
    let order = dependency_order(source).await?;
    let tables = target_tables(source, target, &order).await?;
    make_empty(target, &order).await?;

    let started = Instant::now();
    let mut read = store::snapshot(source).await?;
    let mut copied = Vec::with_capacity(tables.len());
    for table in &tables {
        let total = store::count(&mut read, &table.name).await?;
        let checksum = copy_table(&mut read, target, table, total as u64, progress)
            .await
            .with_context(|| format!("copying table {} failed", table.name))?;
        copied.push(checksum);
    }
    read.rollback().await?;
    let copy_time = started.elapsed();

    let started = Instant::now();
    let mut report = Vec::with_capacity(tables.len());
    for (table, sent) in tables.iter().zip(copied) {
        progress(Progress::Verifying { table: &table.name });
        let found = table_checksum(target, table).await?;
        if found != sent {
            bail!(
                "table {} differs after the copy: {} rows read from the source (checksum {}), {} in the target (checksum {})",
                table.name,
                sent.rows,
                sent.hex(),
                found.rows,
                found.hex()
            );
        }
        report.push(TableReport {
            name: table.name.clone(),
            checksum: found,
        });
    }
    Ok(CopyReport {
        tables: report,
        copy_time,
        verify_time: started.elapsed(),
    })
}

/// Every table's row count and checksum, computed as the copy computes them
/// (the same data gives the same sums on SQLite and PostgreSQL).
pub async fn checksums(db: &Db) -> anyhow::Result<BTreeMap<String, Checksum>> {
    let mut sums = BTreeMap::new();
    for name in store::tables(db).await? {
        let table = declared(db, &name).await?;
        sums.insert(name, table_checksum(db, &table).await?);
    }
    Ok(sums)
}

/// The source must be at this binary's schema, which is the same numbered
/// migration on both dialects.
async fn check_versions(source: &Db) -> anyhow::Result<()> {
    let version = source.schema_version().await?;
    let known = crate::storage::latest_migration(source.backend());
    if version < known {
        bail!(
            "the source is at migration {version}, this hummbl at {known}: run `hummbl migrate` on the source first"
        );
    }
    if version > known {
        bail!(
            "the source is at migration {version}, newer than this hummbl knows ({known}): copy with a newer hummbl"
        );
    }
    debug_assert_eq!(
        crate::storage::latest_migration(Backend::Sqlite),
        crate::storage::latest_migration(Backend::Postgres)
    );
    Ok(())
}

/// The source's tables, each after every table it references.
async fn dependency_order(db: &Db) -> anyhow::Result<Vec<String>> {
    let names = store::tables(db).await?;
    let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let mut waiting: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in &names {
        let references = store::references(db, name).await?;
        let before = references
            .into_iter()
            .filter(|other| other != name && known.contains(other.as_str()))
            .collect();
        waiting.insert(name.clone(), before);
    }
    topological(waiting)
}

/// Kahn's algorithm, alphabetical among the ready, so the order is stable.
fn topological(mut waiting: BTreeMap<String, BTreeSet<String>>) -> anyhow::Result<Vec<String>> {
    let mut order = Vec::with_capacity(waiting.len());
    while !waiting.is_empty() {
        let ready: Vec<String> = waiting
            .iter()
            .filter(|(_, before)| before.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        if ready.is_empty() {
            let cycle: Vec<&String> = waiting.keys().collect();
            bail!("the foreign keys between these tables form a cycle: {cycle:?}");
        }
        for name in &ready {
            waiting.remove(name);
        }
        for before in waiting.values_mut() {
            for name in &ready {
                before.remove(name);
            }
        }
        order.extend(ready);
    }
    Ok(order)
}

/// A table's columns and kinds as `db` declares them.
async fn declared(db: &Db, name: &str) -> anyhow::Result<Table> {
    let mut columns = Vec::new();
    let mut kinds = Vec::new();
    let mut declared_columns = store::columns(db, name).await?;
    // By name, so a checksum does not depend on the order a dialect's
    // migrations happened to add the columns in.
    declared_columns.sort();
    for (column, declared) in declared_columns {
        let kind = Kind::of_declared(&declared).with_context(|| {
            format!("column {name}.{column} has a type the copy does not know: {declared}")
        })?;
        columns.push(column);
        kinds.push(kind);
    }
    Ok(Table {
        name: name.to_string(),
        columns,
        kinds,
    })
}

/// The target's declaration of each source table; both must hold the same
/// tables with the same columns.
async fn target_tables(
    source: &Db,
    target: &Db,
    order: &[String],
) -> anyhow::Result<Vec<Arc<Table>>> {
    let in_target: BTreeSet<String> = store::tables(target).await?.into_iter().collect();
    let in_source: BTreeSet<String> = order.iter().cloned().collect();
    if in_target != in_source {
        bail!(
            "the source and the target hold different tables (only in the source: {:?}; only in the target: {:?})",
            in_source.difference(&in_target).collect::<Vec<_>>(),
            in_target.difference(&in_source).collect::<Vec<_>>()
        );
    }
    let mut tables = Vec::with_capacity(order.len());
    for name in order {
        let table = declared(target, name).await?;
        let theirs: BTreeSet<String> = store::columns(source, name)
            .await?
            .into_iter()
            .map(|(column, _)| column)
            .collect();
        let ours: BTreeSet<String> = table.columns.iter().cloned().collect();
        if theirs != ours {
            bail!("table {name} has columns {theirs:?} in the source but {ours:?} in the target");
        }
        tables.push(Arc::new(table));
    }
    Ok(tables)
}

/// Refuses a target that holds anyone's data; clears what a start-up wrote
/// (the component registry) so the source's rows arrive as they are.
async fn make_empty(target: &Db, order: &[String]) -> anyhow::Result<()> {
    let mut tx = target.begin_write().await?;
    for table in ["users", "teams"] {
        let rows = store::count(&mut tx, table).await?;
        if rows > 0 {
            bail!("the target already holds {rows} {table}: copy into a new, empty database");
        }
    }
    let referencing_first: Vec<&str> = order.iter().rev().map(String::as_str).collect();
    store::clear(&mut tx, &referencing_first).await?;
    tx.commit().await?;
    Ok(())
}

/// Reads `table` from the snapshot while a task writes what was read, so the
/// source's reads and the target's writes overlap.
async fn copy_table(
    read: &mut crate::storage::Tx,
    target: &Db,
    table: &Arc<Table>,
    total: u64,
    progress: &mut dyn FnMut(Progress),
) -> anyhow::Result<Checksum> {
    let per_insert = (PARAMETERS_PER_INSERT / table.columns.len().max(1)).clamp(1, 1_000);
    let (batches, inbox) = mpsc::channel(BATCHES_IN_FLIGHT);
    let writer = tokio::spawn(write_batches(target.clone(), table.clone(), inbox));
    let statement = store::select_all(&table.name, &table.columns);
    let mut rows = store::rows(read, &statement);
    let mut checksum = Checksum::default();
    let mut batch: Vec<Vec<Value>> = Vec::with_capacity(per_insert);
    progress(Progress::Copying {
        table: &table.name,
        copied: 0,
        total,
    });
    while let Some(row) = rows.try_next().await? {
        let values = fitted(table, rows::values_of(&row)?)?;
        checksum.add(&values);
        batch.push(values);
        if batch.len() == per_insert {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(per_insert));
            if batches.send(full).await.is_err() {
                break; // the writer failed: its error is the one to report
            }
        }
        if checksum.rows % ROWS_PER_COMMIT as u64 == 0 {
            progress(Progress::Copying {
                table: &table.name,
                copied: checksum.rows,
                total,
            });
        }
    }
    if !batch.is_empty() {
        let _ = batches.send(batch).await;
    }
    drop(batches);
    writer.await.context("the writer task failed")??;
    progress(Progress::Copying {
        table: &table.name,
        copied: checksum.rows,
        total: total.max(checksum.rows),
    });
    Ok(checksum)
}

/// Writes the batches it is handed, committing every `ROWS_PER_COMMIT` rows.
async fn write_batches(
    target: Db,
    table: Arc<Table>,
    mut inbox: mpsc::Receiver<Vec<Vec<Value>>>,
) -> anyhow::Result<()> {
    let mut tx = target.begin().await?;
    let mut in_tx = 0;
    while let Some(batch) = inbox.recv().await {
        in_tx += batch.len();
        store::insert(&target, &mut tx, &table, batch).await?;
        if in_tx >= ROWS_PER_COMMIT {
            tx.commit().await?;
            tx = target.begin().await?;
            in_tx = 0;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A row's values as the table's columns declare them.
fn fitted(table: &Table, values: Vec<Value>) -> anyhow::Result<Vec<Value>> {
    values
        .into_iter()
        .zip(table.columns.iter().zip(&table.kinds))
        .map(|(value, (column, kind))| {
            value
                .fitted(*kind)
                .with_context(|| format!("column {}.{column}", table.name))
        })
        .collect()
}

async fn table_checksum(db: &Db, table: &Table) -> anyhow::Result<Checksum> {
    let mut read = store::snapshot(db).await?;
    let statement = store::select_all(&table.name, &table.columns);
    let mut checksum = Checksum::default();
    {
        let mut rows = store::rows(&mut read, &statement);
        while let Some(row) = rows.try_next().await? {
            checksum.add(&fitted(table, rows::values_of(&row)?)?);
        }
    }
    read.rollback().await?;
    Ok(checksum)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(name, before)| {
                (
                    name.to_string(),
                    before.iter().map(|other| other.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let order = topological(graph(&[
            ("task_results", &["executions"]),
            ("executions", &["teams", "workflows"]),
            ("workflows", &["teams"]),
            ("teams", &[]),
            ("audit_log", &[]),
        ]))
        .expect("no cycle");
        assert_eq!(
            order,
            [
                "audit_log",
                "teams",
                "workflows",
                "executions",
                "task_results"
            ]
        );
    }

    #[test]
    fn a_cycle_is_refused_with_its_tables() {
        let refused =
            topological(graph(&[("a", &["b"]), ("b", &["a"]), ("c", &[])])).expect_err("cycle");
        assert!(refused.to_string().contains("[\"a\", \"b\"]"), "{refused}");
    }
}

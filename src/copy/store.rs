//! The SQL of `hummbl copy`: the catalog of either dialect (tables, their
//! columns and declared types, the tables each references), a consistent
//! snapshot to read from, and the generic reads and multi-row inserts.

use futures_util::stream::BoxStream;
use sqlx::any::AnyRow;

use super::Table;
use super::rows::{Kind, Value};
use crate::storage::{Backend, Db, Tx};

/// The application's tables (not the migrator's, not SQLite's own), by name.
pub async fn tables(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    let statement = match db.backend() {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations' ORDER BY name"
        }
        Backend::Postgres => {
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' \
             AND table_name <> '_sqlx_migrations' ORDER BY table_name"
        }
    };
    sqlx::query_scalar(statement).fetch_all(db.read()).await
}

/// The tables `table`'s foreign keys point at.
pub async fn references(db: &Db, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let statement = match db.backend() {
        Backend::Sqlite => "SELECT DISTINCT \"table\" FROM pragma_foreign_key_list($1) ORDER BY 1",
        Backend::Postgres => {
            "SELECT DISTINCT referenced.relname::text FROM pg_constraint c \
             JOIN pg_class owner ON owner.oid = c.conrelid \
             JOIN pg_class referenced ON referenced.oid = c.confrelid \
             WHERE c.contype = 'f' AND owner.relname = $1 \
             AND owner.relnamespace = current_schema()::regnamespace ORDER BY 1"
        }
    };
    sqlx::query_scalar(statement)
        .bind(table)
        .fetch_all(db.read())
        .await
}

/// `table`'s columns in their declared order, with their declared types.
pub async fn columns(db: &Db, table: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    let statement = match db.backend() {
        Backend::Sqlite => "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
        Backend::Postgres => {
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
    };
    sqlx::query_as(statement)
        .bind(table)
        .fetch_all(db.read())
        .await
}

/// A read transaction that sees one moment of the database throughout: the
/// first read fixes SQLite's WAL snapshot; PostgreSQL is told REPEATABLE READ.
pub async fn snapshot(db: &Db) -> Result<Tx, sqlx::Error> {
    let mut tx = db.read().begin().await?;
    if db.backend() == Backend::Postgres {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|column| quoted(column))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How many rows `table` holds.
pub async fn count(tx: &mut Tx, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {}", quoted(table)))
        .fetch_one(&mut **tx)
        .await
}

/// The statement that reads every row of `table`, the columns in the given order.
pub fn select_all(table: &str, columns: &[String]) -> String {
    format!("SELECT {} FROM {}", column_list(columns), quoted(table))
}

/// The rows of a `select_all` statement, as they come.
pub fn rows<'t>(tx: &'t mut Tx, statement: &'t str) -> BoxStream<'t, Result<AnyRow, sqlx::Error>> {
    sqlx::query(statement).fetch(&mut **tx)
}

/// Inserts `rows` (values already fitted to the table's kinds) in one statement.
pub async fn insert(
    db: &Db,
    tx: &mut Tx,
    table: &Table,
    rows: Vec<Vec<Value>>,
) -> Result<(), sqlx::Error> {
    let statement = format!(
        "INSERT INTO {} ({}) VALUES {}",
        quoted(&table.name),
        column_list(&table.columns),
        db.values_list(rows.len(), table.columns.len())
    );
    let mut query = sqlx::query(&statement);
    for row in rows {
        for (value, kind) in row.into_iter().zip(&table.kinds) {
            query = bind(query, value, *kind);
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds a value as its column's type; a NULL too, since PostgreSQL refuses
/// a NULL typed for another column.
fn bind<'q>(query: AnyQuery<'q>, value: Value, kind: Kind) -> AnyQuery<'q> {
    match (value, kind) {
        (Value::Integer(n), Kind::Boolean) => query.bind(n != 0),
        (Value::Integer(n), _) => query.bind(n),
        (Value::Real(x), _) => query.bind(x),
        (Value::Text(text), _) => query.bind(text),
        (Value::Blob(bytes), _) => query.bind(bytes),
        (Value::Null, Kind::Boolean) => query.bind(None::<bool>),
        (Value::Null, Kind::Integer) => query.bind(None::<i64>),
        (Value::Null, Kind::Real) => query.bind(None::<f64>),
        (Value::Null, Kind::Text) => query.bind(None::<String>),
        (Value::Null, Kind::Blob) => query.bind(None::<Vec<u8>>),
    }
}

/// Empties `tables`, in the order given (referencing tables first).
pub async fn clear(tx: &mut Tx, tables: &[&str]) -> Result<(), sqlx::Error> {
    for table in tables {
        sqlx::query(&format!("DELETE FROM {}", quoted(table)))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

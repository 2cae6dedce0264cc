//! Statements assembled from optional parts, with `$n` placeholders numbered as
//! values are added. sqlx's `QueryBuilder` writes `?` for the Any driver, which
//! PostgreSQL refuses, so stores that filter by what a user chose build their
//! `WHERE` here instead of by hand.
//!
//! ```ignore
//! let mut sql = Sql::new("SELECT id FROM executions WHERE team_id = ?", team_id);
//! if let Some(workflow) = &filter.workflow_id {
//!     sql.and("workflow_id = ?", workflow.as_str());
//! }
//! sql.and_in("status", filter.statuses.iter().map(|s| s.as_str()));
//! sql.push(" ORDER BY created_at DESC LIMIT ?", filter.limit);
//! let rows = sql.query().fetch_all(db.read()).await?;
//! ```

use sqlx::any::AnyArguments;
use sqlx::query::{Query, QueryAs};
use sqlx::{Any, FromRow};

/// A value bound to one placeholder. NULLs keep their type: PostgreSQL refuses
/// a text NULL in an integer column.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Text(Option<String>),
    Int(Option<i64>),
    Float(Option<f64>),
    Bool(Option<bool>),
}

impl From<&str> for Value {
    fn from(text: &str) -> Value {
        Value::Text(Some(text.to_string()))
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Text(Some(text))
    }
}

impl From<&String> for Value {
    fn from(text: &String) -> Value {
        Value::Text(Some(text.clone()))
    }
}

impl From<Option<String>> for Value {
    fn from(text: Option<String>) -> Value {
        Value::Text(text)
    }
}

impl From<Option<&str>> for Value {
    fn from(text: Option<&str>) -> Value {
        Value::Text(text.map(str::to_string))
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Value {
        Value::Int(Some(value))
    }
}

impl From<Option<i64>> for Value {
    fn from(value: Option<i64>) -> Value {
        Value::Int(value)
    }
}

impl From<f64> for Value {
    fn from(value: f64) -> Value {
        Value::Float(Some(value))
    }
}

impl From<bool> for Value {
    fn from(value: bool) -> Value {
        Value::Bool(Some(value))
    }
}

/// A statement and the values of its placeholders, in order.
#[derive(Debug, Clone, Default)]
pub struct Sql {
    text: String,
    values: Vec<Value>,
}

impl Sql {
    /// Starts with `text`, whose `?` (if any) is bound to `value`.
    pub fn new(text: &str, value: impl Into<Value>) -> Sql {
        let mut sql = Sql::default();
        sql.push(text, value);
        sql
    }

    /// Starts with `text`, which has no placeholder.
    pub fn text(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            values: Vec::new(),
        }
    }

    /// Appends `text`; every `?` in it becomes the placeholder of `value` (one
    /// value, so `a < ? OR b = ?` compares both columns with it).
    pub fn push(&mut self, text: &str, value: impl Into<Value>) -> &mut Sql {
        if text.contains('?') {
            let placeholder = self.bind(value);
            self.text.push_str(&text.replace('?', &placeholder));
        } else {
            self.text.push_str(text);
        }
        self
    }

    /// Appends text without placeholders.
    pub fn push_text(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Adds a value and returns its placeholder (`$n`), for clauses that use
    /// several values.
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// Appends ` AND <clause>`, the clause's `?` bound to `value`.
    pub fn and(&mut self, clause: &str, value: impl Into<Value>) -> &mut Sql {
        self.text.push_str(" AND ");
        self.push(clause, value)
    }

    /// Appends ` AND <clause>` (no placeholder).
    pub fn and_text(&mut self, clause: &str) -> &mut Sql {
        self.text.push_str(" AND ");
        self.text.push_str(clause);
        self
    }

    /// Appends ` AND column IN (…)`, or nothing when `values` is empty (no filter).
    pub fn and_in<V: Into<Value>>(
        &mut self,
        column: &str,
        values: impl IntoIterator<Item = V>,
    ) -> &mut Sql {
        let placeholders: Vec<String> = values.into_iter().map(|v| self.bind(v)).collect();
        if !placeholders.is_empty() {
            self.text
                .push_str(&format!(" AND {column} IN ({})", placeholders.join(", ")));
        }
        self
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The statement with its values bound.
    pub fn query(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.values
            .iter()
            .fold(sqlx::query(&self.text), |query, value| match value {
                Value::Text(text) => query.bind(text.as_deref()),
                Value::Int(int) => query.bind(*int),
                Value::Float(float) => query.bind(*float),
                Value::Bool(flag) => query.bind(*flag),
            })
    }

    /// The statement with its values bound, decoding rows into `T`.
    pub fn query_as<T>(&self) -> QueryAs<'_, Any, T, AnyArguments<'_>>
    where
        T: for<'r> FromRow<'r, sqlx::any::AnyRow>,
    {
        self.values
            .iter()
            .fold(sqlx::query_as(&self.text), |query, value| match value {
                Value::Text(text) => query.bind(text.as_deref()),
                Value::Int(int) => query.bind(*int),
                Value::Float(float) => query.bind(*float),
                Value::Bool(flag) => query.bind(*flag),
            })
    }
}

/// One multi-row `head VALUES (…), (…)` of `values` (each row `columns` long),
/// inside the caller's transaction: for bulk loads such as `hummbl demo`.
pub async fn insert_rows(
    db: &crate::storage::Db,
    tx: &mut crate::storage::Tx,
    head: &str,
    columns: usize,
    values: Vec<Value>,
) -> Result<(), sqlx::Error> {
    if values.is_empty() || columns == 0 {
        return Ok(());
    }
    let statement = Sql {
        text: format!(
            "{head} VALUES {}",
            db.values_list(values.len() / columns, columns)
        ),
        values,
    };
    statement.query().execute(&mut **tx).await?;
    Ok(())
}

/// `CAST(SUM(expr) AS BIGINT) AS alias`: PostgreSQL sums BIGINT into NUMERIC,
/// which the Any driver cannot decode; the cast brings it back to an integer
/// (SQLite's SUM is already an integer and accepts the cast).
pub fn sum_as(expr: &str, alias: &str) -> String {
    format!("CAST(SUM({expr}) AS BIGINT) AS {alias}")
}

/// [`sum_as`] for several columns, each summed under its own name (with an
/// optional table prefix): `sums("r.", &["calls", "cost_micros"])`.
pub fn sums(prefix: &str, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|column| sum_as(&format!("{prefix}{column}"), column))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_in_the_order_values_are_added() {
        let mut sql = Sql::new("SELECT id FROM t WHERE team_id = ?", "team");
        sql.and_in("status", ["failed", "cancelled"]);
        sql.and_in("kind", Vec::<String>::new());
        sql.and("(created_at < ? OR created_at IS NULL)", 5_i64);
        sql.push(" LIMIT ?", 10_i64);
        assert_eq!(
            sql.as_str(),
            "SELECT id FROM t WHERE team_id = $1 AND status IN ($2, $3) \
             AND (created_at < $4 OR created_at IS NULL) LIMIT $5"
        );
        assert_eq!(sql.values.len(), 5);
        assert_eq!(sql.values[4], Value::Int(Some(10)));
    }

    #[test]
    fn several_values_in_one_clause_use_bind() {
        let mut sql = Sql::text("SELECT id FROM t WHERE 1 = 1");
        let at = sql.bind(7_i64);
        let id = sql.bind("x");
        sql.and_text(&format!("(at < {at} OR (at = {at} AND id < {id}))"));
        assert_eq!(
            sql.as_str(),
            "SELECT id FROM t WHERE 1 = 1 AND (at < $1 OR (at = $1 AND id < $2))"
        );
    }

    #[test]
    fn sums_cast_each_column() {
        assert_eq!(
            sums("r.", &["calls", "cost_micros"]),
            "CAST(SUM(r.calls) AS BIGINT) AS calls, CAST(SUM(r.cost_micros) AS BIGINT) AS cost_micros"
        );
    }
}

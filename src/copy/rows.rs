//! Rows as the copy sees them: any table's values without knowing its shape,
//! converted to the kind the target column declares, and folded into a
//! checksum that both backends compute alike.

use sha2::{Digest, Sha256};
use sqlx::any::{AnyRow, AnyTypeInfoKind};
use sqlx::{Row, ValueRef};

/// How a column stores its values, read from the declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Integer,
    Real,
    Text,
    Blob,
    /// PostgreSQL's BOOLEAN (SQLite declares these INTEGER 0/1).
    Boolean,
}

impl Kind {
    /// The kind of a declared column type: SQLite's affinity rules, or PostgreSQL's type name.
    pub fn of_declared(declared: &str) -> Option<Kind> {
        let upper = declared.to_ascii_uppercase();
        let kind = if upper.contains("BOOL") {
            Kind::Boolean
        } else if upper.contains("INT") {
            Kind::Integer
        } else if upper.contains("CHAR") || upper.contains("TEXT") || upper.contains("CLOB") {
            Kind::Text
        } else if upper.contains("REAL") || upper.contains("FLOA") || upper.contains("DOUB") {
            Kind::Real
        } else if upper.contains("BLOB") || upper == "BYTEA" {
            Kind::Blob
        } else {
            return None;
        };
        Some(kind)
    }
}

/// One value of a row. Booleans are held as 0/1, as SQLite stores them, so a
/// row checksums the same on either backend.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// A row's values in column order.
pub fn values_of(row: &AnyRow) -> Result<Vec<Value>, sqlx::Error> {
    (0..row.len()).map(|index| value_at(row, index)).collect()
}

fn value_at(row: &AnyRow, index: usize) -> Result<Value, sqlx::Error> {
    let raw = row.try_get_raw(index)?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let kind = raw.type_info().kind();
    Ok(match kind {
        AnyTypeInfoKind::Null => Value::Null,
        AnyTypeInfoKind::Bool => Value::Integer(i64::from(row.try_get::<bool, _>(index)?)),
        AnyTypeInfoKind::SmallInt | AnyTypeInfoKind::Integer | AnyTypeInfoKind::BigInt => {
            Value::Integer(row.try_get::<i64, _>(index)?)
        }
        AnyTypeInfoKind::Real | AnyTypeInfoKind::Double => {
            Value::Real(row.try_get::<f64, _>(index)?)
        }
        AnyTypeInfoKind::Text => Value::Text(row.try_get::<String, _>(index)?),
        AnyTypeInfoKind::Blob => Value::Blob(row.try_get::<Vec<u8>, _>(index)?),
    })
}

/// Why a value does not fit the target column.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{found} value does not fit a {kind:?} column")]
pub struct Misfit {
    pub found: &'static str,
    pub kind: Kind,
}

impl Value {
    fn name(&self) -> &'static str {
        match self {
            Value::Null => "a null",
            Value::Integer(_) => "an integer",
            Value::Real(_) => "a real",
            Value::Text(_) => "a text",
            Value::Blob(_) => "a blob",
        }
    }

    /// The value as a column of `kind` holds it (SQLite's dynamic typing can
    /// hand back an integer from a REAL column, for one).
    pub fn fitted(self, kind: Kind) -> Result<Value, Misfit> {
        match (self, kind) {
            (Value::Null, _) => Ok(Value::Null),
            (Value::Integer(n), Kind::Integer) => Ok(Value::Integer(n)),
            (Value::Integer(n @ (0 | 1)), Kind::Boolean) => Ok(Value::Integer(n)),
            (Value::Integer(n), Kind::Real) => Ok(Value::Real(n as f64)),
            (Value::Real(x), Kind::Real) => Ok(Value::Real(x)),
            (Value::Real(x), Kind::Integer) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
                Ok(Value::Integer(x as i64))
            }
            (Value::Text(text), Kind::Text) => Ok(Value::Text(text)),
            (Value::Blob(bytes), Kind::Blob) => Ok(Value::Blob(bytes)),
            (value, kind) => Err(Misfit {
                found: value.name(),
                kind,
            }),
        }
    }
}

/// A table's checksum: the wrapping sum of each row's SHA-256 (its first 128
/// bits), so it does not depend on the order rows are read in, with the count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    pub rows: u64,
    sum: u128,
}

impl Checksum {
    pub fn add(&mut self, values: &[Value]) {
        let mut hasher = Sha256::new();
        for value in values {
            match value {
                Value::Null => hasher.update([0]),
                Value::Integer(n) => {
                    hasher.update([1]);
                    hasher.update(n.to_le_bytes());
                }
                Value::Real(x) => {
                    hasher.update([2]);
                    hasher.update(x.to_bits().to_le_bytes());
                }
                Value::Text(text) => {
                    hasher.update([3]);
                    hasher.update((text.len() as u64).to_le_bytes());
                    hasher.update(text.as_bytes());
                }
                Value::Blob(bytes) => {
                    hasher.update([4]);
                    hasher.update((bytes.len() as u64).to_le_bytes());
                    hasher.update(bytes);
                }
            }
        }
        let digest = hasher.finalize();
        let mut first = [0_u8; 16];
        first.copy_from_slice(&digest[..16]);
        self.sum = self.sum.wrapping_add(u128::from_le_bytes(first));
        self.rows += 1;
    }

    /// The sum in hex, as the report prints it.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_of_both_dialects_map_to_kinds() {
        for (declared, kind) in [
            ("INTEGER", Kind::Integer),
            ("bigint", Kind::Integer),
            ("TEXT", Kind::Text),
            ("text", Kind::Text),
            ("REAL", Kind::Real),
            ("double precision", Kind::Real),
            ("boolean", Kind::Boolean),
            ("BLOB", Kind::Blob),
            ("bytea", Kind::Blob),
        ] {
            assert_eq!(Kind::of_declared(declared), Some(kind), "{declared}");
        }
        assert_eq!(Kind::of_declared("jsonb"), None);
    }

    #[test]
    fn values_fit_their_columns_or_say_why_not() {
        assert_eq!(
            Value::Integer(1).fitted(Kind::Boolean),
            Ok(Value::Integer(1))
        );
        assert_eq!(Value::Integer(3).fitted(Kind::Real), Ok(Value::Real(3.0)));
        assert_eq!(
            Value::Real(4.0).fitted(Kind::Integer),
            Ok(Value::Integer(4))
        );
        assert_eq!(Value::Null.fitted(Kind::Text), Ok(Value::Null));
        let misfit = Value::Integer(2)
            .fitted(Kind::Boolean)
            .expect_err("not 0/1");
        assert_eq!(
            misfit.to_string(),
            "an integer value does not fit a Boolean column"
        );
        assert!(Value::Text("x".into()).fitted(Kind::Integer).is_err());
        assert!(Value::Real(1.5).fitted(Kind::Integer).is_err());
    }

    #[test]
    fn a_checksum_ignores_row_order_but_not_content() {
        let a = [Value::Integer(1), Value::Text("a".into())];
        let b = [Value::Integer(2), Value::Null];
        let (mut one, mut two) = (Checksum::default(), Checksum::default());
        one.add(&a);
        one.add(&b);
        two.add(&b);
        two.add(&a);
        assert_eq!(one, two);
        assert_eq!(one.rows, 2);
        let mut changed = Checksum::default();
        changed.add(&a);
        changed.add(&[Value::Integer(2), Value::Text(String::new())]);
        assert_ne!(one, changed, "NULL and the empty string differ");
    }
}

//! Rows whose types are known only at run time: a site archive copies
//! every table without a struct for each (`features::archive`). A cell is
//! what the backend stored, as it stored it: SQLite keeps times as text and
//! booleans as integers, and the caller, who knows each column's kind,
//! reads them as such.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row, TypeInfo, ValueRef};

use super::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
    Time(Timestamp),
}

/// A row, its cells in the order of the query's columns.
#[derive(Debug)]
pub struct Cells(pub Vec<Cell>);

fn unsupported(index: usize, name: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: index.to_string(),
        source: format!("no cell holds a value of type {name}").into(),
    }
}

impl FromRow<'_, SqliteRow> for Cells {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        (0..row.len())
            .map(|i| {
                let raw = row.try_get_raw(i)?;
                if raw.is_null() {
                    return Ok(Cell::Null);
                }
                // The storage class of this value, whatever the column says.
                let class = raw.type_info().name().to_owned();
                match class.as_str() {
                    "INTEGER" => Ok(Cell::Int(row.try_get(i)?)),
                    "TEXT" => Ok(Cell::Text(row.try_get(i)?)),
                    other => Err(unsupported(i, other)),
                }
            })
            .collect::<Result<_, _>>()
            .map(Cells)
    }
}

impl FromRow<'_, PgRow> for Cells {
    fn from_row(row: &PgRow) -> Result<Self, sqlx::Error> {
        (0..row.len())
            .map(|i| {
                if row.try_get_raw(i)?.is_null() {
                    return Ok(Cell::Null);
                }
                let column = &row.columns()[i];
                match sqlx::Column::type_info(column).name() {
                    "INT8" => Ok(Cell::Int(row.try_get(i)?)),
                    "INT4" => Ok(Cell::Int(row.try_get::<i32, _>(i)?.into())),
                    "INT2" => Ok(Cell::Int(row.try_get::<i16, _>(i)?.into())),
                    "TEXT" | "VARCHAR" => Ok(Cell::Text(row.try_get(i)?)),
                    "BOOL" => Ok(Cell::Bool(row.try_get(i)?)),
                    "TIMESTAMPTZ" => Ok(Cell::Time(row.try_get(i)?)),
                    other => Err(unsupported(i, other)),
                }
            })
            .collect::<Result<_, _>>()
            .map(Cells)
    }
}

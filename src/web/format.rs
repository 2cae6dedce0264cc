//! Small pieces the pages share: money for people, URL encoding, metric cards,
//! and CSV records for the exports.

use maud::{Markup, html};

/// Micro-dollars as dollars with cents, for cards and tables (exports keep every
/// micro-dollar, see `analytics::dollars`).
pub fn usd_cents(micros: i64) -> String {
    let text = crate::analytics::dollars(micros);
    match text.split_once('.') {
        Some((whole, fraction)) => format!("${whole}.{}", &fraction[..2]),
        None => format!("${text}"),
    }
}

/// Percent-encodes `text` for a query string.
pub fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// A card with a figure and a line under it.
pub fn metric_card(id: &str, title: &str, value: String, note: String) -> Markup {
    html! {
        section.card aria-labelledby=(id) {
            h2 id=(id) { (title) }
            p.metric { (value) }
            p.change { (note) }
        }
    }
}

/// A whole number with thousands separators: "1,234,567".
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut text = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        text.push('-');
    }
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            text.push(',');
        }
        text.push(c);
    }
    text
}

/// A large count in three significant digits with one scale for every page:
/// exact below 10,000 ("9,876"), then "12.3 k", "456 k", "4.60 M", "22.8 M",
/// "1.20 B".
pub fn compact(value: f64) -> String {
    let n = value.round();
    if n.abs() < 10_000.0 {
        return grouped(n as i64);
    }
    let in_unit = |size: f64, unit: &str| {
        let scaled = n / size;
        let decimals = match scaled.abs() {
            x if x >= 100.0 => 0,
            x if x >= 10.0 => 1,
            _ => 2,
        };
        let text = format!("{scaled:.decimals$}");
        // Rounding may carry to 1000 (999.96 k): then the next unit says it.
        let fits = text.trim_start_matches('-').parse::<f64>().unwrap_or(0.0) < 1000.0;
        fits.then(|| format!("{text} {unit}"))
    };
    in_unit(1e3, "k")
        .or_else(|| in_unit(1e6, "M"))
        .or_else(|| in_unit(1e9, "B"))
        .unwrap_or_else(|| format!("{:.0} B", n / 1e9))
}

/// A span of whole hours in words: "36 hours", "7 days", "1 day".
pub fn hours_text(hours: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if hours >= 24 && hours % 24 == 0 {
        plural(hours / 24, "day")
    } else {
        plural(hours, "hour")
    }
}

/// A UTF-8 byte order mark: spreadsheets then read names with accents right.
pub const CSV_BOM: &str = "\u{feff}";

/// One CSV record with CRLF, fields quoted where RFC 4180 requires it. Fields
/// that a spreadsheet would run as a formula are prefixed with a quote mark.
pub fn csv_record(fields: impl IntoIterator<Item = String>) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let fields: Vec<String> = fields.into_iter().map(defuse_formula).collect();
    // Writing into a Vec cannot fail.
    let _ = writer.write_record(&fields);
    writer.into_inner().unwrap_or_default()
}

/// OWASP's list of characters a spreadsheet may start a formula with: `=`, `+`,
/// `-`, `@`, and TAB and CR (some spreadsheets skip leading whitespace before
/// reading a formula); LF for the same reason. Plain numbers stay numbers.
fn defuse_formula(field: String) -> String {
    match field.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r' | '\n') if field.parse::<f64>().is_err() => {
            format!("'{field}")
        }
        _ => field,
    }
}

/// A CSV download: the byte order mark, the header, then the records.
pub fn csv_attachment(
    filename: &str,
    header: &[&str],
    records: impl IntoIterator<Item = Vec<String>>,
) -> axum::response::Response {
    use axum::http::header;
    use axum::response::IntoResponse;
    let mut body = CSV_BOM.as_bytes().to_vec();
    body.extend(csv_record(header.iter().map(|name| name.to_string())));
    for record in records {
        body.extend(csv_record(record));
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// An instant as RFC 3339 in UTC, to the second (exports).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Milliseconds at the start (UTC) of a `YYYY-MM-DD` date typed into a form.
pub fn date_ms(field: &str, text: &str) -> Result<i64, crate::error::AppError> {
    let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| crate::error::AppError::validation(field, "must be a date, YYYY-MM-DD"))?;
    Ok(date
        .and_time(chrono::NaiveTime::MIN)
        .and_utc()
        .timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_records_quote_what_needs_quoting_and_defuse_formulas() {
        let line = csv_record([
            "Brief, weekly".into(),
            "say \"hi\"".into(),
            "=HYPERLINK(1)".into(),
            "-0.5".into(),
        ]);
        assert_eq!(
            String::from_utf8(line).expect("utf-8"),
            "\"Brief, weekly\",\"say \"\"hi\"\"\",'=HYPERLINK(1),-0.5\r\n"
        );
    }

    #[test]
    fn a_leading_tab_or_carriage_return_is_defused_too() {
        for field in [
            "\t=1+1",
            "\r=1+1",
            "\n=1+1",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
        ] {
            let line = String::from_utf8(csv_record([field.to_string()])).expect("utf-8");
            assert!(
                line.starts_with("'") || line.starts_with("\"'"),
                "{field:?} came out as {line:?}"
            );
        }
    }

    #[test]
    fn counts_read_one_way_on_every_page() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-4_602), "-4,602");
        assert_eq!(compact(9_876.0), "9,876");
        assert_eq!(compact(12_345.0), "12.3 k");
        assert_eq!(compact(456_000.0), "456 k");
        assert_eq!(compact(4_602_000.0), "4.60 M");
        assert_eq!(compact(22_800_000.0), "22.8 M");
        assert_eq!(compact(1_200_000_000.0), "1.20 B");
        assert_eq!(
            compact(999_999.0),
            "1.00 M",
            "rounding carries into the next scale"
        );
    }

    #[test]
    fn hours_read_as_days_when_whole() {
        assert_eq!(hours_text(168), "7 days");
        assert_eq!(hours_text(24), "1 day");
        assert_eq!(hours_text(36), "36 hours");
        assert_eq!(hours_text(1), "1 hour");
    }

    #[test]
    fn cents_and_encoding() {
        assert_eq!(usd_cents(19_386), "$0.01");
        assert_eq!(usd_cents(4_750_000), "$4.75");
        assert_eq!(urlencode("a b&c"), "a+b%26c");
    }
}

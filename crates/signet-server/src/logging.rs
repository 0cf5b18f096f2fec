//! How signetd writes its log lines to stderr: text (the default), or JSON,
//! one object a line, for a log pipeline. A JSON line holds `timestamp`,
//! `level`, `target`, the event's fields (`message` among them) and the
//! fields of every span it was written in: `request_id` and `trace_id` for
//! lines written while a request was served (`observe` in `lib.rs`).
//!
//! This is only the format. Which lines are written (the level filter) is
//! chosen apart, so the two can change independently.
//!
//! tracing-subscriber's own `json` feature needs `tracing-serde`, which is
//! not among the project's dependencies; this writer uses serde_json, which is.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line.
    Json,
}

/// The layer that writes log lines in `format` to stderr.
pub fn layer<S>(format: LogFormat) -> Box<dyn Layer<S> + Send + Sync>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let text = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    match format {
        LogFormat::Text => text.boxed(),
        LogFormat::Json => text.with_ansi(false).fmt_fields(JsonFields).event_format(JsonLines).boxed(),
    }
}

/// Collects fields as JSON values: numbers and booleans as such, anything
/// else as its text.
struct Collect<'a>(&'a mut Map<String, Value>);

impl Visit for Collect<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(field.name().to_owned(), value.into());
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0.insert(field.name().to_owned(), Value::String(value.to_string()));
    }
}

/// A span's fields, kept as the text of a JSON object.
pub struct JsonFields;

impl<'writer> FormatFields<'writer> for JsonFields {
    fn format_fields<R: RecordFields>(&self, mut writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut map = Map::new();
        fields.record(&mut Collect(&mut map));
        write!(writer, "{}", Value::Object(map))
    }

    fn add_fields(&self, current: &mut FormattedFields<Self>, fields: &tracing::span::Record<'_>) -> fmt::Result {
        let mut map = match serde_json::from_str(current) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        fields.record(&mut Collect(&mut map));
        current.fields = Value::Object(map).to_string();
        Ok(())
    }
}

/// One JSON object a line.
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        line.insert("timestamp".into(), timestamp.into());
        line.insert("level".into(), event.metadata().level().as_str().into());
        line.insert("target".into(), event.metadata().target().into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let fields = extensions.get::<FormattedFields<JsonFields>>().map(|f| f.fields.as_str());
                if let Some(Ok(Value::Object(fields))) = fields.map(serde_json::from_str) {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut Collect(&mut line));
        writeln!(writer, "{}", Value::Object(line))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(bytes)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_is_one_object_with_its_spans_fields() {
        let out = Buffer::default();
        let writer = out.clone();
        let json = tracing_subscriber::fmt::layer()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields)
            .event_format(JsonLines);
        let subscriber = tracing_subscriber::registry().with(json);
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "r1", trace_id = tracing::field::Empty);
            span.record("trace_id", "t1");
            span.in_scope(|| tracing::warn!(status = 401u64, quoted = "a \"b\"\nc", "refused"));
            tracing::info!("outside");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["request_id"], "r1");
        assert_eq!(lines[0]["trace_id"], "t1", "fields recorded later too");
        assert_eq!(
            (&lines[0]["level"], &lines[0]["message"], &lines[0]["status"]),
            (&"WARN".into(), &"refused".into(), &401.into())
        );
        assert_eq!(lines[0]["quoted"], "a \"b\"\nc");
        assert!(lines[0]["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1].get("request_id"), None);
    }
}

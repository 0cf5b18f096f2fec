//! W3C Trace Context (Recommendation, level 1): the `traceparent` header.
//!
//! A request that carries a valid `traceparent` continues that trace; any
//! other starts a new one. Either way the request gets a span id of its
//! own, which its answer's `traceparent` names and which is the parent of
//! the calls signetd makes for it (upstream providers, MFA services). The
//! header is parsed strictly (§3.2): version `00` only, lowercase hex, no
//! all-zero trace or parent id, exactly one header. An invalid one is
//! ignored, as §3.2.2.1 says, never an error. Only the `sampled` flag is
//! carried on: it is the only one this version defines. Nothing here
//! records spans: there is no tracer to send them to, only ids for logs.

use axum::http::HeaderMap;

pub const HEADER: &str = "traceparent";

/// The trace a request belongs to, and its own span in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceContext {
    pub trace_id: [u8; 16],
    /// This request's span: its answer names it, and its outgoing calls
    /// name it as their parent.
    pub span_id: [u8; 8],
    pub sampled: bool,
}

/// A `traceparent` as received: the caller's trace, span and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: [u8; 16],
    pub parent_id: [u8; 8],
    pub flags: u8,
}

const SAMPLED: u8 = 0x01;

tokio::task_local! {
    static CURRENT: TraceContext;
}

/// Parses a version-00 `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`,
/// lowercase, neither id all zeros.
pub fn parse(value: &str) -> Option<Parent> {
    let mut parts = value.split('-');
    let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || version != "00" {
        return None;
    }
    let trace_id: [u8; 16] = lower_hex(trace)?;
    let parent_id: [u8; 8] = lower_hex(parent)?;
    let [flags] = lower_hex::<1>(flags)?;
    if trace_id == [0; 16] || parent_id == [0; 8] {
        return None;
    }
    Some(Parent { trace_id, parent_id, flags })
}

/// Exactly `2 * N` lowercase hex digits.
fn lower_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    let mut out = [0; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TraceContext {
    /// The context of a request with these headers: the caller's trace if
    /// it sent exactly one valid `traceparent`, else a new trace. `None`
    /// only if the system gives no random bytes.
    pub fn for_request(headers: &HeaderMap) -> Option<TraceContext> {
        let mut all = headers.get_all(HEADER).iter();
        let parent = match (all.next(), all.next()) {
            (Some(one), None) => one.to_str().ok().and_then(parse),
            _ => None,
        };
        let span_id = nonzero(signet_core::crypto::random_bytes::<8>().ok()?)?;
        match parent {
            Some(p) => Some(TraceContext { trace_id: p.trace_id, span_id, sampled: p.flags & SAMPLED != 0 }),
            None => {
                let trace_id = nonzero(signet_core::crypto::random_bytes::<16>().ok()?)?;
                Some(TraceContext { trace_id, span_id, sampled: false })
            }
        }
    }

    pub fn trace_id_hex(&self) -> String {
        hex(&self.trace_id)
    }

    /// The `traceparent` naming this request's span.
    pub fn header_value(&self) -> String {
        format!("00-{}-{}-{:02x}", hex(&self.trace_id), hex(&self.span_id), u8::from(self.sampled))
    }

    /// Runs `f` as this request's work: `current` answers with this context in it.
    pub async fn scope<F: std::future::Future>(self, f: F) -> F::Output {
        CURRENT.scope(self, f).await
    }

    /// The context of the request being served, if any.
    pub fn current() -> Option<TraceContext> {
        CURRENT.try_with(|c| *c).ok()
    }
}

fn nonzero<const N: usize>(bytes: [u8; N]) -> Option<[u8; N]> {
    (bytes != [0; N]).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_is_read() {
        let p = parse(VALID).unwrap();
        assert_eq!(hex(&p.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(hex(&p.parent_id), "00f067aa0ba902b7");
        assert_eq!(p.flags, 1);
    }

    #[test]
    fn anything_else_is_ignored() {
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-+0f067aa0ba902b7-01",
            " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_request_continues_the_callers_trace_in_a_span_of_its_own() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, VALID.parse().unwrap());
        let t = TraceContext::for_request(&headers).unwrap();
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(hex(&t.span_id), "00f067aa0ba902b7");
        let answer = t.header_value();
        assert!(answer.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-") && answer.ends_with("-01"), "{answer}");
        assert_eq!(parse(&answer).map(|p| p.parent_id), Some(t.span_id));

        headers.append(HEADER, VALID.parse().unwrap());
        let two = TraceContext::for_request(&headers).unwrap();
        assert_ne!(two.trace_id, t.trace_id, "two headers are none: a new trace");
        assert!(!two.sampled);
        assert!(parse(&two.header_value()).is_some());
    }
}

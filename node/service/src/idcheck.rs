//! JSON-RPC request ids the server cannot echo: an `id` that is an object, an array, a boolean or
//! a fractional number is not a valid JSON-RPC 2.0 id, and jsonrpsee then reads the request as a
//! notification and answers nothing (a bare `null`, which no client can parse). This HTTP layer
//! answers such a request with `-32600` (invalid request) and `"id": null`, as the specification
//! says, and in a batch answers the bad entries so while the others run as usual.
//!
//! The check is a scan for `"id":` followed by `{`, `[`, `t`, `f`, or a number with a fraction or
//! exponent; only a request that has one is parsed (the usual requests cost one pass of
//! `memchr`-like search and no parse).

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use http::{Method, Response, StatusCode, header};
use http_body_util::BodyExt;
use jsonrpsee::{
    core::BoxError,
    server::{HttpBody, HttpRequest, HttpResponse},
};
use serde_json::{Value, json};
use tower::{Layer, Service};

/// The error object for a request with an unusable id.
pub fn bad_id_error() -> Value {
    json!({
        "jsonrpc": "2.0",
        "error": {
            "code": -32600,
            "message": "Invalid request: the id must be a string, an integer or null",
        },
        "id": null,
    })
}

/// Whether an `id` value is one JSON-RPC 2.0 allows (string, integer, null).
fn valid_id(id: &Value) -> bool {
    match id {
        Value::Null | Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

/// Whether the body may hold a bad id (cheap; false positives are fine, false negatives are not).
fn suspicious(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = find(rest, b"\"id\"") {
        let after = &rest[at + 4..];
        let mut v = after.iter().skip_while(|c| c.is_ascii_whitespace());
        if v.next() == Some(&b':') {
            // Only the value's first character, or a number's own characters, are read: those
            // runs cannot hold another `"id"`, so the whole scan stays linear in the body.
            let mut value = v.skip_while(|c| c.is_ascii_whitespace()).peekable();
            match value.peek() {
                Some(b'{' | b'[' | b't' | b'f') => return true,
                Some(c) if c.is_ascii_digit() || **c == b'-' => {
                    let fraction = value
                        .take_while(|c| c.is_ascii_digit() || matches!(c, b'-' | b'+' | b'.' | b'e' | b'E'))
                        .any(|c| matches!(c, b'.' | b'e' | b'E'));
                    if fraction {
                        return true;
                    }
                }
                _ => {}
            }
        }
        rest = after;
    }
    false
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What to do with a request body.
#[derive(Debug, PartialEq)]
pub enum Screened {
    /// Pass it on unchanged.
    Pass,
    /// Answer this at once (a single request with a bad id, or a batch of only such requests).
    Answer(Value),
    /// Pass on `forward` (the batch without its bad entries) and add `errors` to its answer.
    Batch {
        /// The good entries, as a batch.
        forward: Vec<u8>,
        /// One error per bad entry.
        errors: Vec<Value>,
    },
}

/// Screens a JSON-RPC request body for ids the server cannot echo.
pub fn screen(body: &[u8]) -> Screened {
    if !suspicious(body) {
        return Screened::Pass;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(o)) => match o.get("id") {
            Some(id) if !valid_id(id) => Screened::Answer(bad_id_error()),
            _ => Screened::Pass,
        },
        Ok(Value::Array(entries)) => {
            let (good, bad): (Vec<Value>, Vec<Value>) =
                entries.into_iter().partition(|e| e.get("id").is_none_or(valid_id));
            if bad.is_empty() {
                return Screened::Pass;
            }
            let errors = bad.iter().map(|_| bad_id_error()).collect();
            if good.is_empty() {
                return Screened::Answer(Value::Array(errors));
            }
            Screened::Batch {
                forward: serde_json::to_vec(&good).expect("values serialise"),
                errors,
            }
        }
        // Not JSON, or another shape: the server's own answer (parse error...) is right.
        _ => Screened::Pass,
    }
}

/// Adds `errors` to a batch answer (`null` or empty when the forwarded entries were all
/// notifications).
pub fn merge(answer: &[u8], errors: Vec<Value>) -> Vec<u8> {
    let mut all = match serde_json::from_slice::<Value>(answer) {
        Ok(Value::Array(a)) => a,
        Ok(Value::Object(o)) => vec![Value::Object(o)],
        _ => Vec::new(),
    };
    all.extend(errors);
    serde_json::to_vec(&Value::Array(all)).expect("values serialise")
}

fn json_response(body: Vec<u8>) -> HttpResponse {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(HttpBody::from(body))
        .expect("static headers are valid")
}

/// The layer (see the module doc); `max_bytes` bounds the body it reads.
#[derive(Clone)]
pub struct IdCheckLayer {
    max_bytes: usize,
}

impl IdCheckLayer {
    /// Reads at most `max_bytes` of a request body (the server's own limit).
    pub fn new(max_bytes: usize) -> Self {
        IdCheckLayer { max_bytes }
    }
}

impl<S> Layer<S> for IdCheckLayer {
    type Service = IdCheck<S>;

    fn layer(&self, inner: S) -> IdCheck<S> {
        IdCheck {
            inner,
            max_bytes: self.max_bytes,
        }
    }
}

/// See [`IdCheckLayer`].
#[derive(Clone)]
pub struct IdCheck<S> {
    inner: S,
    max_bytes: usize,
}

impl<S> Service<HttpRequest<HttpBody>> for IdCheck<S>
where
    S: Service<HttpRequest<HttpBody>, Response = HttpResponse> + Clone + Send + 'static,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: HttpRequest<HttpBody>) -> Self::Future {
        if req.method() != Method::POST {
            let fut = self.inner.call(req);
            return Box::pin(async move { fut.await.map_err(Into::into) });
        }
        // The inner service was made ready for this call; keep that one, give the clone back.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let max = self.max_bytes;
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let bytes = match http_body_util::Limited::new(body, max).collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    let too_big = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
                    let (status, code, message) = if too_big {
                        (
                            StatusCode::PAYLOAD_TOO_LARGE,
                            -32007,
                            format!("the request is too big: over the server's limit of {max} bytes"),
                        )
                    } else {
                        (
                            StatusCode::BAD_REQUEST,
                            -32700,
                            format!("the request body could not be read: {e}"),
                        )
                    };
                    let body = json!({"jsonrpc": "2.0", "error": {"code": code, "message": message}, "id": null});
                    let mut resp = json_response(serde_json::to_vec(&body).expect("values serialise"));
                    *resp.status_mut() = status;
                    return Ok(resp);
                }
            };
            match screen(&bytes) {
                Screened::Pass => {
                    let req = HttpRequest::from_parts(parts, HttpBody::from(bytes.to_vec()));
                    inner.call(req).await.map_err(Into::into)
                }
                Screened::Answer(v) => Ok(json_response(serde_json::to_vec(&v).expect("values serialise"))),
                Screened::Batch { forward, errors } => {
                    let mut parts = parts;
                    parts.headers.remove(header::CONTENT_LENGTH);
                    let req = HttpRequest::from_parts(parts, HttpBody::from(forward));
                    let answer = inner.call(req).await.map_err(Into::into)?;
                    let (_, body) = answer.into_parts();
                    let answer = body.collect().await?.to_bytes();
                    Ok(json_response(merge(&answer, errors)))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 8 MiB body of `"id":` repeated (the largest request the server takes) is scanned in
    /// one pass: each `"id":` is looked at, and what follows it is read only as far as its value's
    /// first character or its number. (The scan once copied everything after each `"id":`, about
    /// 10^12 bytes for this body, on a worker the node's consensus shares.)
    #[test]
    fn a_body_of_repeated_ids_is_scanned_in_one_pass() {
        let body = b"\"id\":".repeat((8 << 20) / 5);
        assert!(!suspicious(&body));
        let digits = [&b"\"id\":"[..], &b"1".repeat(8 << 20)].concat();
        assert!(!suspicious(&digits));
        let spaced = b"\"id\": ".repeat((8 << 20) / 6);
        assert!(!suspicious(&spaced));
        assert!(suspicious(&[&spaced[..], br#""id": 1.5"#].concat()));
    }

    #[test]
    fn good_ids_pass_unparsed_and_bad_ones_are_answered() {
        for ok in [
            &br#"{"jsonrpc":"2.0","id":1,"method":"m"}"#[..],
            br#"{"jsonrpc":"2.0","id":"x","method":"m"}"#,
            br#"{"jsonrpc":"2.0","id":null,"method":"m"}"#,
            br#"{"jsonrpc":"2.0","method":"m","params":["\"id\": {"]}"#,
            br#"[{"jsonrpc":"2.0","id":1,"method":"m"},{"jsonrpc":"2.0","id":-2,"method":"m"}]"#,
            b"not json",
        ] {
            assert_eq!(screen(ok), Screened::Pass, "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &br#"{"jsonrpc":"2.0","id":{},"method":"m"}"#[..],
            br#"{"jsonrpc":"2.0","id" : [1],"method":"m"}"#,
            br#"{"jsonrpc":"2.0","id":true,"method":"m"}"#,
            br#"{"jsonrpc":"2.0","id":1.5,"method":"m"}"#,
            br#"{"jsonrpc":"2.0","id":1e3,"method":"m"}"#,
        ] {
            assert_eq!(
                screen(bad),
                Screened::Answer(bad_id_error()),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        let batch = br#"[{"jsonrpc":"2.0","id":{},"method":"m"},{"jsonrpc":"2.0","id":2,"method":"m"}]"#;
        match screen(batch) {
            Screened::Batch { forward, errors } => {
                assert_eq!(
                    serde_json::from_slice::<Value>(&forward).unwrap(),
                    json!([{"jsonrpc":"2.0","id":2,"method":"m"}])
                );
                assert_eq!(errors, vec![bad_id_error()]);
                let merged = merge(br#"[{"jsonrpc":"2.0","id":2,"result":7}]"#, errors);
                assert_eq!(
                    serde_json::from_slice::<Value>(&merged).unwrap(),
                    json!([{"jsonrpc":"2.0","id":2,"result":7}, bad_id_error()])
                );
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            screen(br#"[{"jsonrpc":"2.0","id":[],"method":"m"}]"#),
            Screened::Answer(json!([bad_id_error()]))
        );
    }
}

//! Static pages served on the RPC port: the dApps' HTML, scripts, styles and the wallet module.
//! Serving them from the node's own origin means a page talks to the RPC without CORS and needs
//! no separate web server.
//!
//! A `GET` (or `HEAD`) without a WebSocket upgrade whose path is a file of the [`Site`] gets that
//! file; other `GET`s get 404; everything else (JSON-RPC `POST`s, WebSocket upgrades) goes on to
//! the RPC server.

use std::{
    collections::HashMap,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderValue, Method, Response, StatusCode, header};
use jsonrpsee::{
    core::BoxError,
    server::{HttpBody, HttpRequest, HttpResponse},
};
use tower::{Layer, Service};

/// One file.
#[derive(Clone, Debug)]
pub struct StaticFile {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body.
    pub body: Arc<[u8]>,
}

/// The files, by path (`/puzzle/` for a directory's page). A path ending in `/` is also reached
/// without it (by redirect).
#[derive(Clone, Debug, Default)]
pub struct Site {
    files: HashMap<String, StaticFile>,
}

impl Site {
    /// An empty site.
    pub fn new() -> Self {
        Site::default()
    }

    /// Adds a file; the content type comes from the path's extension (`/` paths are HTML).
    pub fn add(&mut self, path: &str, body: impl Into<Arc<[u8]>>) -> &mut Self {
        let content_type = match path.rsplit_once('.').map(|(_, ext)| ext) {
            _ if path.ends_with('/') => "text/html; charset=utf-8",
            Some("html") => "text/html; charset=utf-8",
            Some("js") | Some("mjs") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("json") => "application/json",
            Some("wasm") => "application/wasm",
            Some("svg") => "image/svg+xml",
            Some("png") => "image/png",
            _ => "application/octet-stream",
        };
        self.files.insert(
            path.to_string(),
            StaticFile {
                content_type,
                body: body.into(),
            },
        );
        self
    }

    /// The file at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&StaticFile> {
        self.files.get(path)
    }

    fn respond(&self, method: &Method, path: &str) -> HttpResponse {
        let head = *method == Method::HEAD;
        let mut builder = Response::builder().header(header::CACHE_CONTROL, "no-cache");
        let (status, body) = if let Some(f) = self.files.get(path) {
            builder = builder
                .header(header::CONTENT_TYPE, f.content_type)
                .header("x-content-type-options", "nosniff");
            (StatusCode::OK, f.body.to_vec())
        } else if self.files.contains_key(&format!("{path}/")) {
            builder = builder.header(header::LOCATION, format!("{path}/"));
            (StatusCode::MOVED_PERMANENTLY, Vec::new())
        } else {
            builder = builder.header(header::CONTENT_TYPE, "text/plain; charset=utf-8");
            let mut known: Vec<&str> = self
                .files
                .keys()
                .filter(|p| p.ends_with('/'))
                .map(String::as_str)
                .collect();
            known.sort_unstable();
            let msg = format!(
                "404: nothing at {path}. Pages: {}. JSON-RPC: POST here, or a WebSocket.\n",
                known.join(", ")
            );
            (StatusCode::NOT_FOUND, msg.into_bytes())
        };
        let len = body.len();
        let body = if head { Vec::new() } else { body };
        let mut resp = builder
            .status(status)
            .body(HttpBody::from(body))
            .expect("static headers are valid");
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            resp.headers_mut().insert(header::CONTENT_LENGTH, v);
        }
        resp
    }
}

/// Renders the Prometheus metrics.
pub type MetricsFn = Arc<dyn Fn() -> String + Send + Sync>;

/// The tower layer that serves a [`Site`] (and `GET /metrics`) in front of the RPC server.
#[derive(Clone)]
pub struct SiteLayer {
    site: Option<Arc<Site>>,
    metrics: Option<MetricsFn>,
}

impl SiteLayer {
    /// Serves `site`, or passes everything through when `None`.
    pub fn new(site: Option<Arc<Site>>) -> Self {
        SiteLayer { site, metrics: None }
    }

    /// Also answers `GET /metrics` with what `render` returns (OpenMetrics text).
    pub fn with_metrics(mut self, render: MetricsFn) -> Self {
        self.metrics = Some(render);
        self
    }
}

fn metrics_response(text: String) -> HttpResponse {
    Response::builder()
        .status(StatusCode::OK)
        .header(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
        .header(header::CACHE_CONTROL, "no-cache")
        .body(HttpBody::from(text))
        .expect("static headers are valid")
}

impl<S> Layer<S> for SiteLayer {
    type Service = SiteService<S>;

    fn layer(&self, inner: S) -> SiteService<S> {
        SiteService {
            inner,
            site: self.site.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

/// See [`SiteLayer`].
#[derive(Clone)]
pub struct SiteService<S> {
    inner: S,
    site: Option<Arc<Site>>,
    metrics: Option<MetricsFn>,
}

impl<S, B> Service<HttpRequest<B>> for SiteService<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: HttpRequest<B>) -> Self::Future {
        let is_page_request = (req.method() == Method::GET || req.method() == Method::HEAD)
            && !req.headers().contains_key(header::UPGRADE);
        if let Some(render) = &self.metrics
            && req.method() == Method::GET
            && req.uri().path() == "/metrics"
        {
            let resp = metrics_response(render());
            return Box::pin(async move { Ok(resp) });
        }
        if let Some(site) = &self.site
            && is_page_request
        {
            let resp = site.respond(req.method(), req.uri().path());
            return Box::pin(async move { Ok(resp) });
        }
        let fut = self.inner.call(req);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_get_their_content_types_and_unknown_paths_a_404() {
        let mut s = Site::new();
        s.add("/puzzle/", b"<html>".to_vec())
            .add("/shared/wallet.wasm", b"\0asm".to_vec());
        assert_eq!(s.get("/puzzle/").unwrap().content_type, "text/html; charset=utf-8");
        assert_eq!(s.get("/shared/wallet.wasm").unwrap().content_type, "application/wasm");
        let r = s.respond(&Method::GET, "/puzzle");
        assert_eq!(r.status(), StatusCode::MOVED_PERMANENTLY);
        assert_eq!(r.headers()[header::LOCATION], "/puzzle/");
        let r = s.respond(&Method::GET, "/nope");
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = s.respond(&Method::HEAD, "/puzzle/");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "6");
    }
}

//! Reading a server's answer within a bound: at most 1 MiB, the bound
//! signetd puts on what it reads, so a hostile or broken server cannot make
//! a client hold gigabytes. A declared `Content-Length` past the bound is
//! refused before the body is read; a body without one stops at the bound.

/// The most read of one answer. The largest real ones (a page of audit
/// events, a discovery document) are a few tens of kilobytes.
pub const MAX_ANSWER: usize = 1 << 20;

/// An answer past [`MAX_ANSWER`].
#[derive(Debug, thiserror::Error)]
#[error(
    "the answer from {url} is larger than {} KiB, more than signet reads from a server, so it stopped reading\nhint: check that the service's address names the right server",
    MAX_ANSWER >> 10
)]
pub struct TooLarge {
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
}

/// The body of `res`, at most [`MAX_ANSWER`] bytes of it.
pub async fn body(mut res: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    let too_large = |res: &reqwest::Response| TooLarge { url: without_query(res.url()) };
    if res.content_length().is_some_and(|n| n > MAX_ANSWER as u64) {
        return Err(too_large(&res).into());
    }
    let mut out = Vec::new();
    while let Some(chunk) = res.chunk().await? {
        if out.len() + chunk.len() > MAX_ANSWER {
            return Err(too_large(&res).into());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// The body of `res` as text (invalid UTF-8 replaced), at most [`MAX_ANSWER`] bytes.
pub async fn text(res: reqwest::Response) -> Result<String, ReadError> {
    Ok(String::from_utf8_lossy(&body(res).await?).into_owned())
}

/// A URL as errors show it: a query may hold a code or a token.
fn without_query(url: &url::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    u.to_string()
}

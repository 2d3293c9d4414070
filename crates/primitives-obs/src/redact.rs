//! Keeping credentials out of everything a person reads: startup banners,
//! error messages, log lines, `Debug` output and health pages.
//!
//! Two tools, shared by every crate that handles user settings:
//! [`redact_url`] masks the credentials a URL can carry (its userinfo and its
//! query values), and [`Secrets`] scrubs known secret values out of text that
//! came from elsewhere (an HTTP client's error message that quotes the URL,
//! a collector's answer).
//!
//! ```
//! use tta_primitives_obs::redact::{Secrets, redact_url};
//!
//! assert_eq!(
//!     redact_url("https://user:hunter2@collector:4318/v1/traces?token=abc&x=1"),
//!     "https://***@collector:4318/v1/traces?token=***&x=***"
//! );
//! let mut secrets = Secrets::default();
//! secrets.add("Bearer s3cr3t-token");
//! assert_eq!(
//!     secrets.scrub("401 for Authorization: Bearer s3cr3t-token"),
//!     "401 for Authorization: ***"
//! );
//! ```

use std::fmt;

/// What replaces a secret.
pub const MASK: &str = "***";

/// `url` with its userinfo (`user:password@`) and every query value
/// replaced by `***`; the scheme, host, port, path and query keys stay, so
/// the URL still says where it points. Text that is not a URL comes back
/// with the same masking applied to whatever looks like userinfo or a query.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rfind('@') {
        Some(at) => format!("{MASK}@{}", &authority[at + 1..]),
        None => authority.to_owned(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, _)) => (before, Some(MASK)),
        None => (tail, None),
    };
    let path_and_query = match before_fragment.split_once('?') {
        Some((path, query)) => {
            let masked: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) => format!("{key}={MASK}"),
                    None if pair.is_empty() => String::new(),
                    None => MASK.to_owned(),
                })
                .collect();
            format!("{path}?{}", masked.join("&"))
        }
        None => before_fragment.to_owned(),
    };
    let mut out = String::with_capacity(url.len());
    if let Some(scheme) = scheme {
        out.push_str(scheme);
        out.push_str("://");
    }
    out.push_str(&host);
    out.push_str(&path_and_query);
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

/// Whether `url` carries credentials: userinfo or a query string.
pub fn url_has_credentials(url: &str) -> bool {
    redact_url(url) != url
}

/// Secret values (header values, keys, URL credentials) to scrub out of text
/// before a person sees it. `Debug` shows only how many are held.
#[derive(Clone, Default)]
pub struct Secrets {
    values: Vec<String>,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} held)", self.values.len())
    }
}

/// Values shorter than this are not scrubbed: masking every `1` or `on`
/// would make messages unreadable, and so short a value protects nothing.
const MIN_SECRET_LEN: usize = 4;
/// Words of a secret are scrubbed alone from this length on, so the token
/// of `Bearer <token>` is hidden while the word `Bearer` stays readable.
const MIN_SECRET_WORD_LEN: usize = 8;

impl Secrets {
    /// Holds `value` as a secret (its trimmed form, and each
    /// whitespace-separated word of it long enough to matter, so
    /// `Basic dXNlcjpwYXNz` also hides `dXNlcjpwYXNz` quoted alone).
    pub fn add(&mut self, value: &str) {
        let value = value.trim();
        if value.len() >= MIN_SECRET_LEN {
            self.values.push(value.to_owned());
        }
        for word in value.split_whitespace() {
            if word.len() >= MIN_SECRET_WORD_LEN && word != value {
                self.values.push(word.to_owned());
            }
        }
        // Longest first, so a value is masked whole before its words.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self.values.dedup();
    }

    /// Holds the credentials `url` carries: its userinfo and query values.
    pub fn add_url(&mut self, url: &str) {
        let Some((_, rest)) = url.split_once("://") else {
            return;
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let userinfo = &rest[..at];
            self.add(userinfo);
            if let Some((user, password)) = userinfo.split_once(':') {
                self.add(user);
                self.add(password);
            }
        }
        if let Some((_, query)) = rest.split_once('?') {
            let query = query.split('#').next().unwrap_or_default();
            for pair in query.split('&') {
                self.add(pair.split_once('=').map_or(pair, |(_, v)| v));
            }
        }
    }

    /// Whether no secret is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `text` with every held secret replaced by `***`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), MASK);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_where_they_point_and_lose_their_credentials() {
        assert_eq!(
            redact_url("http://127.0.0.1:4318/v1/traces"),
            "http://127.0.0.1:4318/v1/traces"
        );
        assert_eq!(redact_url("http://a:b@h:1/p"), "http://***@h:1/p");
        assert_eq!(redact_url("http://tok@h"), "http://***@h");
        assert_eq!(redact_url("http://h/p?k=v&flag"), "http://h/p?k=***&***");
        assert_eq!(redact_url("http://h?k=v#frag"), "http://h?k=***#***");
        assert_eq!(redact_url("h:1/p?x=y"), "h:1/p?x=***");
        assert!(url_has_credentials("http://u:p@h"));
        assert!(url_has_credentials("http://h/?api_key=1"));
        assert!(!url_has_credentials("https://cloud.langfuse.com"));
    }

    #[test]
    fn scrubbing_hides_whole_values_and_their_words() {
        let mut secrets = Secrets::default();
        secrets.add("Basic dXNlcjpwYXNz");
        secrets.add_url("http://alice:wonderland@h:1/v1/traces?token=abcdef");
        let text = "sent Basic dXNlcjpwYXNz; then dXNlcjpwYXNz; url http://alice:wonderland@h:1/v1/traces?token=abcdef";
        let scrubbed = secrets.scrub(text);
        for secret in ["dXNlcjpwYXNz", "alice", "wonderland", "abcdef"] {
            assert!(!scrubbed.contains(secret), "{secret} in {scrubbed}");
        }
        assert!(scrubbed.contains("h:1/v1/traces"), "{scrubbed}");
        assert_eq!(format!("{secrets:?}"), "Secrets(6 held)");
        let mut short = Secrets::default();
        short.add("on");
        assert!(short.is_empty());
    }

    #[test]
    fn values_count_from_four_characters_and_their_words_from_eight() {
        let mut secrets = Secrets::default();
        secrets.add("abc");
        assert!(secrets.is_empty(), "three characters protect nothing");
        secrets.add(" abcd ");
        assert!(!secrets.is_empty());
        assert_eq!(secrets.scrub("x abcd y"), "x *** y", "held trimmed");
        // "Token" and "1234567" are too short to be hidden alone; the
        // eight-character word is.
        secrets.add("Token 12345678 1234567");
        assert_eq!(format!("{secrets:?}"), "Secrets(3 held)");
        assert_eq!(
            secrets.scrub("Token 12345678 1234567; 12345678; Token 1234567"),
            "***; ***; Token 1234567"
        );
        // A one-word value is held once, not again as its own word.
        let mut one = Secrets::default();
        one.add("abcdefghij");
        assert_eq!(format!("{one:?}"), "Secrets(1 held)");
        // add_url holds nothing of a URL without credentials.
        let mut none = Secrets::default();
        none.add_url("https://collector:4318/v1/traces");
        none.add_url("not a url");
        assert!(none.is_empty());
    }

    #[test]
    fn an_empty_query_pair_stays_empty() {
        assert_eq!(redact_url("http://h/p?&k=v&"), "http://h/p?&k=***&");
    }
}

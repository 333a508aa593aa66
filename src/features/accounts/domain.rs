//! Account values, each parsed once from user input.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::error::Problem;
use crate::markdown;

/// A username: 1–40 ASCII letters, digits, `_`, `-` or `.`. Shown and put
/// in author pages' URLs as its owner wrote it; one account per
/// [`username_key`], so "Owner" cannot sit beside "owner".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Username(String);

impl Username {
    pub const MAX_LEN: usize = 40;

    /// The input is NFKC-normalised first, so a name typed in fullwidth
    /// forms (as some keyboards for East Asian languages do) is the ASCII
    /// name it looks like rather than a refusal.
    pub fn parse(input: &str) -> Result<Self, Problem> {
        let name: String = input.trim().nfkc().collect();
        let name = name.trim();
        if name.is_empty() {
            return Err(Problem::Blank);
        }
        if name.chars().count() > Self::MAX_LEN {
            return Err(Problem::TooLong { max: Self::MAX_LEN });
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(Problem::Format(
                "may only contain letters, digits, '_', '-' and '.'",
            ));
        }
        if name.starts_with('.') || name.ends_with('.') {
            return Err(Problem::Format("may not start or end with '.'"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        username_key(&self.0)
    }
}

/// What makes two usernames the same name: NFKC normalisation, then lower
/// case, then NFKC again (lower-casing can undo a normalisation). Computed
/// for any text, so that signing in with "OWNER" or a fullwidth "ｏｗｎｅｒ"
/// finds "owner", and so that names stored before this rule get their key.
pub fn username_key(name: &str) -> String {
    let folded = name.trim().nfkc().collect::<String>().to_lowercase();
    folded.nfkc().collect()
}

/// An email address, lower-cased so that uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, Problem> {
        let email = input.trim().to_lowercase();
        if email.is_empty() {
            return Err(Problem::Blank);
        }
        if email.len() > Self::MAX_LEN {
            return Err(Problem::TooLong { max: Self::MAX_LEN });
        }
        // Deliberately loose: one '@' with something on each side and a dot
        // in the domain. Whether it receives mail is for a mail to find out.
        let valid = match email.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !domain.contains('@')
                    && !email.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            return Err(Problem::Format("is not a valid email address"));
        }
        Ok(Self(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password as typed. Never logged: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub const MIN_LEN: usize = 8;
    pub const MAX_LEN: usize = 256;

    pub fn parse(input: &str) -> Result<Self, Problem> {
        if input.is_empty() {
            return Err(Problem::Blank);
        }
        let len = input.chars().count();
        if len < Self::MIN_LEN {
            return Err(Problem::TooShort { min: Self::MIN_LEN });
        }
        if len > Self::MAX_LEN {
            return Err(Problem::TooLong { max: Self::MAX_LEN });
        }
        Ok(Self(input.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An optional link to an avatar image: absent, or an http(s) URL.
pub fn parse_image_url(input: &str) -> Result<Option<String>, Problem> {
    let input = input.trim();
    if input.is_empty() {
        return Ok(None);
    }
    match url::Url::parse(input) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && input.len() <= 2048 => {
            Ok(Some(url.to_string()))
        }
        _ => Err(Problem::Format("must be an http:// or https:// address")),
    }
}

/// A bio: Markdown, short enough to render when the profile is shown
/// (a millisecond at most, once its nesting is bounded).
pub fn parse_bio(input: &str) -> Result<Option<String>, Problem> {
    const MAX_BIO: usize = 2000;
    let bio = input.trim();
    if bio.chars().count() > MAX_BIO {
        return Err(Problem::TooLong { max: MAX_BIO });
    }
    markdown::render(bio, &markdown::Figures::new(), markdown::Shape::Note)?;
    Ok((!bio.is_empty()).then(|| bio.to_owned()))
}

/// A stored bio as HTML; one written before nesting was bounded is shown
/// as text.
pub fn bio_html(bio: &str) -> String {
    markdown::render(bio, &markdown::Figures::new(), markdown::Shape::Note)
        .unwrap_or_else(|_| format!("<p>{}</p>", ammonia::clean_text(bio)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("  alice_1 ").unwrap().as_str(), "alice_1");
        assert_eq!(Username::parse("").unwrap_err(), Problem::Blank);
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("<script>").is_err());
        assert!(Username::parse(".hidden").is_err());
        assert!(Username::parse(&"x".repeat(41)).is_err());
        assert!(Username::parse(&"x".repeat(40)).is_ok());
        assert_eq!(Username::parse("ｏｗｎｅｒ").unwrap().as_str(), "owner");
        assert_eq!(Username::parse("Owner").unwrap().as_str(), "Owner");
    }

    #[test]
    fn username_keys_ignore_case_and_compatibility_forms() {
        for same in ["owner", "Owner", "OWNER", " ｏｗｎｅｒ ", "ＯＷＮＥＲ"] {
            assert_eq!(username_key(same), "owner", "{same}");
        }
        assert_eq!(Username::parse("Mr.Ⅸ").unwrap().key(), "mr.ix");
        assert_ne!(username_key("owner"), username_key("owner2"));
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Bob@Example.COM ").unwrap().as_str(),
            "bob@example.com"
        );
        assert_eq!(Email::parse("").unwrap_err(), Problem::Blank);
        for bad in [
            "bob",
            "bob@",
            "@x.com",
            "bob@localhost",
            "a b@x.com",
            "a@b@c.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords() {
        assert_eq!(Password::parse("").unwrap_err(), Problem::Blank);
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("long enough").is_ok());
        assert_eq!(
            format!("{:?}", Password::parse("long enough").unwrap()),
            "Password([redacted])"
        );
    }

    #[test]
    fn image_urls() {
        assert_eq!(parse_image_url(" ").unwrap(), None);
        assert!(parse_image_url("javascript:alert(1)").is_err());
        assert!(
            parse_image_url("https://example.com/a.png")
                .unwrap()
                .is_some()
        );
    }

    proptest::proptest! {
        /// Whatever is typed, parsing answers (never panics), and what it
        /// accepts parses to itself again: each value is parsed once, at
        /// the edge, and means the same thing every time.
        #[test]
        fn parsers_accept_what_they_produce(input in "\\PC{0,60}|[A-Za-z0-9_.@ -]{0,60}") {
            if let Ok(name) = Username::parse(&input) {
                proptest::prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()));
                proptest::prop_assert_eq!(username_key(&name.key()), name.key());
                proptest::prop_assert!(name.as_str().is_ascii());
            }
            if let Ok(email) = Email::parse(&input) {
                proptest::prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
            if let Ok(Some(bio)) = parse_bio(&input) {
                proptest::prop_assert_eq!(parse_bio(&bio), Ok(Some(bio.clone())));
            }
            let _ = Password::parse(&input);
            let _ = parse_image_url(&input);
        }
    }
}

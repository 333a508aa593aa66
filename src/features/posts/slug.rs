//! URL slugs made from titles.

/// The longest slug, in characters.
pub const MAX: usize = 60;

/// Lower-cases the title and joins its words with `-`: "Hello, World!" →
/// "hello-world". Letters of any script are kept; everything else separates
/// words. At most [`MAX`] characters, cut at a word boundary when possible.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_lowercase();
        let needed = word.chars().count() + usize::from(!slug.is_empty());
        if slug.chars().count() + needed > MAX {
            if slug.is_empty() {
                slug = word.chars().take(MAX).collect();
            }
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word);
    }
    if slug.is_empty() {
        slug.push_str("post");
    }
    slug
}

/// The slug with a random suffix: for when the plain one is taken, and for
/// posts not yet public (see `posts::create`).
pub fn with_suffix(slug: &str) -> String {
    use rand::Rng;
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(6)
        .map(|c| char::from(c).to_ascii_lowercase())
        .collect();
    format!("{slug}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic() {
        assert_eq!(slugify("Hello, World!"), "hello-world");
        assert_eq!(
            slugify("  Rust   2026: what's new?  "),
            "rust-2026-what-s-new"
        );
        assert_eq!(slugify("Ünïcödé Straße"), "ünïcödé-straße");
        assert_eq!(slugify("日本語のタイトル"), "日本語のタイトル");
    }

    #[test]
    fn empty_or_symbols_only() {
        assert_eq!(slugify(""), "post");
        assert_eq!(slugify("!!! ??? ..."), "post");
        assert_eq!(slugify("<script>"), "script");
    }

    #[test]
    fn long_titles_are_cut_at_words() {
        let slug = slugify(&"word ".repeat(40));
        assert!(slug.chars().count() <= 60);
        assert!(!slug.ends_with('-'));
        assert!(slug.ends_with("word"));
        assert_eq!(slugify(&"x".repeat(100)).chars().count(), 60);
    }

    #[test]
    fn suffixes_differ() {
        let a = with_suffix("post");
        assert!(a.starts_with("post-") && a.len() == 11);
        assert_ne!(a, with_suffix("post"));
    }

    proptest::proptest! {
        /// Any title makes a slug of at most 60 characters, words joined by
        /// single '-', and the tags any author types are
        /// refused or normalised to a list that normalises to itself.
        #[test]
        fn slugs_and_tags_stay_in_their_form(title in "\\PC{0,120}", tags in proptest::collection::vec("\\PC{0,50}", 0..14)) {
            let slug = slugify(&title);
            proptest::prop_assert!(!slug.is_empty() && slug.chars().count() <= 60);
            proptest::prop_assert!(!slug.starts_with('-') && !slug.ends_with('-') && !slug.contains("--"));
            // One path segment, whatever the script: nothing that ends or
            // escapes it, and lower case where the script has one.
            proptest::prop_assert!(slug.chars().all(|c| !c.is_whitespace() && !c.is_control() && !"/?#%.".contains(c)), "{slug}");
            proptest::prop_assert_eq!(slug.to_lowercase(), slug.clone());
            if let Ok(normal) = super::super::normalize_tags(&tags) {
                proptest::prop_assert_eq!(super::super::normalize_tags(&normal), Ok(normal.clone()));
                proptest::prop_assert!(normal.iter().all(|t| t != "." && t != ".." && !t.is_empty()));
            }
        }
    }
}

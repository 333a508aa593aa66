//! Full-text search over the posts a listing shows: title and tags weigh
//! most, then the description, then the text. SQLite keeps an FTS5 index
//! (`post_search`, Porter stemming, accents folded) and PostgreSQL a
//! weighted `tsvector` under a GIN index (`posts.search`, English
//! stemming); both follow the `search_text` and `search_tags` columns that
//! a post's writes set in their transaction ([`indexed_text`]).
//!
//! PostgreSQL's index keeps no word positions, so a phrase would be
//! checked by reading every post that holds its words; each post's vector
//! also holds its pairs of adjacent words (migration
//! 20261204000001_search_phrases) and a query gains its phrases' pairs
//! ([`with_word_pairs`]), which the index answers.
//!
//! Queries read as a web search engine's do: words (all must be there),
//! `"a phrase"`, `-word` to leave out, `or` between alternatives. Nothing
//! a reader types is an error: the engines' own operators, stray quotes
//! and punctuation are only text. A query is bounded (characters, terms),
//! so what one costs is too.

use super::{Listing, Post, SELECT_POSTS, attach_tags};
use crate::db::{self, Db, Dialect, Query, query};
use crate::error::AppResult;

/// What of a query is read: longer ones cost more and find no better.
const MAX_QUERY_CHARS: usize = 200;
const MAX_TERMS: usize = 12;

/// Around the matched words of a snippet, from the database; the text is
/// escaped before they become `<mark>`. From Unicode's private use area,
/// and taken out of what is indexed, so a post cannot fake a mark.
const START: char = '\u{E000}';
const STOP: char = '\u{E001}';

/// A post found, with the words around what matched (safe HTML, the
/// matches in `<mark>`).
pub struct Hit {
    pub post: Post,
    pub snippet: String,
}

/// What a post's writes store for search: its text as readers see it (from
/// its rendered HTML), and its tags.
pub(super) fn indexed_text(body_html: &str, tags: &[String]) -> (String, String) {
    let unmarked = |text: String| text.replace([START, STOP], " ");
    (
        unmarked(crate::markdown::excerpt(body_html, usize::MAX)),
        unmarked(tags.join(" ")),
    )
}

/// Ranking orders every match before the best can be picked, so past
/// this many matches it is not tried: results come newest first, and only
/// this many are counted and paged through. A search costs a bounded
/// amount of work whatever it matches.
pub const RANKED_AT_MOST: i64 = 1_000;

/// A page of results.
pub struct Found {
    pub hits: Vec<Hit>,
    /// How many match, counted up to [`RANKED_AT_MOST`].
    pub total: i64,
    /// More than [`RANKED_AT_MOST`] match: the newest come first.
    pub more: bool,
}

/// One page of the posts in `listing` that match `text`, best first (or,
/// past [`RANKED_AT_MOST`] matches, newest first). A query with no words
/// finds nothing.
pub async fn search(
    db: &Db,
    viewer: Option<i64>,
    listing: &Listing,
    text: &str,
    offset: i64,
    limit: i64,
) -> AppResult<Found> {
    let nothing = Found {
        hits: Vec::new(),
        total: 0,
        more: false,
    };
    let text: String = text.chars().take(MAX_QUERY_CHARS).collect();
    // What the engine is asked, and what its snippets mark.
    let (matches, query, marks) = match db.dialect() {
        Dialect::Sqlite => match fts5_query(&text) {
            Some(query) => ("post_search MATCH $1", query.clone(), query),
            None => return Ok(nothing),
        },
        Dialect::Postgres => {
            // Parsed by PostgreSQL (its stemming and stop words), then
            // given the pairs of its phrases.
            let parsed: String = query("SELECT websearch_to_tsquery('english', $1)::text")
                .bind(text.clone())
                .scalar(db)
                .await?;
            if parsed.is_empty() {
                return Ok(nothing);
            }
            ("p.search @@ $1::tsquery", with_word_pairs(&parsed), parsed)
        }
    };
    let (clause, args) = listing.clause(2);
    let (from, rank, newest) = match db.dialect() {
        // The index leads (CROSS JOIN fixes SQLite's join order): led by
        // the posts, SQLite would run the MATCH once for each of them.
        // FTS5's rank is bm25 with the weights the migration set, lower
        // better; its rowid order needs no sort.
        Dialect::Sqlite => (
            "FROM post_search CROSS JOIN posts p ON p.id = post_search.rowid
             CROSS JOIN users u ON u.id = p.author_id",
            "post_search.rank, p.id DESC",
            "post_search.rowid DESC",
        ),
        Dialect::Postgres => (
            "FROM posts p JOIN users u ON u.id = p.author_id",
            "ts_rank(p.search, $1::tsquery) DESC, p.id DESC",
            "p.published_at DESC, p.id DESC",
        ),
    };
    // Planned for each query's words: whether the index or the newest
    // posts should lead depends on how many posts hold them.
    let bound = |sql: String| {
        let query = Query::assembled(sql)
            .planned_each_time()
            .bind(query.clone());
        args.iter().fold(query, |q, a| a.bind_to(q))
    };
    let counted: i64 = bound(format!(
        "SELECT COUNT(*) FROM (SELECT 1 {from} WHERE {matches} AND {clause} LIMIT {}) m",
        RANKED_AT_MOST + 1
    ))
    .scalar(db)
    .await?;
    let more = counted > RANKED_AT_MOST;
    let total = counted.min(RANKED_AT_MOST);
    let limit = limit.min(total - offset);
    if limit <= 0 {
        return Ok(Found {
            total,
            more,
            ..nothing
        });
    }
    let order = if more { newest } else { rank };
    let next = args.len() + 2;
    let ids: Vec<i64> = bound(format!(
        "SELECT p.id {from} WHERE {matches} AND {clause}
         ORDER BY {order} LIMIT ${next} OFFSET ${}",
        next + 1
    ))
    .bind(limit)
    .bind(offset)
    .scalars(db)
    .await?;
    if ids.is_empty() {
        return Ok(Found {
            total,
            more,
            ..nothing
        });
    }
    let snippets = snippets(db, &marks, &ids).await?;
    let posts_sql = format!(
        "{SELECT_POSTS} WHERE p.id IN ({})",
        db::placeholders(2, ids.len())
    );
    let mut posts: Vec<Post> = Query::assembled(posts_sql)
        .bind(viewer.unwrap_or(0))
        .bind_all(ids.iter().copied())
        .fetch_all(db)
        .await?;
    attach_tags(db, &mut posts).await?;
    let mut hits: Vec<Hit> = posts
        .into_iter()
        .map(|post| {
            let raw = snippets
                .iter()
                .find(|(id, _)| *id == post.id)
                .map(|(_, s)| s.as_str())
                .unwrap_or_default();
            Hit {
                snippet: marked(raw),
                post,
            }
        })
        .collect();
    hits.sort_by_key(|hit| ids.iter().position(|id| *id == hit.post.id));
    Ok(Found { hits, total, more })
}

/// The words around the matches of each post in `ids`, with the matches
/// between [`START`] and [`STOP`].
async fn snippets(db: &Db, query: &str, ids: &[i64]) -> AppResult<Vec<(i64, String)>> {
    let listed = db::placeholders(4, ids.len());
    let sql = match db.dialect() {
        Dialect::Sqlite => format!(
            // From the text (column 3), as PostgreSQL's: the card shows
            // the title already.
            "SELECT rowid, snippet(post_search, 3, $2, $3, '…', 24) FROM post_search
             WHERE post_search MATCH $1 AND rowid IN ({listed})"
        ),
        Dialect::Postgres => format!(
            "SELECT id, ts_headline('english', search_text, $1::tsquery,
                 'StartSel=' || $2 || ', StopSel=' || $3 ||
                 ', MinWords=12, MaxWords=30, MaxFragments=2, FragmentDelimiter=\" … \"')
             FROM posts WHERE id IN ({listed})"
        ),
    };
    Ok(Query::assembled(sql)
        .bind(query.to_owned())
        .bind(START.to_string())
        .bind(STOP.to_string())
        .bind_all(ids.iter().copied())
        .fetch_all(db)
        .await?)
}

/// `tsquery` (as PostgreSQL writes one) with each phrase also asking for
/// its pairs of adjacent words, which the index holds as single lexemes:
/// `'zero' <-> 'downtim'` becomes `( 'zero' <-> 'downtim' & 'zero downtim' )`.
/// A phrase implies its pairs, so what matches is unchanged; the index can
/// now find it among few posts. Only a phrase of plain words that is not
/// itself part of a larger phrase gains pairs (a pair has no position, so
/// inside another phrase it would never match; `websearch_to_tsquery`
/// writes none such), and text this does not read is returned unchanged:
/// slower, never wrong.
fn with_word_pairs(tsquery: &str) -> String {
    enum Token {
        /// A quoted lexeme, unescaped; `plain` without weights or prefix.
        Word { text: String, plain: bool },
        /// `<->` (adjacent) or `<N>`.
        Phrase { adjacent: bool },
        /// `&`, `|`, `!`, `(`, `)`.
        Other,
    }
    let mut tokens: Vec<(Token, std::ops::Range<usize>)> = Vec::new();
    let bytes = tsquery.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let token = match bytes[at] {
            b' ' => {
                at += 1;
                continue;
            }
            b'\'' => {
                let mut text = String::new();
                let mut chars = tsquery[at + 1..].char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\'' if tsquery[at + 1 + i + 1..].starts_with('\'') => {
                            chars.next();
                            text.push('\'');
                        }
                        '\'' => {
                            end = Some(at + 1 + i + 1);
                            break;
                        }
                        '\\' => text.extend(chars.next().map(|(_, c)| c)),
                        c => text.push(c),
                    }
                }
                let Some(end) = end else {
                    return tsquery.to_owned();
                };
                at = end;
                let mut plain = true;
                if bytes.get(at) == Some(&b':') {
                    plain = false;
                    at += 1;
                    while at < bytes.len() && b"*ABCDabcd".contains(&bytes[at]) {
                        at += 1;
                    }
                }
                Token::Word { text, plain }
            }
            b'<' => {
                let Some(len) = tsquery[at..].find('>') else {
                    return tsquery.to_owned();
                };
                let inner = &tsquery[at + 1..at + len];
                at += len + 1;
                if inner != "-" && inner.parse::<u16>().is_err() {
                    return tsquery.to_owned();
                }
                Token::Phrase {
                    adjacent: inner == "-",
                }
            }
            b'&' | b'|' | b'!' | b'(' | b')' => {
                at += 1;
                Token::Other
            }
            _ => return tsquery.to_owned(),
        };
        tokens.push((token, start..at));
    }
    // A phrase operator between anything but two words (a group, a
    // negation) makes phrases of phrases: left as it is.
    let word =
        |i: Option<usize>| matches!(i.and_then(|i| tokens.get(i)), Some((Token::Word { .. }, _)));
    let simple = tokens.iter().enumerate().all(|(i, (token, _))| {
        !matches!(token, Token::Phrase { .. }) || (word(i.checked_sub(1)) && word(Some(i + 1)))
    });
    if !simple {
        return tsquery.to_owned();
    }
    let quoted = |text: &str| format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"));
    let mut out = String::with_capacity(tsquery.len() * 2);
    let mut copied = 0;
    let mut i = 0;
    while i < tokens.len() {
        if !matches!(tokens[i].0, Token::Word { .. }) {
            i += 1;
            continue;
        }
        // The phrase from word i: word (operator word)*.
        let mut end = i;
        while matches!(tokens.get(end + 1), Some((Token::Phrase { .. }, _))) {
            end += 2;
        }
        let pairs: Vec<String> = (i..end)
            .step_by(2)
            .filter_map(
                |w| match (&tokens[w].0, &tokens[w + 1].0, &tokens[w + 2].0) {
                    (
                        Token::Word {
                            text: a,
                            plain: true,
                        },
                        Token::Phrase { adjacent: true },
                        Token::Word {
                            text: b,
                            plain: true,
                        },
                    ) => Some(quoted(&format!("{a} {b}"))),
                    _ => None,
                },
            )
            .collect();
        if !pairs.is_empty() {
            let (first, last) = (tokens[i].1.start, tokens[end].1.end);
            out.push_str(&tsquery[copied..first]);
            out.push_str("( ");
            out.push_str(&tsquery[first..last]);
            for pair in pairs {
                out.push_str(" & ");
                out.push_str(&pair);
            }
            out.push_str(" )");
            copied = last;
        }
        i = end + 1;
    }
    out.push_str(&tsquery[copied..]);
    out
}

/// A snippet as HTML: its text escaped, its marks `<mark>` (balanced,
/// whatever the text held).
fn marked(raw: &str) -> String {
    let mut html = String::with_capacity(raw.len() + 32);
    let mut open = false;
    let mut plain = String::new();
    let flush = |plain: &mut String, html: &mut String| {
        html.push_str(&quick_xml::escape::escape(plain.as_str()));
        plain.clear();
    };
    for c in raw.chars() {
        match c {
            START if !open => {
                flush(&mut plain, &mut html);
                html.push_str("<mark>");
                open = true;
            }
            STOP if open => {
                flush(&mut plain, &mut html);
                html.push_str("</mark>");
                open = false;
            }
            START | STOP => {}
            c => plain.push(c),
        }
    }
    flush(&mut plain, &mut html);
    if open {
        html.push_str("</mark>");
    }
    html
}

/// A reader's query in FTS5's syntax, as PostgreSQL's
/// `websearch_to_tsquery` reads it: every word and phrase becomes a quoted
/// phrase (so nothing in it is an operator), `-` before one leaves it out,
/// `or` joins alternatives. `None` when nothing is left to look for.
fn fts5_query(text: &str) -> Option<String> {
    // Words and phrases, each with whether it is left out.
    let mut items: Vec<Item> = Vec::new();
    let mut rest = text;
    while items.len() < MAX_TERMS {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let (negated, after) = match rest.strip_prefix('-') {
            Some(after) if after.starts_with(|c: char| !c.is_whitespace()) => (true, after),
            _ => (false, rest),
        };
        let (raw, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        rest = remaining;
        if !negated && raw.eq_ignore_ascii_case("or") {
            items.push(Item::Or);
            continue;
        }
        // The tokenizer splits on anything but letters and digits: so does
        // this, and what is left cannot be an operator.
        let words: Vec<&str> = raw
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .collect();
        if !words.is_empty() {
            items.push(Item::Phrase {
                text: format!("\"{}\"", words.join(" ")),
                negated,
            });
        }
    }
    // Alternatives joined by `or` form a group; groups must all match.
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut excluded: Vec<String> = Vec::new();
    let mut joined = false;
    for item in items {
        match item {
            Item::Or => joined = !groups.is_empty(),
            Item::Phrase {
                text,
                negated: true,
            } => {
                excluded.push(text);
                joined = false;
            }
            Item::Phrase {
                text,
                negated: false,
            } => {
                match groups.last_mut() {
                    Some(group) if joined => group.push(text),
                    _ => groups.push(vec![text]),
                }
                joined = false;
            }
        }
    }
    if groups.is_empty() {
        return None;
    }
    let mut query = groups
        .iter()
        .map(|group| match group.as_slice() {
            [one] => one.clone(),
            many => format!("({})", many.join(" OR ")),
        })
        .collect::<Vec<_>>()
        .join(" AND ");
    for text in excluded {
        query.push_str(" NOT ");
        query.push_str(&text);
    }
    Some(query)
}

enum Item {
    Phrase { text: String, negated: bool },
    Or,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_as_web_searches_and_never_as_operators() {
        let q = |text| fts5_query(text);
        assert_eq!(q("rust async").as_deref(), Some(r#""rust" AND "async""#));
        assert_eq!(
            q(r#""zero downtime" deploy"#).as_deref(),
            Some(r#""zero downtime" AND "deploy""#)
        );
        assert_eq!(
            q("rust or go -java").as_deref(),
            Some(r#"("rust" OR "go") NOT "java""#)
        );
        assert_eq!(
            q("NEAR(a b) AND * ^x").as_deref(),
            Some(r#""NEAR a" AND "b" AND "AND" AND "x""#)
        );
        assert_eq!(
            q(r#"unclosed "quote"#).as_deref(),
            Some(r#""unclosed" AND "quote""#)
        );
        assert_eq!(
            q("café naïve 東京").as_deref(),
            Some(r#""café" AND "naïve" AND "東京""#)
        );
        for nothing in ["", "   ", "-alone", "or", "\"\"", "!!! ???", "-"] {
            assert_eq!(q(nothing), None, "{nothing:?}");
        }
    }

    #[test]
    fn phrases_gain_their_pairs_of_words_and_nothing_else_changes() {
        let pairs = with_word_pairs;
        assert_eq!(
            pairs("'zero' <-> 'downtim' <-> 'deploy'"),
            "( 'zero' <-> 'downtim' <-> 'deploy' & 'zero downtim' & 'downtim deploy' )"
        );
        // As PostgreSQL writes `"the e-mail of doom" or fish -"rusty nails"`.
        assert_eq!(
            pairs("'e-mail' <-> 'e' <-> 'mail' <2> 'doom' | 'fish' & !( 'rusti' <-> 'nail' )"),
            "( 'e-mail' <-> 'e' <-> 'mail' <2> 'doom' & 'e-mail e' & 'e mail' ) | 'fish' \
             & !( ( 'rusti' <-> 'nail' & 'rusti nail' ) )"
        );
        // Quotes and backslashes in lexemes are written escaped.
        assert_eq!(
            pairs(r"'o''neil' <-> 'a\\b'"),
            r"( 'o''neil' <-> 'a\\b' & 'o''neil a\\b' )"
        );
        // No adjacent plain words: nothing to add.
        for unchanged in [
            "'rust' & 'async'",
            "'zero' <2> 'downtim'",
            "'zero':* <-> 'downtim'",
            "",
        ] {
            assert_eq!(pairs(unchanged), unchanged);
        }
        // Part of a larger phrase, or text this does not read: unchanged.
        for unchanged in [
            "( 'a' <-> 'b' ) <-> 'c'",
            "'a' <-> ( 'b' <-> 'c' )",
            "'a' <-> !'b' & 'c' <-> 'd'",
            "'a' <-> 'b' ?",
            "'unclosed <-> 'b'",
        ] {
            assert_eq!(pairs(unchanged), unchanged);
        }
    }

    #[test]
    fn snippets_escape_text_and_balance_marks() {
        assert_eq!(
            marked("a <b> \u{E000}rust\u{E001} & more"),
            "a &lt;b&gt; <mark>rust</mark> &amp; more"
        );
        assert_eq!(marked("\u{E000}open"), "<mark>open</mark>");
        assert_eq!(marked("stray\u{E001} end"), "stray end");
    }
}

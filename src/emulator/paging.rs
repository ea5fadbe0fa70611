//! `MaxResults` / `NextToken` pagination shared by the List operations.
//!
//! Items are sorted by a key (an account id) and the token names the key the next
//! page starts at, so a page stays stable when earlier items are deleted.

use super::error::ApiError;

/// Prefix that marks tokens this emulator issued.
const TOKEN_PREFIX: &str = "sho1-";

/// A page request as parsed from the query string.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub max_results: Option<u32>,
    pub next_token: Option<String>,
}

impl Page {
    /// Validates `MaxResults` against the operation's modelled range.
    pub fn parse(max_results: Option<&str>, next_token: Option<&str>, upper: u32) -> Result<Page, ApiError> {
        let max_results = match max_results {
            None => None,
            Some(text) => match text.parse::<u32>() {
                Ok(n) if (1..=upper).contains(&n) => Some(n),
                _ => {
                    return Err(ApiError::invalid_input(format!(
                        "MaxResults must be an integer from 1 to {upper}."
                    )));
                }
            },
        };
        let next_token = next_token.filter(|t| !t.is_empty()).map(str::to_string);
        Ok(Page {
            max_results,
            next_token,
        })
    }
}

/// Returns the page of `items` (sorted by key) and the token of the next page.
pub fn paginate<T>(mut items: Vec<(String, T)>, page: &Page) -> Result<(Vec<T>, Option<String>), ApiError> {
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let start_key = match &page.next_token {
        None => None,
        Some(token) => Some(
            token
                .strip_prefix(TOKEN_PREFIX)
                .ok_or_else(|| ApiError::invalid_input("The NextToken is invalid."))?,
        ),
    };
    let size = page.max_results.unwrap_or(50) as usize;
    let mut rest = items
        .into_iter()
        .skip_while(|(key, _)| start_key.is_some_and(|start| key.as_str() < start));
    let chosen: Vec<T> = rest.by_ref().take(size).map(|(_, item)| item).collect();
    let next = rest.next().map(|(key, _)| format!("{TOKEN_PREFIX}{key}"));
    Ok((chosen, next))
}

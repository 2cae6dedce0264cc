//! Error fingerprints: failures that are the same problem group together even
//! when their messages differ in numbers and ids ("Used 28980" vs "Used 29104",
//! one request id or another). The fingerprint is the agent, the error class and
//! the message with those parts normalized.

use sha2::{Digest, Sha256};

/// The message with ids and numbers replaced:
/// - UUIDs and runs of 12+ hex digits → `<id>`;
/// - standalone numbers (integers, decimals, with a unit suffix like `2.384s`
///   or `120s`) → `<n>`;
/// - digits inside words (`gpt-4o`, `claude-3-5-haiku`) stay, so models differ.
pub fn normalize(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !(is_word(chars[i - 1]) || joins_name(&chars, i - 1));
        if starts_word && let Some(end) = id_at(&chars, i) {
            out.push_str("<id>");
            i = end;
            continue;
        }
        if starts_word && chars[i].is_ascii_digit() {
            let mut end = i;
            while end < chars.len()
                && (chars[end].is_ascii_digit()
                    || (chars[end] == '.' && chars.get(end + 1).is_some_and(char::is_ascii_digit)))
            {
                end += 1;
            }
            // A unit right after the number (s, ms, k) belongs to it; other letters
            // make it part of a word.
            let unit_end = ["ms", "s", "k", "m"]
                .iter()
                .find(|unit| {
                    let unit: Vec<char> = unit.chars().collect();
                    chars.get(end..end + unit.len()) == Some(&unit[..])
                        && chars.get(end + unit.len()).is_none_or(|c| !is_word(*c))
                })
                .map(|unit| end + unit.len());
            match unit_end {
                Some(unit_end) => {
                    out.push_str("<n>");
                    i = unit_end;
                    continue;
                }
                None if chars.get(end).is_none_or(|c| !is_word(*c)) && !joins_name(&chars, end) => {
                    out.push_str("<n>");
                    i = end;
                    continue;
                }
                None => {}
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// A `-` or `.` at `at` between word characters ties a number into a name
/// (`claude-3-5-haiku`, `v1.2-beta`), so the number stays.
fn joins_name(chars: &[char], at: usize) -> bool {
    matches!(chars.get(at), Some('-' | '.'))
        && at > 0
        && chars.get(at - 1).is_some_and(|c| is_word(*c))
        && chars.get(at + 1).is_some_and(|c| is_word(*c))
}

/// The end of a UUID or a 12+ hex-digit id starting at `start`, if there is one.
fn id_at(chars: &[char], start: usize) -> Option<usize> {
    let mut end = start;
    let mut hex = 0;
    while end < chars.len() && (chars[end].is_ascii_hexdigit() || chars[end] == '-') {
        if chars[end].is_ascii_hexdigit() {
            hex += 1;
        }
        end += 1;
    }
    let token: String = chars[start..end].iter().collect();
    let uuid = token.len() == 36 && token.matches('-').count() == 4;
    let long_hex = hex >= 12 && !token.contains('-') && token.chars().any(|c| c.is_ascii_digit());
    let ends_word = chars.get(end).is_none_or(|c| !is_word(*c));
    ((uuid || long_hex) && ends_word).then_some(end)
}

/// The group a failure belongs to.
pub fn fingerprint(agent_id: &str, error_class: &str, message: &str) -> String {
    of_normalized(agent_id, error_class, &normalize(message))
}

/// The same, for a message already normalized.
pub fn of_normalized(agent_id: &str, error_class: &str, normalized: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [agent_id, error_class, normalized] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hasher
        .finalize()
        .iter()
        .take(12)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_ids_are_normalized_but_model_names_kept() {
        assert_eq!(
            normalize(
                "Rate limit reached for gpt-4o: Limit 30000, Used 28980. Please try again in 2.384s."
            ),
            "Rate limit reached for gpt-4o: Limit <n>, Used <n>. Please try again in <n>."
        );
        assert_eq!(
            normalize(
                "request 3f2b8c1e-9d4a-4c3b-8e1f-0a1b2c3d4e5f failed after 120s (claude-3-5-haiku)"
            ),
            "request <id> failed after <n> (claude-3-5-haiku)"
        );
        assert_eq!(
            normalize("trace deadbeef0123456789 at step 3"),
            "trace <id> at step <n>"
        );
        assert_eq!(
            normalize("provider error (529): Overloaded"),
            "provider error (<n>): Overloaded"
        );
    }

    #[test]
    fn the_same_problem_gets_the_same_fingerprint() {
        let a = fingerprint("agent-1", "rate_limited", "Limit 30000, Used 28980");
        let b = fingerprint("agent-1", "rate_limited", "Limit 30000, Used 29911");
        assert_eq!(a, b);
        assert_ne!(
            a,
            fingerprint("agent-2", "rate_limited", "Limit 30000, Used 28980")
        );
        assert_ne!(
            a,
            fingerprint("agent-1", "provider_error", "Limit 30000, Used 28980")
        );
        assert_eq!(a.len(), 24);
    }
}

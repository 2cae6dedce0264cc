//! User accounts: the `users` table, the email newtype, password changes and the
//! account page (password, personal API tokens).

pub mod handlers;
mod page;
mod store;

use secrecy::SecretString;

use crate::auth::password;
use crate::error::AppError;
use crate::storage::{Db, new_id};

pub use store::{find_by_email, insert_user_in, user};

/// An email address, trimmed and lower-cased, checked for a plausible shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

/// An email as accounts are looked up by: trimmed and lower-cased. The login
/// limiter keys on the same form, so variants of one address share a bucket.
pub fn normalize_email(text: &str) -> String {
    text.trim().to_lowercase()
}

impl Email {
    pub fn parse(text: &str) -> Result<Email, AppError> {
        let email = normalize_email(text);
        let invalid =
            || AppError::validation("email", "must be an email address like name@example.com");
        if email.len() > 254 || email.chars().any(char::is_whitespace) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        if local.is_empty() || domain.len() < 3 || !domain.contains('.') || domain.contains('@') {
            return Err(invalid());
        }
        if domain.starts_with('.') || domain.ends_with('.') {
            return Err(invalid());
        }
        Ok(Email(email))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name: 1–100 characters after trimming.
pub fn parse_name(field: &str, text: &str) -> Result<String, AppError> {
    let name = text.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > 100 {
        return Err(AppError::validation(field, "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::validation(
            field,
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
}

pub struct NewUser<'a> {
    pub email: &'a Email,
    pub name: &'a str,
    pub password: SecretString,
}

/// Creates a user; a taken email is a 409.
pub async fn create_user(db: &Db, new: NewUser<'_>) -> Result<User, AppError> {
    let hash = password::hash_password(new.password).await?;
    let user = User {
        id: new_id(),
        email: new.email.as_str().to_string(),
        name: new.name.to_string(),
    };
    match store::insert_user(db, &user, &hash).await {
        Ok(()) => Ok(user),
        Err(err) if crate::storage::is_unique_violation(&err) => Err(AppError::Conflict(
            "a user with this email already exists".into(),
        )),
        Err(err) => Err(err.into()),
    }
}

/// Changes a password after checking the current one; every other session of the
/// user is revoked (the one making the change stays signed in).
pub async fn change_password(
    db: &Db,
    user_id: &str,
    current: SecretString,
    new: SecretString,
    keep_session: Option<&str>,
) -> Result<(), AppError> {
    use secrecy::ExposeSecret;
    password::validate_new_password(new.expose_secret())?;
    let stored = store::password_hash_of(db, user_id).await?;
    if !password::verify_password(current, stored).await {
        return Err(AppError::validation(
            "current_password",
            "is not your current password",
        ));
    }
    let hash = password::hash_password(new).await?;
    store::set_password(db, user_id, &hash, keep_session).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").map(|e| e.0).ok(),
            Some("ada@example.com".to_string())
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "a@@b.com",
            "a@.com.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn names_are_bounded() {
        assert!(parse_name("name", "  ").is_err());
        assert!(parse_name("name", &"n".repeat(101)).is_err());
        assert_eq!(parse_name("name", " Ada ").ok().as_deref(), Some("Ada"));
    }
}

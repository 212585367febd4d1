//! Role names and the role hierarchy.
//!
//! Roles are paths such as `eng/web`: resources reserved for `eng` may be used by `eng/web`,
//! and quota and weights apply per subtree. `*` stands for "no role" (unreserved).

/// The name Mesos uses for unreserved resources and for the default role.
pub const STAR: &str = "*";

/// Why a role name was rejected; the messages follow Mesos's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// An empty role name.
    #[error("role names cannot be the empty string")]
    Empty,
    /// A leading `/`.
    #[error("role '{0}' cannot start with a slash")]
    LeadingSlash(String),
    /// A trailing `/`.
    #[error("role '{0}' cannot end with a slash")]
    TrailingSlash(String),
    /// `//` inside the name.
    #[error("role '{0}' cannot contain two adjacent slashes")]
    AdjacentSlashes(String),
    /// A `.`, `..` or `*` component.
    #[error("role '{role}' cannot include '{component}' as a component")]
    ReservedComponent {
        /// The whole role.
        role: String,
        /// The offending component.
        component: String,
    },
    /// A component starting with `-`.
    #[error("role component '{0}' is invalid because it starts with a dash")]
    LeadingDash(String),
    /// Whitespace or DEL inside a component.
    #[error("role component '{0}' is invalid because it contains backspace or whitespace")]
    BadCharacter(String),
}

/// Checks a role name as Mesos does; `*` is valid.
pub fn validate_role(role: &str) -> Result<(), RoleError> {
    if role == STAR {
        return Ok(());
    }
    if role.is_empty() {
        return Err(RoleError::Empty);
    }
    if role.starts_with('/') {
        return Err(RoleError::LeadingSlash(role.to_string()));
    }
    if role.ends_with('/') {
        return Err(RoleError::TrailingSlash(role.to_string()));
    }
    if role.contains("//") {
        return Err(RoleError::AdjacentSlashes(role.to_string()));
    }
    for component in role.split('/') {
        if matches!(component, "." | ".." | "*") {
            return Err(RoleError::ReservedComponent {
                role: role.to_string(),
                component: component.to_string(),
            });
        }
        if component.starts_with('-') {
            return Err(RoleError::LeadingDash(component.to_string()));
        }
        if component.contains(['\t', '\n', '\x0b', '\x0c', '\r', ' ', '\x7f']) {
            return Err(RoleError::BadCharacter(component.to_string()));
        }
    }
    Ok(())
}

/// True when `role` equals `ancestor` or lies beneath it (`a/b` is a strict descendant of `a`).
pub fn is_same_or_descendant(role: &str, ancestor: &str) -> bool {
    role == ancestor || is_strict_descendant(role, ancestor)
}

/// True when `role` lies strictly beneath `ancestor` in the hierarchy.
pub fn is_strict_descendant(role: &str, ancestor: &str) -> bool {
    role.len() > ancestor.len()
        && role.starts_with(ancestor)
        && role.as_bytes()[ancestor.len()] == b'/'
}

/// The ancestors of a role, nearest first: `a/b/c` gives `a/b`, then `a`.
pub fn ancestors(role: &str) -> impl Iterator<Item = &str> + '_ {
    role.rmatch_indices('/').map(move |(i, _)| &role[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_like_mesos() {
        assert!(validate_role("*").is_ok());
        assert!(validate_role("eng/web-1").is_ok());
        assert_eq!(validate_role("").unwrap_err(), RoleError::Empty);
        assert_eq!(
            validate_role("a/./b").unwrap_err().to_string(),
            "role 'a/./b' cannot include '.' as a component"
        );
        assert!(matches!(
            validate_role("/a"),
            Err(RoleError::LeadingSlash(_))
        ));
        assert!(matches!(
            validate_role("a/"),
            Err(RoleError::TrailingSlash(_))
        ));
        assert!(matches!(
            validate_role("a//b"),
            Err(RoleError::AdjacentSlashes(_))
        ));
        assert!(matches!(
            validate_role("-a"),
            Err(RoleError::LeadingDash(_))
        ));
        assert!(matches!(
            validate_role("a b"),
            Err(RoleError::BadCharacter(_))
        ));
    }

    #[test]
    fn hierarchy() {
        assert!(is_strict_descendant("a/b", "a"));
        assert!(!is_strict_descendant("ab", "a"));
        assert!(is_same_or_descendant("a", "a"));
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), ["a/b", "a"]);
    }
}

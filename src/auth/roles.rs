//! Roles and what each may do: the one table the server enforces (DESIGN.md §5).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A member's role in a team, from least to most trusted.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Member,
    Admin,
    Owner,
}

/// Things a role may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read every page of the team, export CSV.
    Read,
    /// Run, kill and retry executions; resolve errors.
    Operate,
    /// Create and edit workflows, agents and schedules.
    EditWorkflows,
    /// Add, edit, test and delete provider keys.
    ManageKeys,
    /// Invite and remove members, change roles (not of owners).
    ManageMembers,
    /// Enable and disable components.
    ManageComponents,
    /// Create, change and delete alert rules.
    ManageAlerts,
    /// Set the pilot's window, targets and entered values; freeze snapshots.
    ManagePilot,
    /// Grant or remove the owner role, delete the team.
    ManageOwners,
}

impl Permission {
    pub const ALL: [Permission; 9] = [
        Permission::Read,
        Permission::Operate,
        Permission::EditWorkflows,
        Permission::ManageKeys,
        Permission::ManageMembers,
        Permission::ManageComponents,
        Permission::ManageAlerts,
        Permission::ManagePilot,
        Permission::ManageOwners,
    ];

    /// The least role holding this permission. This is the whole matrix.
    pub fn minimum_role(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Operate | Permission::EditWorkflows => Role::Member,
            Permission::ManageKeys
            | Permission::ManageMembers
            | Permission::ManageComponents
            | Permission::ManageAlerts
            | Permission::ManagePilot => Role::Admin,
            Permission::ManageOwners => Role::Owner,
        }
    }
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Member, Role::Admin, Role::Owner];

    pub fn allows(self, permission: Permission) -> bool {
        self >= permission.minimum_role()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("role must be one of: owner, admin, member, viewer")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(text: &str) -> Result<Role, UnknownRole> {
        match text {
            "viewer" => Ok(Role::Viewer),
            "member" => Ok(Role::Member),
            "admin" => Ok(Role::Admin),
            "owner" => Ok(Role::Owner),
            _ => Err(UnknownRole),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_design() {
        use Permission::*;
        let expected: [(Role, &[Permission]); 4] = [
            (Role::Viewer, &[Read]),
            (Role::Member, &[Read, Operate, EditWorkflows]),
            (
                Role::Admin,
                &[
                    Read,
                    Operate,
                    EditWorkflows,
                    ManageKeys,
                    ManageMembers,
                    ManageComponents,
                    ManageAlerts,
                    ManagePilot,
                ],
            ),
            (Role::Owner, &Permission::ALL),
        ];
        for (role, allowed) in expected {
            for permission in Permission::ALL {
                assert_eq!(
                    role.allows(permission),
                    allowed.contains(&permission),
                    "{role} / {permission:?}"
                );
            }
        }
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}

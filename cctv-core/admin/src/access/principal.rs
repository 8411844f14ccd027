//! Roles and the authenticated person a request acts for.

use std::collections::BTreeSet;

use serde::Serialize;

/// A closed set: what a person may do is decided by role (and, for operators, scope).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything.
    Admin,
    /// Reads and manages devices, streams, event settings and persons of assigned
    /// branches (directly or through assigned groups).
    Operator,
    /// Reads everything except administration (users, credentials, audit, settings); a
    /// viewer assigned branches or groups reads only those.
    Viewer,
}

impl Role {
    pub(crate) const ALL: [Role; 3] = [Role::Admin, Role::Operator, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// The person behind a request, with the branches they may see resolved once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Principal {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Branch ids an operator may see and manage, or a scoped viewer may see (assigned
    /// branches plus the branches of assigned groups). Ignored for admins.
    pub branches: BTreeSet<i64>,
    /// Assigned group ids (operators and scoped viewers).
    pub groups: BTreeSet<i64>,
    /// The token this request authenticated with (for logout).
    #[serde(skip)]
    pub token_id: Option<i64>,
    /// A personal access token's scopes: the only requests it may make. `None`: a login
    /// (or session), which acts with the full role.
    #[serde(skip)]
    pub scopes: Option<std::collections::BTreeSet<super::TokenScope>>,
}

impl Principal {
    /// The operator at the server's command line (`cctv user create`, `cctv token …`): an
    /// admin with no user row, named so in the audit log.
    pub fn command_line() -> Self {
        Principal {
            user_id: 0,
            email: "cli".into(),
            name: "cctv command line".into(),
            role: Role::Admin,
            branches: Default::default(),
            groups: Default::default(),
            token_id: None,
            scopes: None,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the person is limited to `branches`: operators always, viewers when an
    /// admin assigned them branches or groups (a viewer without any sees every branch).
    fn scoped(&self) -> bool {
        match self.role {
            Role::Admin => false,
            Role::Operator => true,
            Role::Viewer => !self.branches.is_empty() || !self.groups.is_empty(),
        }
    }

    /// Whether the person may see data of `branch_id`.
    pub fn may_view_branch(&self, branch_id: i64) -> bool {
        !self.scoped() || self.branches.contains(&branch_id)
    }

    /// Whether the person may change branch-level things (devices, streams, event
    /// settings, persons) of `branch_id`.
    pub(crate) fn may_manage_branch(&self, branch_id: i64) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Operator => self.branches.contains(&branch_id),
            Role::Viewer => false,
        }
    }

    /// `None`: every branch; otherwise the only branches visible.
    pub fn branch_filter(&self) -> Option<&BTreeSet<i64>> {
        self.scoped().then_some(&self.branches)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role, branches: &[i64]) -> Principal {
        Principal {
            user_id: 1,
            email: "a@b.c".into(),
            name: "A".into(),
            role,
            branches: branches.iter().copied().collect(),
            groups: BTreeSet::new(),
            token_id: None,
            scopes: None,
        }
    }

    #[test]
    fn operators_see_and_manage_only_their_branches() {
        let op = person(Role::Operator, &[2]);
        assert!(op.may_view_branch(2) && op.may_manage_branch(2));
        assert!(!op.may_view_branch(3) && !op.may_manage_branch(3));
    }

    #[test]
    fn viewers_see_everything_and_manage_nothing() {
        let v = person(Role::Viewer, &[]);
        assert!(v.may_view_branch(7));
        assert!(!v.may_manage_branch(7));
        assert!(v.branch_filter().is_none());
    }

    #[test]
    fn a_viewer_assigned_branches_or_groups_sees_only_those() {
        let v = person(Role::Viewer, &[4]);
        assert!(v.may_view_branch(4) && !v.may_view_branch(5));
        assert!(!v.may_manage_branch(4));
        assert_eq!(v.branch_filter().map(|b| b.len()), Some(1));
        let mut empty_group = person(Role::Viewer, &[]);
        empty_group.groups.insert(9);
        assert!(
            !empty_group.may_view_branch(4),
            "a group without branches grants none"
        );
        let admin = person(Role::Admin, &[4]);
        assert!(admin.may_view_branch(5) && admin.branch_filter().is_none());
    }

    #[test]
    fn roles_parse_from_their_names_only() {
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("user"), None);
        assert_eq!(Role::parse("Admin"), None);
    }
}

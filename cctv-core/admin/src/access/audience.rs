//! Who hears which live event: the same rules as reading the rows the event is about,
//! so a WebSocket never tells a person more than the pages and the API would.

use serde_json::Value;

use super::{Principal, Role};
use crate::manage::tables::USERS;
use cctv_core::events::{Event, EventKind};
use cctv_core::records::tables::GROUPS;

impl Principal {
    /// Whether `event` may be delivered to this person.
    ///
    /// Admins hear everything. Otherwise events about a branch go to those who may view
    /// that branch (operators: their assigned branches, directly or through a group);
    /// a group change to those who may see the group; layouts and queue depths are shown
    /// to every role; a change of a user only to that user; WhatsApp settings and API
    /// credentials (administration) to nobody else.
    pub fn may_receive(&self, event: &Event) -> bool {
        if self.role == Role::Admin {
            return true;
        }
        let entity = event.data.get("entity").and_then(Value::as_str);
        let subject = event.data.get("id").and_then(Value::as_i64);
        match event.kind {
            EventKind::LayoutUpdated | EventKind::QueueStatus | EventKind::Resync => true,
            EventKind::AccessUpdated => entity == Some(USERS.name) && subject == Some(self.user_id),
            EventKind::GroupUpdated if entity == Some(GROUPS.name) => match self.role {
                Role::Operator => subject.is_some_and(|g| self.groups.contains(&g)),
                _ => true,
            },
            EventKind::DetectionUpdate
            | EventKind::NotificationUpdate
            | EventKind::GroupUpdated
            | EventKind::DeviceUpdated
            | EventKind::SettingsUpdated => {
                event.branch_id.is_some_and(|b| self.may_view_branch(b))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use jiff::Timestamp;
    use serde_json::json;

    use super::*;
    use crate::manage::tables::WHATSAPP_SETTINGS;
    use cctv_core::records::tables::{BRANCHES, CREDENTIALS, DEVICES};

    fn person(user_id: i64, role: Role, branches: &[i64], groups: &[i64]) -> Principal {
        Principal {
            user_id,
            email: "a@b.c".into(),
            name: "A".into(),
            role,
            branches: branches.iter().copied().collect(),
            groups: groups.iter().copied().collect::<BTreeSet<_>>(),
            token_id: None,
            scopes: None,
        }
    }

    fn event(kind: EventKind, branch_id: Option<i64>, entity: &str, id: i64) -> Event {
        Event {
            kind,
            branch_id,
            data: json!({"entity": entity, "action": "update", "id": id}),
            at: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn operators_hear_only_their_branches_groups_and_themselves() {
        let op = person(7, Role::Operator, &[2], &[20]);
        let hears = |e: &Event| op.may_receive(e);
        assert!(hears(&event(EventKind::DetectionUpdate, Some(2), "", 0)));
        assert!(!hears(&event(EventKind::DetectionUpdate, Some(3), "", 0)));
        assert!(!hears(&event(EventKind::NotificationUpdate, None, "", 0)));
        assert!(hears(&event(
            EventKind::DeviceUpdated,
            Some(2),
            DEVICES.name,
            5
        )));
        assert!(!hears(&event(
            EventKind::DeviceUpdated,
            Some(3),
            DEVICES.name,
            6
        )));
        assert!(hears(&event(
            EventKind::GroupUpdated,
            Some(2),
            BRANCHES.name,
            2
        )));
        assert!(!hears(&event(
            EventKind::GroupUpdated,
            Some(3),
            BRANCHES.name,
            3
        )));
        assert!(hears(&event(
            EventKind::GroupUpdated,
            None,
            GROUPS.name,
            20
        )));
        assert!(!hears(&event(
            EventKind::GroupUpdated,
            None,
            GROUPS.name,
            21
        )));
        assert!(hears(&event(EventKind::AccessUpdated, None, USERS.name, 7)));
        assert!(!hears(&event(
            EventKind::AccessUpdated,
            None,
            USERS.name,
            8
        )));
        assert!(!hears(&event(
            EventKind::AccessUpdated,
            Some(2),
            CREDENTIALS.name,
            7
        )));
        assert!(!hears(&event(
            EventKind::SettingsUpdated,
            None,
            WHATSAPP_SETTINGS.name,
            1
        )));
        assert!(hears(&event(EventKind::LayoutUpdated, None, "", 1)));
        assert!(hears(&event(EventKind::QueueStatus, None, "", 0)));
    }

    #[test]
    fn viewers_hear_every_branch_but_no_administration_and_admins_hear_all() {
        let viewer = person(9, Role::Viewer, &[], &[]);
        assert!(viewer.may_receive(&event(EventKind::DetectionUpdate, Some(3), "", 0)));
        assert!(viewer.may_receive(&event(EventKind::GroupUpdated, None, GROUPS.name, 21)));
        assert!(!viewer.may_receive(&event(EventKind::AccessUpdated, None, USERS.name, 7)));
        assert!(viewer.may_receive(&event(EventKind::AccessUpdated, None, USERS.name, 9)));
        assert!(!viewer.may_receive(&event(
            EventKind::SettingsUpdated,
            None,
            WHATSAPP_SETTINGS.name,
            1
        )));
        let admin = person(1, Role::Admin, &[], &[]);
        assert!(admin.may_receive(&event(EventKind::AccessUpdated, None, USERS.name, 7)));
        assert!(admin.may_receive(&event(EventKind::AccessUpdated, None, CREDENTIALS.name, 3)));
    }
}

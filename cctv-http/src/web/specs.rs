//! What each management page shows and edits. The rules live in `cctv-admin`'s `Manager`;
//! these are only labels, columns and input kinds.

use cctv_admin::manage::Resource;

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Text,
    Email,
    Number,
    Password,
    /// A camera user name: shown only to admins, left empty to keep the stored one.
    Credential,
    /// A checkbox (edit forms only) that removes the stored values of these fields.
    Clear(&'static [&'static str]),
    Area,
    Check,
    /// Comma-separated list.
    List,
    Select(&'static [&'static str]),
    /// An id chosen from another resource (`label` is the column shown).
    Ref(Resource, &'static str),
    /// Several ids chosen from another resource.
    Refs(Resource, &'static str),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub name: &'static str,
    pub label: &'static str,
    pub kind: Kind,
    /// Shown on create only (immutable keys such as `device_id`).
    pub create_only: bool,
}

const fn f(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        create_only: false,
    }
}

const fn key(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        create_only: true,
    }
}

#[derive(Debug)]
pub(crate) struct Spec {
    pub resource: Resource,
    pub slug: &'static str,
    pub title: &'static str,
    pub singular: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
    pub fields: &'static [Field],
    /// Query filters offered above the list: (parameter, options).
    pub filters: &'static [(&'static str, &'static [&'static str])],
    pub admin_only: bool,
    /// Rows can be created/edited from the web (the audit log cannot).
    pub editable: bool,
}

const STATUS: &[&str] = &["active", "inactive"];

pub(crate) static GROUPS: Spec = Spec {
    resource: Resource::Groups,
    slug: "groups",
    title: "Company groups",
    singular: "group",
    columns: &[
        ("province_code", "Code"),
        ("province_name", "Province"),
        ("group_name", "Group"),
        ("phone", "Phone"),
        ("status", "Status"),
    ],
    fields: &[
        f("province_code", "Province code", Kind::Text),
        f("province_name", "Province name", Kind::Text),
        f("group_name", "Group name", Kind::Text),
        f("address", "Address", Kind::Area),
        f("phone", "Phone", Kind::Text),
        f("email", "E-mail", Kind::Email),
        f("status", "Status", Kind::Select(STATUS)),
    ],
    filters: &[("status", STATUS)],
    admin_only: false,
    editable: true,
};

pub(crate) static BRANCHES: Spec = Spec {
    resource: Resource::Branches,
    slug: "branches",
    title: "Branches",
    singular: "branch",
    columns: &[
        ("branch_code", "Code"),
        ("branch_name", "Branch"),
        ("city", "City"),
        ("group_id", "Group"),
        ("status", "Status"),
    ],
    fields: &[
        f(
            "group_id",
            "Group",
            Kind::Ref(Resource::Groups, "group_name"),
        ),
        f("branch_code", "Branch code", Kind::Text),
        f("branch_name", "Branch name", Kind::Text),
        f("city", "City", Kind::Text),
        f("address", "Address", Kind::Area),
        f("latitude", "Latitude", Kind::Number),
        f("longitude", "Longitude", Kind::Number),
        f("phone", "Phone", Kind::Text),
        f("email", "E-mail", Kind::Email),
        f("status", "Status", Kind::Select(STATUS)),
    ],
    filters: &[("status", STATUS)],
    admin_only: false,
    editable: true,
};

pub(crate) static DEVICES: Spec = Spec {
    resource: Resource::Devices,
    slug: "devices",
    title: "Devices",
    singular: "device",
    columns: &[
        ("device_id", "Device ID"),
        ("device_name", "Name"),
        ("device_type", "Type"),
        ("branch_name", "Branch"),
        ("status", "Status"),
    ],
    fields: &[
        key("device_id", "Device ID", Kind::Text),
        f("device_name", "Name", Kind::Text),
        f(
            "device_type",
            "Type",
            Kind::Select(&["camera", "node_ai", "mikrotik", "cctv"]),
        ),
        f(
            "branch_id",
            "Branch",
            Kind::Ref(Resource::Branches, "branch_name"),
        ),
        f("url", "URL", Kind::Text),
        f(
            "username",
            "User name (leave empty to keep)",
            Kind::Credential,
        ),
        f("password", "Password (leave empty to keep)", Kind::Password),
        f(
            "clear_credentials",
            "Remove the stored user name and password",
            Kind::Clear(&["username", "password"]),
        ),
        f("notes", "Notes", Kind::Area),
        f("status", "Status", Kind::Select(STATUS)),
    ],
    filters: &[
        ("status", STATUS),
        ("device_type", &["camera", "node_ai", "mikrotik", "cctv"]),
    ],
    admin_only: false,
    editable: true,
};

pub(crate) static USERS: Spec = Spec {
    resource: Resource::Users,
    slug: "users",
    title: "Users",
    singular: "user",
    columns: &[
        ("name", "Name"),
        ("email", "E-mail"),
        ("role", "Role"),
        ("status", "Status"),
        ("last_login_at", "Last login"),
    ],
    fields: &[
        f("name", "Name", Kind::Text),
        f("email", "E-mail", Kind::Email),
        f("password", "Password (leave empty to keep)", Kind::Password),
        f(
            "role",
            "Role",
            Kind::Select(&["admin", "operator", "viewer"]),
        ),
        f("status", "Status", Kind::Select(STATUS)),
        f(
            "branch_ids",
            "Branches (operators; limits a viewer too)",
            Kind::Refs(Resource::Branches, "branch_name"),
        ),
        f("phone", "Phone (for operational alerts)", Kind::Text),
        f(
            "queue_alerts",
            "Operational alerts to this phone (admins only: queues backing up, failed jobs)",
            Kind::Check,
        ),
        f(
            "group_ids",
            "Groups (operators; limits a viewer too)",
            Kind::Refs(Resource::Groups, "group_name"),
        ),
    ],
    filters: &[
        ("role", &["admin", "operator", "viewer"]),
        ("status", STATUS),
    ],
    admin_only: true,
    editable: true,
};

pub(crate) static STREAMS: Spec = Spec {
    resource: Resource::Streams,
    slug: "streams",
    title: "Streams",
    singular: "stream",
    columns: &[
        ("stream_name", "Name"),
        ("device_id", "Device"),
        ("branch_name", "Branch"),
        ("stream_protocol", "Protocol"),
        ("status", "Health"),
        ("last_checked_at", "Checked"),
    ],
    fields: &[
        f(
            "branch_id",
            "Branch",
            Kind::Ref(Resource::Branches, "branch_name"),
        ),
        f("device_id", "Device ID", Kind::Text),
        f("stream_name", "Name", Kind::Text),
        f("url", "Stream URL", Kind::Text),
        f(
            "username",
            "User name (leave empty to keep)",
            Kind::Credential,
        ),
        f("password", "Password (leave empty to keep)", Kind::Password),
        f(
            "clear_credentials",
            "Remove the stored user name and password",
            Kind::Clear(&["username", "password"]),
        ),
        f(
            "stream_protocol",
            "Protocol",
            Kind::Select(&["rtsp", "rtmp", "hls", "http", "mjpeg", "webrtc"]),
        ),
        f("position", "Position", Kind::Number),
        f("resolution", "Resolution", Kind::Text),
        f("fps", "FPS", Kind::Number),
    ],
    filters: &[],
    admin_only: false,
    editable: true,
};

pub(crate) static EVENT_SETTINGS: Spec = Spec {
    resource: Resource::EventSettings,
    slug: "event-settings",
    title: "Branch event settings",
    singular: "event setting",
    columns: &[
        ("branch_name", "Branch"),
        ("device_id", "Device"),
        ("is_active", "Active"),
        ("whatsapp_enabled", "WhatsApp"),
        ("send_image", "Image"),
        ("whatsapp_numbers", "Numbers"),
        ("webhook_enabled", "Webhooks"),
    ],
    fields: &[
        key(
            "branch_id",
            "Branch",
            Kind::Ref(Resource::Branches, "branch_name"),
        ),
        key("device_id", "Device ID", Kind::Text),
        f("is_active", "Active", Kind::Check),
        f("send_notification", "Notify", Kind::Check),
        f("whatsapp_enabled", "WhatsApp enabled", Kind::Check),
        f("send_message", "Send message", Kind::Check),
        f("send_image", "Send image", Kind::Check),
        f(
            "whatsapp_numbers",
            "WhatsApp numbers (comma-separated)",
            Kind::List,
        ),
        f("message_template", "Message template", Kind::Area),
        f("webhook_enabled", "Event webhooks enabled", Kind::Check),
        f(
            "webhook_urls",
            "Event webhook URLs (comma-separated; admins only)",
            Kind::List,
        ),
        f(
            "webhook_rotate",
            "Issue new webhook signing secrets",
            Kind::Check,
        ),
    ],
    filters: &[],
    admin_only: false,
    editable: true,
};

pub(crate) static WHATSAPP: Spec = Spec {
    resource: Resource::WhatsappSettings,
    slug: "whatsapp-settings",
    title: "WhatsApp settings",
    singular: "WhatsApp setting",
    columns: &[
        ("name", "Name"),
        ("phone_numbers", "Numbers"),
        ("is_active", "Active"),
        ("is_default", "Default"),
    ],
    fields: &[
        f("name", "Name", Kind::Text),
        f("description", "Description", Kind::Text),
        f(
            "phone_numbers",
            "Phone numbers (comma-separated)",
            Kind::List,
        ),
        f("message_template", "Message template", Kind::Area),
        f("is_active", "Active", Kind::Check),
        f("is_default", "Default", Kind::Check),
    ],
    filters: &[],
    admin_only: true,
    editable: true,
};

pub(crate) static CREDENTIALS: Spec = Spec {
    resource: Resource::Credentials,
    slug: "api-credentials",
    title: "API credentials",
    singular: "API credential",
    columns: &[
        ("credential_name", "Name"),
        ("api_key_masked", "Key"),
        ("branch_id", "Branch"),
        ("rate_limit", "Limit/hour"),
        ("status", "Status"),
        ("last_used_at", "Last used"),
    ],
    fields: &[
        f("credential_name", "Name", Kind::Text),
        f(
            "branch_id",
            "Branch scope",
            Kind::Ref(Resource::Branches, "branch_name"),
        ),
        f("device_id", "Device scope (device ID)", Kind::Text),
        f("rate_limit", "Requests per hour", Kind::Number),
        f("expires_at", "Expires (YYYY-MM-DD)", Kind::Text),
        f(
            "status",
            "Status",
            Kind::Select(&["active", "inactive", "expired"]),
        ),
    ],
    filters: &[("status", &["active", "inactive", "expired"])],
    admin_only: true,
    editable: true,
};

pub(crate) static AUDIT: Spec = Spec {
    resource: Resource::AuditLogs,
    slug: "audit-logs",
    title: "Audit log",
    singular: "entry",
    columns: &[
        ("created_at", "When"),
        ("user_email", "Who"),
        ("action", "Action"),
        ("entity", "What"),
        ("entity_id", "Id"),
        ("ip_address", "From"),
    ],
    fields: &[],
    filters: &[("action", &["create", "update", "delete"])],
    admin_only: true,
    editable: false,
};

pub(crate) static ALL: [&Spec; 9] = [
    &GROUPS,
    &BRANCHES,
    &DEVICES,
    &USERS,
    &STREAMS,
    &EVENT_SETTINGS,
    &WHATSAPP,
    &CREDENTIALS,
    &AUDIT,
];

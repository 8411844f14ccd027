//! The account, token and management routes. The resources are described by `cctv-admin`:
//! the fields a body may carry are `Resource::input_fields` (it refuses any other),
//! who may read or change them is asked of `cctv-admin`'s role rules, and each field's type
//! comes from the web form's input kind or, for fields the forms do not show, from
//! [`API_ONLY_FIELDS`].

use cctv_admin::access::Role;
use cctv_admin::manage::Resource;
use serde_json::{Value, json};

use super::build::{
    Auth, Op, any, array, boolean, date, date_time, doc, input, int, int_min, nullable, number,
    object, one_of_strings, reference, row_id, string, string_max, with_required,
};
use crate::web::specs::{self, Kind};

const TAG: &str = "Management";

pub(super) fn operations() -> Vec<Op> {
    let mut ops = accounts();
    ops.extend(tokens());
    for resource in Resource::ALL {
        ops.extend(resource_ops(resource));
    }
    ops.extend(actions());
    ops
}

pub(super) fn schemas() -> Vec<(&'static str, Value)> {
    let mut out = vec![
        (
            "LayoutPosition",
            input(&[
                ("position_number", int_min(1)),
                ("branch_id", nullable(int())),
                ("device_id", nullable(string_max(50))),
                ("position_name", nullable(string_max(100))),
                ("is_enabled", boolean()),
                ("auto_switch", boolean()),
                (
                    "switch_interval",
                    json!({"type": "integer", "minimum": 5, "maximum": 300}),
                ),
                ("quality", one_of_strings(&["low", "medium", "high"])),
                (
                    "resolution",
                    one_of_strings(&["640x480", "1280x720", "1920x1080"]),
                ),
            ]),
        ),
        (
            "PersonalToken",
            object(&[
                ("id", int()),
                ("user_id", int()),
                ("user_email", nullable(string())),
                ("name", string()),
                ("scopes", array(string())),
                ("expires_at", date_time()),
                ("last_used_at", nullable(date_time())),
                ("created_at", date_time()),
            ]),
        ),
    ];
    for resource in Resource::ALL {
        out.push((row_name(resource), reference_row(resource)));
        if !resource.input_fields().is_empty() {
            out.push((input_name(resource), input_schema(resource)));
        }
    }
    out
}

fn accounts() -> Vec<Op> {
    vec![
        Op::post("/api/login", "Account")
            .summary("Log in")
            .describe(
                "Exchanges an e-mail and password for a bearer token (12 hours). Failed \
                 attempts are throttled per address and account (429 with Retry-After).",
            )
            .json_body(with_required(
                input(&[("email", string_max(255)), ("password", string_max(255))]),
                &["email", "password"],
            ))
            .ok(object(&[
                ("user", reference("User")),
                ("token", string()),
                ("token_type", json!({"const": "Bearer"})),
                ("expires_at", date_time()),
            ]))
            .errors(&[401, 429]),
        Op::get("/api/me", "Account")
            .summary("The signed-in person")
            .auth(Auth::Person)
            .ok(reference("User")),
        Op::post("/api/logout", "Account")
            .summary("Log out (revokes this token)")
            .auth(Auth::Person)
            .ok(json!({"type": "null"})),
        Op::post("/api/register", "Account")
            .summary("Registration (disabled)")
            .refused("Always 403: an administrator creates accounts."),
    ]
}

fn tokens() -> Vec<Op> {
    let path = "/api/v1/admin/tokens";
    vec![
        Op::get(path, "Administration")
            .summary("List personal access tokens")
            .auth(Auth::Admin)
            .ok(array(reference("PersonalToken"))),
        Op::post(path, "Administration")
            .summary("Create a personal access token")
            .describe(
                "The token is in this answer only; it is stored hashed. Give the person by \
                 user_id or user_email, the scopes, and the expiry as expires_in_days or \
                 expires (`30d`, `12w`, `1y`; default 90 days).",
            )
            .auth(Auth::Admin)
            .json_body(with_required(
                input(&[
                    ("user_id", int_min(1)),
                    ("user_email", string()),
                    ("name", string_max(100)),
                    (
                        "scopes",
                        array(one_of_strings(&[
                            "reports:read",
                            "exports:read",
                            "metrics:read",
                            "detections:read",
                        ])),
                    ),
                    ("expires_in_days", int_min(1)),
                    (
                        "expires",
                        doc(string(), "`30d`, `12w`, `1y` or a number of days."),
                    ),
                ]),
                &["name", "scopes"],
            ))
            .answer(
                201,
                "Created; the token is shown once.",
                json!({"allOf": [reference("PersonalToken"), object(&[
                    ("token", string()),
                    ("token_type", json!({"const": "Bearer"})),
                ])]}),
            ),
        Op::delete(format!("{path}/{{id}}"), "Administration")
            .summary("Revoke a personal access token")
            .path_param("id", row_id(), "The token's id.")
            .auth(Auth::Admin)
            .ok(json!({"type": "null"}))
            .errors(&[404]),
    ]
}

/// List, create, show, update and delete of one resource.
fn resource_ops(resource: Resource) -> Vec<Op> {
    let base = format!("/api/v1/{}", resource.path());
    let item = format!("{base}/{{id}}");
    let noun = resource.noun().to_lowercase();
    let read = auth_for(resource, false);
    let write = auth_for(resource, true);
    let row = reference(row_name(resource));
    let id_doc = format!("The {noun}'s id.");
    let mut list = Op::get(&base, TAG)
        .summary(format!("List {noun}s"))
        .describe(format!(
            "{} Other query parameters filter by a column (e.g. `status`).",
            roles_note(resource)
        ))
        .auth(read)
        .query(
            "search",
            string(),
            "Free text, matched case-insensitively in the main columns.",
        )
        .paged()
        .ok_page(row.clone())
        .errors(&[422]);
    if let Some(spec) = spec_of(resource) {
        for (name, values) in spec.filters {
            list = list.query(name, one_of_strings(values), "Only rows with this value.");
        }
    }
    let mut ops = vec![
        list,
        Op::get(&item, TAG)
            .summary(format!("Show a {noun}"))
            .path_param("id", row_id(), &id_doc)
            .auth(read)
            .ok(row.clone())
            .errors(&[404, 422]),
    ];
    let body = reference(input_name(resource));
    let writable = !resource.input_fields().is_empty();
    let refused = "Always 403: the server alone writes this resource.";
    let create = Op::post(&base, TAG)
        .summary(format!("Create a {noun}"))
        .auth(write);
    ops.push(if writable {
        create
            .json_body(body.clone())
            .answer(201, "Created.", row.clone())
            .errors(&[409])
    } else {
        create.refused(refused)
    });
    for method in ["put", "patch"] {
        let update = Op::new(method, &item, TAG)
            .summary(format!("Update a {noun}"))
            .path_param("id", row_id(), &id_doc)
            .auth(write);
        ops.push(if writable {
            update
                .describe("Only the fields given change.")
                .json_body(body.clone())
                .body_optional()
                .ok(row.clone())
                .errors(&[404, 409])
        } else {
            update.refused(refused)
        });
    }
    let delete = Op::delete(&item, TAG)
        .summary(format!("Delete a {noun}"))
        .path_param("id", row_id(), &id_doc)
        .auth(write);
    ops.push(if writable {
        let delete = match resource {
            // Detections and reports refer to them: removing would take history with it.
            Resource::Groups | Resource::Branches | Resource::Devices => delete.describe(
                "Deactivates the row (`status` becomes `inactive`) instead of removing it: \
                 detections and reports refer to it. A group with active branches, or a \
                 branch with active devices, is refused (409). The answer is the row as it \
                 is now.",
            ),
            _ => delete,
        };
        delete.ok(row).errors(&[404, 409])
    } else {
        delete.refused(refused)
    });
    ops
}

/// The routes that are not plain CRUD.
fn actions() -> Vec<Op> {
    vec![
        Op::post("/api/v1/api-credentials/{id}/regenerate", TAG)
            .summary("Issue a new secret for a credential")
            .describe("The new secret is in this answer only; the old one stops working.")
            .path_param("id", row_id(), "The credential's id.")
            .auth(Auth::Admin)
            .ok(reference(row_name(Resource::Credentials)))
            .errors(&[404, 422]),
        Op::post("/api/v1/cctv-layouts/{id}/set-default", TAG)
            .summary("Make a layout the default")
            .path_param("id", row_id(), "The layout's id.")
            .auth(Auth::Admin)
            .ok(reference(row_name(Resource::Layouts)))
            .errors(&[404, 422]),
        Op::post("/api/v1/whatsapp-settings/{id}/set-default", TAG)
            .summary("Make a WhatsApp setting the default")
            .path_param("id", row_id(), "The setting's id.")
            .auth(Auth::Admin)
            .ok(reference(row_name(Resource::WhatsappSettings)))
            .errors(&[404, 422]),
        Op::get("/api/v1/company-groups/{id}/branches", TAG)
            .summary("The branches of a group")
            .describe("Answers the page of branches and the group itself in `group`.")
            .path_param("id", row_id(), "The group's id.")
            .auth(Auth::Person)
            .query("search", string(), "Free text.")
            .paged()
            .ok_page(reference(row_name(Resource::Branches)))
            .errors(&[404, 422]),
        Op::patch("/api/v1/re-id-masters/{re_id}", TAG)
            .summary("Name a person or change their status for a day")
            .describe("Viewers may not; operators only for persons seen at their branches.")
            .path_param(
                "re_id",
                string_max(100),
                "The person's re-identification id.",
            )
            .auth(Auth::Person)
            .json_body(json!({
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "date": doc(date(), "The day to change (default today)."),
                    "person_name": string_max(150),
                    "status": one_of_strings(&["active", "inactive"]),
                },
            }))
            .ok(json!({"type": "object"}))
            .errors(&[404]),
        Op::put("/api/v1/cctv/layouts/{layout_id}/positions/{position}", TAG)
            .summary("Change one window of a layout")
            .path_param("layout_id", row_id(), "The layout's id.")
            .path_param("position", int_min(1), "The window's number, from 1.")
            .auth(Auth::Person)
            .json_body(reference("LayoutPosition"))
            .ok(reference("LayoutPosition"))
            .errors(&[404]),
        Op::get("/api/v1/users/pagination/options", TAG)
            .summary("The page sizes list screens offer")
            .auth(Auth::Person)
            .ok(array(int())),
    ]
}

fn auth_for(resource: Resource, write: bool) -> Auth {
    if resource.allows(Role::Viewer, write) || resource.allows(Role::Operator, write) {
        Auth::Person
    } else {
        Auth::Admin
    }
}

/// Who may read and change the rows, in words, from `cctv-admin`'s role rules.
fn roles_note(resource: Resource) -> String {
    let who = |write: bool| {
        let roles: Vec<&str> = [
            (Role::Admin, "admins"),
            (Role::Operator, "operators (their branches)"),
            (Role::Viewer, "viewers"),
        ]
        .into_iter()
        .filter(|(role, _)| resource.allows(*role, write))
        .map(|(_, name)| name)
        .collect();
        if roles.is_empty() {
            "nobody".to_owned()
        } else {
            roles.join(", ")
        }
    };
    format!("Read by {}; changed by {}.", who(false), who(true))
}

fn spec_of(resource: Resource) -> Option<&'static specs::Spec> {
    specs::ALL.iter().copied().find(|s| s.resource == resource)
}

fn row_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Groups => "CompanyGroup",
        Resource::Branches => "CompanyBranch",
        Resource::Devices => "Device",
        Resource::Users => "User",
        Resource::Credentials => "ApiCredential",
        Resource::Streams => "CctvStream",
        Resource::Layouts => "CctvLayout",
        Resource::EventSettings => "BranchEventSetting",
        Resource::WhatsappSettings => "WhatsappSetting",
        Resource::AuditLogs => "AuditLogEntry",
    }
}

fn input_name(resource: Resource) -> &'static str {
    match resource {
        Resource::Groups => "CompanyGroupInput",
        Resource::Branches => "CompanyBranchInput",
        Resource::Devices => "DeviceInput",
        Resource::Users => "UserInput",
        Resource::Credentials => "ApiCredentialInput",
        Resource::Streams => "CctvStreamInput",
        Resource::Layouts => "CctvLayoutInput",
        Resource::EventSettings => "BranchEventSettingInput",
        Resource::WhatsappSettings => "WhatsappSettingInput",
        Resource::AuditLogs => "AuditLogEntryInput",
    }
}

/// A create/update body: exactly the fields the core accepts.
fn input_schema(resource: Resource) -> Value {
    let fields: Vec<(&str, Value)> = resource
        .input_fields()
        .iter()
        .map(|name| (*name, field_schema(resource, name).unwrap_or_else(any)))
        .collect();
    let mut schema = input(&fields);
    schema["additionalProperties"] = json!(false);
    schema
}

/// A row as answered: `id` and the timestamps, the readable fields, and presentation
/// extras (names of referenced rows, masked keys) that vary by resource.
fn reference_row(resource: Resource) -> Value {
    let mut fields: Vec<(&str, Value)> = vec![
        ("id", int()),
        ("created_at", nullable(date_time())),
        ("updated_at", nullable(date_time())),
    ];
    for name in resource.input_fields() {
        if WRITE_ONLY.contains(name) {
            continue;
        }
        let schema = field_schema(resource, name).unwrap_or_else(any);
        fields.push((name, nullable(schema)));
    }
    if let Some(spec) = spec_of(resource) {
        for (column, _) in spec.columns {
            if !fields.iter().any(|(n, _)| n == column) {
                fields.push((column, any()));
            }
        }
    }
    with_required(input(&fields), &["id"])
}

/// Fields a body may carry that no answer shows.
const WRITE_ONLY: &[&str] = &[
    "password",
    "password_confirmation",
    "regenerate_secret",
    "webhook_rotate",
    "username",
    "url",
];

/// Types of fields the web forms do not show (or show differently from the API).
const API_ONLY_FIELDS: &[(&str, FieldType)] = &[
    ("password_confirmation", FieldType::Text),
    ("regenerate_secret", FieldType::Bool),
    ("notification_template", FieldType::Text),
    ("permissions", FieldType::Permissions),
    ("layout_name", FieldType::Text),
    ("layout_type", FieldType::LayoutType),
    ("description", FieldType::Text),
    ("is_default", FieldType::Bool),
    ("is_active", FieldType::Bool),
    ("positions", FieldType::Positions),
    ("position", FieldType::Int),
    ("fps", FieldType::Int),
    ("rate_limit", FieldType::Int),
    ("expires_at", FieldType::DateOrTime),
    ("status", FieldType::Text),
];

#[derive(Debug, Clone, Copy)]
enum FieldType {
    Text,
    Int,
    Bool,
    DateOrTime,
    Permissions,
    LayoutType,
    Positions,
}

/// The JSON type of one input field: the explicit table first (it is more precise than
/// a form's "number"), then the web form's kind; `None` when neither knows it, which a
/// test turns into a failure.
pub(super) fn field_schema(resource: Resource, name: &str) -> Option<Value> {
    let form_kind = spec_of(resource)
        .and_then(|spec| spec.fields.iter().find(|f| f.name == name))
        .map(|f| f.kind);
    if let Some(Kind::Select(values)) = form_kind {
        return Some(one_of_strings(values));
    }
    if let Some((_, ty)) = API_ONLY_FIELDS.iter().find(|(n, _)| *n == name) {
        return Some(match ty {
            FieldType::Text => string(),
            FieldType::Int => int(),
            FieldType::Bool => boolean(),
            FieldType::DateOrTime => doc(
                string(),
                "A date (end of that day, UTC) or an RFC 3339 time.",
            ),
            FieldType::Permissions => object(&[("read", boolean()), ("write", boolean())]),
            FieldType::LayoutType => one_of_strings(&["4-window", "6-window", "8-window"]),
            FieldType::Positions => doc(
                array(reference("LayoutPosition")),
                "Exactly as many positions as the layout type has windows.",
            ),
        });
    }
    Some(match form_kind? {
        Kind::Text | Kind::Area | Kind::Credential | Kind::Password => string(),
        Kind::Email => json!({"type": "string", "format": "email"}),
        Kind::Number => number(),
        Kind::Check => boolean(),
        Kind::List => doc(
            json!({"anyOf": [array(string()), string()]}),
            "A list, or one comma-separated string.",
        ),
        Kind::Select(values) => one_of_strings(values),
        Kind::Ref(..) => int_min(1),
        Kind::Refs(..) => array(int_min(1)),
        Kind::Clear(_) => return None,
    })
}

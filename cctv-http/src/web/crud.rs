//! Generic list / create / edit / deactivate pages for the management resources, driven
//! by [`Spec`]s and backed by the same `Manager` calls as the JSON API. A rejected form is
//! shown again with what the user typed and each message next to its field.

use std::collections::BTreeMap;

use cctv_admin::manage::{ListParams, ManageError, Resource};
use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait};
use serde_json::{Map, Value, json};

use super::guard::{flash, require};
use super::render::{base, error_page, page, redirect};
use super::session::{Session, csrf_matches};
use super::specs::{Kind, Spec};
use crate::extract::{caller, client_ip};
use crate::{AppState, state};

#[derive(Clone, Copy)]
enum Action {
    List,
    New,
    Create,
    Edit,
    Update,
    Delete,
    Regenerate,
}

struct Page(&'static Spec, Action);

pub(crate) fn routes(spec: &'static Spec) -> Router {
    let s = spec.slug;
    Router::with_path(s)
        .get(Page(spec, Action::List))
        .post(Page(spec, Action::Create))
        .push(Router::with_path("new").get(Page(spec, Action::New)))
        .push(Router::with_path("{id}/edit").get(Page(spec, Action::Edit)))
        .push(Router::with_path("{id}/delete").post(Page(spec, Action::Delete)))
        .push(Router::with_path("{id}/regenerate").post(Page(spec, Action::Regenerate)))
        .push(Router::with_path("{id}").post(Page(spec, Action::Update)))
}

fn id_param(req: &Request) -> Option<i64> {
    req.param::<String>("id")
        .and_then(|s| s.parse().ok())
        .filter(|i| *i > 0)
}

/// Adds `branch_name` to rows that only carry ids, and a rendered `preview` of message
/// templates (with sample values) so an admin sees what a phone will receive.
async fn enrich(state: &AppState, items: &mut [Value]) {
    let estate = state.core.estate();
    let sample = cctv_admin::template::TemplateVars::sample();
    for item in items.iter_mut() {
        if let Some(t) = item.get("message_template").and_then(Value::as_str) {
            // Stored templates are people's input: bounded and off the async runtime.
            let rendered = cctv_admin::template::render_template_off_runtime(t, &sample).await;
            item["preview"] = match rendered {
                Ok(text) => json!(text),
                Err(e) => json!(format!("(template error: {e})")),
            };
        }
        if let Some(b) = item.get("branch_id").and_then(Value::as_i64)
            && let Some(branch) = estate.branches.get(&b)
        {
            item["branch_name"] = json!(branch.branch_name);
        }
    }
}

async fn options(
    state: &AppState,
    session: &Session,
    ip: &str,
    resource: Resource,
    label: &str,
) -> Vec<Value> {
    let params = ListParams {
        page: 1,
        per_page: 100,
        ..Default::default()
    };
    match state
        .manage
        .list(caller(&session.who, ip), resource, &params)
        .await
    {
        Ok(listed) => listed
            .items
            .iter()
            .map(|i| json!({"id": i["id"], "label": i[label]}))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The form's fields with their options resolved.
async fn form_fields_ctx(
    state: &AppState,
    session: &Session,
    ip: &str,
    spec: &Spec,
    editing: bool,
) -> Vec<Value> {
    let mut out = Vec::new();
    for field in spec.fields {
        if (editing && field.create_only) || (!editing && matches!(field.kind, Kind::Clear(_))) {
            continue;
        }
        let (kind, choices) = match field.kind {
            Kind::Text => ("text", json!([])),
            Kind::Email => ("email", json!([])),
            Kind::Number => ("number", json!([])),
            Kind::Password => ("password", json!([])),
            Kind::Credential => ("credential", json!([])),
            Kind::Clear(_) => ("checkbox", json!([])),
            Kind::Area => ("textarea", json!([])),
            Kind::Check => ("checkbox", json!([])),
            Kind::List => ("list", json!([])),
            Kind::Select(opts) => (
                "select",
                json!(
                    opts.iter()
                        .map(|o| json!({"id": o, "label": o}))
                        .collect::<Vec<_>>()
                ),
            ),
            Kind::Ref(r, label) => ("select", json!(options(state, session, ip, r, label).await)),
            Kind::Refs(r, label) => ("multi", json!(options(state, session, ip, r, label).await)),
        };
        out.push(
            json!({"name": field.name, "label": field.label, "kind": kind, "choices": choices}),
        );
    }
    out
}

/// The JSON body the Manager expects, from the submitted form.
fn body_from_form(
    spec: &Spec,
    form: &BTreeMap<String, String>,
    multi: &BTreeMap<String, Vec<String>>,
    editing: bool,
) -> Value {
    let mut body = Map::new();
    for field in spec.fields {
        if editing && field.create_only {
            continue;
        }
        let raw = form.get(field.name).map(|s| s.trim()).unwrap_or("");
        if let Kind::Clear(fields) = field.kind {
            if editing && form.contains_key(field.name) {
                for name in fields {
                    body.entry(*name).or_insert(Value::Null);
                }
            }
            continue;
        }
        let value = match field.kind {
            Kind::Check => Some(json!(form.contains_key(field.name))),
            Kind::Password | Kind::Credential if raw.is_empty() => None,
            Kind::Refs(..) => Some(json!(
                multi
                    .get(field.name)
                    .map(|v| v
                        .iter()
                        .filter_map(|s| s.parse::<i64>().ok())
                        .collect::<Vec<_>>())
                    .unwrap_or_default()
            )),
            _ if raw.is_empty() && !editing => None,
            Kind::Number | Kind::Ref(..) if raw.is_empty() => Some(Value::Null),
            Kind::Number | Kind::Ref(..) => Some(
                raw.parse::<i64>()
                    .map(Value::from)
                    .or_else(|_| raw.parse::<f64>().map(Value::from))
                    .unwrap_or_else(|_| json!(raw)),
            ),
            Kind::Select(_) if raw.is_empty() => None,
            _ => Some(json!(raw)),
        };
        if let Some(v) = value {
            body.insert(field.name.to_owned(), v);
        }
    }
    Value::Object(body)
}

impl Page {
    async fn list(&self, state: &AppState, session: &Session, req: &Request, res: &mut Response) {
        let spec = self.0;
        let ip = client_ip(req);
        let pairs: Vec<(String, String)> = req
            .queries()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let params = match ListParams::from_query(
            pairs
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ) {
            Ok(p) => p,
            Err(_) => ListParams {
                page: 1,
                per_page: 15,
                ..Default::default()
            },
        };
        match state
            .manage
            .list(caller(&session.who, &ip), spec.resource, &params)
            .await
        {
            Ok(mut listed) => {
                enrich(state, &mut listed.items).await;
                let last_page = listed
                    .total
                    .div_ceil(u64::from(listed.per_page.max(1)))
                    .max(1);
                let mut ctx = base(session, spec.slug);
                let writable = spec.editable && state.manage.may_write(&session.who, spec.resource);
                ctx["spec"] = json!({"slug": spec.slug, "title": spec.title, "singular": spec.singular, "editable": spec.editable, "writable": writable,
                    "columns": spec.columns.iter().map(|(k, l)| json!({"key": k, "label": l})).collect::<Vec<_>>(),
                    "filters": spec.filters.iter().map(|(k, o)| json!({"name": k, "options": o})).collect::<Vec<_>>()});
                ctx["items"] = json!(listed.items);
                ctx["query"] = json!(pairs.into_iter().collect::<BTreeMap<_, _>>());
                ctx["pagination"] = json!({"page": listed.page, "per_page": listed.per_page, "total": listed.total, "last_page": last_page});
                page(res, StatusCode::OK, "list.html", &ctx);
            }
            Err(e) => manage_error(res, session, e),
        }
    }

    async fn form(
        &self,
        state: &AppState,
        session: &Session,
        req: &Request,
        res: &mut Response,
        ctx_extra: FormState,
    ) {
        let spec = self.0;
        let ip = client_ip(req);
        let editing = ctx_extra.id.is_some();
        let mut ctx = base(session, spec.slug);
        ctx["spec"] = json!({"slug": spec.slug, "title": spec.title, "singular": spec.singular});
        ctx["fields"] = json!(form_fields_ctx(state, session, &ip, spec, editing).await);
        ctx["values"] = ctx_extra.values;
        ctx["errors"] = ctx_extra.errors;
        ctx["id"] = json!(ctx_extra.id);
        page(res, ctx_extra.status, "form.html", &ctx);
    }
}

struct FormState {
    id: Option<i64>,
    values: Value,
    errors: Value,
    status: StatusCode,
}

fn manage_error(res: &mut Response, session: &Session, e: ManageError) {
    let (status, message) = match &e {
        ManageError::Forbidden(m) => (StatusCode::FORBIDDEN, m.clone()),
        ManageError::NotFound(m) => (StatusCode::NOT_FOUND, m.clone()),
        ManageError::Conflict(m) => (StatusCode::CONFLICT, m.clone()),
        ManageError::Validation(v) => (StatusCode::UNPROCESSABLE_ENTITY, v.to_string()),
        _ => {
            tracing::error!(error = %e, "page failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong.".into(),
            )
        }
    };
    error_page(res, session, status, &message);
}

#[async_trait]
impl Handler for Page {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let state = state(depot);
        let Some(session) = require(&state, req, res).await else {
            return;
        };
        let spec = self.0;
        if spec.admin_only && !session.who.is_admin() {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "This page is for administrators.",
            );
        }
        // Forms and changes only for those who may change the resource (viewers never;
        // operators not groups or branches); an operator's row outside their branches is
        // refused below by the Manager's scope.
        let changes = !matches!(self.1, Action::List);
        if changes && !state.manage.may_write(&session.who, spec.resource) {
            return error_page(
                res,
                &session,
                StatusCode::FORBIDDEN,
                "You may view this page but not change it.",
            );
        }
        let ip = client_ip(req);
        let who = caller(&session.who, &ip);
        let list_url = format!("/{}", spec.slug);
        match self.1 {
            Action::List => self.list(&state, &session, req, res).await,
            Action::New => {
                let blank = FormState {
                    id: None,
                    // A new row is active unless the admin says otherwise.
                    values: json!({"is_active": true, "status": "active"}),
                    errors: json!({}),
                    status: StatusCode::OK,
                };
                self.form(&state, &session, req, res, blank).await
            }
            Action::Edit => {
                let Some(id) = id_param(req) else {
                    return error_page(res, &session, StatusCode::NOT_FOUND, "Not found");
                };
                match state.manage.show(who, spec.resource, id).await {
                    Ok(mut values) => {
                        // Streams show their URL as `stream_url`; the form edits `url`.
                        if values.get("url").is_none()
                            && let Some(url) = values.get("stream_url").cloned()
                        {
                            values["url"] = url;
                        }
                        let st = FormState {
                            id: Some(id),
                            values,
                            errors: json!({}),
                            status: StatusCode::OK,
                        };
                        self.form(&state, &session, req, res, st).await
                    }
                    Err(e) => manage_error(res, &session, e),
                }
            }
            Action::Create | Action::Update | Action::Delete | Action::Regenerate => {
                let multi: BTreeMap<String, Vec<String>> =
                    match req.form_data_max_size(256 * 1024).await {
                        Ok(f) => f
                            .fields
                            .iter_all()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                        Err(_) => BTreeMap::new(),
                    };
                let form: BTreeMap<String, String> = multi
                    .iter()
                    .filter_map(|(k, v)| v.last().map(|l| (k.clone(), l.clone())))
                    .collect();

                if !csrf_matches(form.get("_csrf").map(String::as_str), &session.csrf) {
                    return error_page(
                        res,
                        &session,
                        StatusCode::FORBIDDEN,
                        "The form expired or was not sent by this site. Reload and try again.",
                    );
                }
                let id = id_param(req);
                let result = match (self.1, id) {
                    (Action::Create, _) => {
                        state
                            .manage
                            .create(
                                who,
                                spec.resource,
                                &body_from_form(spec, &form, &multi, false),
                            )
                            .await
                    }
                    (Action::Update, Some(id)) => {
                        state
                            .manage
                            .update(
                                who,
                                spec.resource,
                                id,
                                &body_from_form(spec, &form, &multi, true),
                            )
                            .await
                    }
                    (Action::Delete, Some(id)) => state.manage.delete(who, spec.resource, id).await,
                    (Action::Regenerate, Some(id)) if spec.resource == Resource::Credentials => {
                        state.manage.regenerate_credential(who, id).await
                    }
                    _ => return error_page(res, &session, StatusCode::NOT_FOUND, "Not found"),
                };
                match result {
                    Ok(data) if data.get("api_secret").is_some() => {
                        // Shown exactly once, on this response only.
                        let mut ctx = base(&session, spec.slug);
                        ctx["credential"] = data;
                        page(res, StatusCode::OK, "secret.html", &ctx);
                    }
                    Ok(_) => {
                        let verb = match self.1 {
                            Action::Create => "created",
                            Action::Delete => "deactivated or deleted",
                            _ => "saved",
                        };
                        flash(req, res, &format!("The {} was {verb}.", spec.singular));
                        redirect(res, &list_url);
                    }
                    Err(ManageError::Validation(errors)) => {
                        let mut values = serde_json::to_value(&form).unwrap_or_default();
                        if let Some(m) = values.as_object_mut() {
                            m.remove("_csrf");
                            m.remove("password");
                            m.remove("clear_credentials");
                        }
                        let st = FormState {
                            id,
                            values,
                            errors: serde_json::to_value(&errors).unwrap_or_default(),
                            status: StatusCode::UNPROCESSABLE_ENTITY,
                        };
                        self.form(&state, &session, req, res, st).await
                    }
                    Err(ManageError::Conflict(m)) => {
                        flash(req, res, &m);
                        redirect(res, &list_url);
                    }
                    Err(e) => manage_error(res, &session, e),
                }
            }
        }
    }
}

//! Generic list/show/create/update/delete routes for every management resource, plus
//! the few actions that are not CRUD (regenerate a secret, set a default, person-day
//! edits, a group's branches). The live stream routes are in `crate::streams`.

use cctv_admin::manage::{ListParams, Listed, Resource};
use salvo::http::StatusCode;
use salvo::{Depot, FlowCtrl, Handler, Request, Response, Router, async_trait, handler};
use serde_json::{Value, json};

use crate::envelope::{ApiError, Reply, respond};
use crate::extract::{caller, client_ip, json_body, person};
use crate::state;

#[derive(Debug, Clone, Copy)]
enum Action {
    List,
    Show,
    Create,
    Update,
    Delete,
    Regenerate,
    SetDefault,
    GroupBranches,
}

/// One route of one resource.
struct Route(Resource, Action);

fn plural(noun: &str) -> String {
    format!("{noun}s")
}

fn id_param(req: &Request) -> Result<i64, ApiError> {
    req.param::<String>("id")
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::validation("id", "The id must be a positive integer."))
}

fn list_params(req: &Request) -> Result<ListParams, ApiError> {
    let pairs: Vec<(String, String)> = req
        .queries()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    ListParams::from_query(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(ApiError::Validation)
}

pub(crate) fn listed_reply(message: String, listed: Listed) -> Reply {
    let per_page = u64::from(listed.per_page.max(1));
    let last_page = listed.total.div_ceil(per_page).max(1);
    let offset = u64::from(listed.page.saturating_sub(1)) * per_page;
    let count = listed.items.len() as u64;
    let (from, to) = if count == 0 {
        (Value::Null, Value::Null)
    } else {
        (json!(offset + 1), json!(offset + count))
    };
    Reply::ok(message, listed.items).extra(
        "pagination",
        json!({
            "current_page": listed.page,
            "per_page": listed.per_page,
            "total": listed.total,
            "last_page": last_page,
            "from": from,
            "to": to,
        }),
    )
}

#[async_trait]
impl Handler for Route {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let state = state(depot);
        let Route(resource, action) = *self;
        let result = async {
            let who = person(&state, req).await?;
            let ip = client_ip(req);
            let caller = caller(&who, &ip);
            let m = &state.manage;
            let noun = resource.noun();
            Ok(match action {
                Action::List => {
                    let params = list_params(req)?;
                    let listed = m.list(caller, resource, &params).await?;
                    listed_reply(format!("{} retrieved successfully", plural(noun)), listed)
                }
                Action::Show if resource == Resource::Layouts => {
                    let data = m.layout_with_positions(caller, id_param(req)?).await?;
                    Reply::ok(format!("{noun} retrieved successfully"), data)
                }
                Action::Show => {
                    let data = m.show(caller, resource, id_param(req)?).await?;
                    Reply::ok(format!("{noun} retrieved successfully"), data)
                }
                Action::Create => {
                    let body = json_body(&state, req).await?;
                    let data = m.create(caller, resource, &body).await?;
                    Reply::with_status(
                        StatusCode::CREATED,
                        format!("{noun} created successfully"),
                        data,
                    )
                }
                Action::Update => {
                    let id = id_param(req)?;
                    let body = json_body(&state, req).await?;
                    let data = m.update(caller, resource, id, &body).await?;
                    Reply::ok(format!("{noun} updated successfully"), data)
                }
                Action::Delete => {
                    let data = m.delete(caller, resource, id_param(req)?).await?;
                    Reply::ok(format!("{noun} deleted successfully"), data)
                }
                Action::Regenerate => {
                    let data = m.regenerate_credential(caller, id_param(req)?).await?;
                    Reply::ok("API secret regenerated; it is shown only this once", data)
                }
                Action::SetDefault if resource == Resource::Layouts => {
                    let data = m.set_default_layout(caller, id_param(req)?).await?;
                    Reply::ok("Default layout updated successfully", data)
                }
                Action::SetDefault => {
                    let data = m.set_default_whatsapp(caller, id_param(req)?).await?;
                    Reply::ok("Default WhatsApp setting updated successfully", data)
                }
                Action::GroupBranches => {
                    let id = id_param(req)?;
                    let group = m.show(caller, Resource::Groups, id).await?;
                    let mut params = list_params(req)?;
                    params.filters.insert("group_id".into(), id.to_string());
                    let listed = m.list(caller, Resource::Branches, &params).await?;
                    listed_reply("Group branches retrieved successfully".into(), listed)
                        .extra("group", group)
                }
            })
        }
        .await;
        respond(res, depot, result);
    }
}

#[handler]
async fn patch_person(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let ip = client_ip(req);
        let re_id = req.param::<String>("re_id").unwrap_or_default();
        if re_id.is_empty() || re_id.chars().count() > cctv_core::detection::MAX_RE_ID_CHARS {
            return Err(ApiError::validation(
                "re_id",
                "The re_id must be 1 to 100 characters.",
            ));
        }
        let body = json_body(&state, req).await?;
        let data = state
            .manage
            .patch_person(caller(&who, &ip), &re_id, &body)
            .await?;
        Ok(Reply::ok("Person updated successfully", data))
    }
    .await;
    respond(res, depot, result);
}

#[handler]
async fn update_position(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        let who = person(&state, req).await?;
        let ip = client_ip(req);
        let parse = |name: &str| {
            req.param::<String>(name)
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    ApiError::validation(name, format!("The {name} must be a positive integer."))
                })
        };
        let (layout, number) = (parse("layout_id")?, parse("position")?);
        let body = json_body(&state, req).await?;
        let data = state
            .manage
            .update_position(caller(&who, &ip), layout, number, &body)
            .await?;
        Ok(Reply::ok("Position updated successfully", data))
    }
    .await;
    respond(res, depot, result);
}

/// The page sizes list screens offer (as the original's `users/pagination/options`).
#[handler]
async fn pagination_options(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let state = state(depot);
    let result = async {
        person(&state, req).await?;
        Ok(Reply::ok(
            "Pagination options retrieved successfully",
            [10, 25, 50, 100],
        ))
    }
    .await;
    respond(res, depot, result);
}

/// All management routes (to be mounted under `/api/v1`).
pub fn routes() -> Router {
    let mut router = Router::new()
        .push(
            Router::with_path("admin/tokens")
                .get(super::tokens::list)
                .post(super::tokens::create),
        )
        .push(Router::with_path("admin/tokens/{id}").delete(super::tokens::revoke))
        .push(Router::with_path("re-id-masters/{re_id}").patch(patch_person))
        .push(
            Router::with_path("cctv/layouts/{layout_id}/positions/{position}").put(update_position),
        )
        .push(Router::with_path("users/pagination/options").get(pagination_options))
        .push(
            Router::with_path("api-credentials/{id}/regenerate")
                .post(Route(Resource::Credentials, Action::Regenerate)),
        )
        .push(
            Router::with_path("cctv-layouts/{id}/set-default")
                .post(Route(Resource::Layouts, Action::SetDefault)),
        )
        .push(
            Router::with_path("whatsapp-settings/{id}/set-default")
                .post(Route(Resource::WhatsappSettings, Action::SetDefault)),
        )
        .push(
            Router::with_path("company-groups/{id}/branches")
                .get(Route(Resource::Groups, Action::GroupBranches)),
        );
    for resource in Resource::ALL {
        let path = resource.path();
        router = router
            .push(
                Router::with_path(path)
                    .get(Route(resource, Action::List))
                    .post(Route(resource, Action::Create)),
            )
            .push(
                Router::with_path(format!("{path}/{{id}}"))
                    .get(Route(resource, Action::Show))
                    .put(Route(resource, Action::Update))
                    .patch(Route(resource, Action::Update))
                    .delete(Route(resource, Action::Delete)),
            );
    }
    router
}

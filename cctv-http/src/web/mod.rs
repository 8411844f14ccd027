//! The operator web application: server-rendered pages (minijinja templates embedded in
//! the binary, autoescaped), session cookies with CSRF tokens, role-aware navigation, and
//! live updates over a WebSocket. Every page calls the same [`Manager`](cctv_admin::manage::Manager)
//! and registry as the JSON API, so roles, scopes and validation are enforced once.

mod admin;
mod analytics;
mod assets;
mod credential_test;
mod crud;
mod dashboard;
mod events;
mod guard;
mod live;
mod login;
mod next;
mod origin;
mod persons;
pub(crate) mod render;
mod reports;
pub(crate) mod session;
pub(crate) mod specs;
mod tokens;
mod usage;
mod ws;

use salvo::Router;

pub use render::Templates;

pub use crate::extract::SESSION_COOKIE;

/// All web routes (mounted at the root).
pub fn routes() -> Router {
    let mut router = Router::new()
        .push(
            Router::with_path("login")
                .get(login::form)
                .post(login::submit),
        )
        .push(Router::with_path("logout").post(login::logout))
        .push(Router::with_path("dashboard").get(dashboard::page_handler))
        .push(Router::with_path("persons").get(persons::list))
        .push(
            Router::with_path("persons/{re_id}")
                .get(persons::show)
                .post(persons::update),
        )
        .push(Router::with_path("api-credentials/{id}/test").get(credential_test::show))
        .push(Router::with_path("admin/queues").get(admin::queues))
        .push(Router::with_path("admin/schedule").get(admin::schedule))
        .push(Router::with_path("admin/usage").get(usage::usage))
        .push(
            Router::with_path("admin/tokens")
                .get(tokens::list)
                .post(tokens::create),
        )
        .push(Router::with_path("admin/tokens/{id}/revoke").post(tokens::revoke))
        .push(Router::with_path("admin/failed-jobs/retry-all").post(admin::failed_action))
        .push(Router::with_path("admin/failed-jobs/{id}/{action}").post(admin::failed_action))
        .push(Router::with_path("reports").get(reports::show))
        .push(Router::with_path("analytics").get(analytics::show))
        .push(Router::with_path("events").get(events::list))
        .push(Router::with_path("events/{id}").get(events::show))
        .push(Router::with_path("live").get(live::show))
        .push(Router::with_path("live/{layout_id}/positions/{position}").post(live::save_position))
        .push(Router::with_path("ws").goal(ws::connect))
        .push(Router::with_path("assets/{file}").get(assets::serve));
    for spec in specs::ALL {
        router = router.push(crud::routes(spec));
    }
    // The dashboard is the web root itself (an empty path filter would match the same,
    // with a warning at every start).
    router.get(dashboard::home)
}

//! Visitor analytics through the real stack in Asia/Jakarta: detections posted through
//! the device API, the five endpoints and the page, every figure checked against a plain
//! recount from the posted rows; role scoping and bad parameters.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cctv_core::jiff::civil::Date;
use cctv_core::jiff::{Span, Timestamp};
use serde_json::{Value, json};

use crate::expected::Posted;
use crate::helpers::*;
use crate::report_support::*;
use crate::web::Browser;

const FROM: &str = "2026-10-01";
const TO: &str = "2026-10-31";

fn local(r: &Posted) -> (Date, i8) {
    let dt = jakarta().to_datetime(r.at);
    (dt.date(), dt.hour())
}

/// The report data set plus the look-back edges: `back` returns after exactly 30 days
/// (returning), `gone` after 31 (new); `stay` has a 25-minute visit.
fn rows(app: &TestApp) -> Vec<Posted> {
    let mut rows = data_set(app);
    let at = |s: &str| s.parse::<Timestamp>().unwrap();
    rows.push(Posted::new(app, 2, "back", 1, at("2026-10-01T03:00:00Z")));
    rows.push(Posted::new(app, 2, "back", 1, at("2026-10-31T03:00:00Z")));
    rows.push(Posted::new(app, 2, "gone", 1, at("2026-09-30T03:00:00Z")));
    rows.push(Posted::new(app, 2, "gone", 1, at("2026-10-31T03:00:00Z")));
    rows.push(Posted::new(app, 1, "stay", 1, at("2026-10-20T03:00:00Z")));
    rows.push(Posted::new(app, 1, "stay", 1, at("2026-10-20T03:25:00Z")));
    rows
}

fn in_range(r: &Posted, population: Option<&[i64]>) -> bool {
    let (day, _) = local(r);
    day >= FROM.parse().unwrap()
        && day <= TO.parse().unwrap()
        && population.is_none_or(|p| p.contains(&r.branch_id))
}

fn expected_days(rows: &[Posted], population: Option<&[i64]>) -> Value {
    let mut seen: HashMap<&str, BTreeSet<Date>> = HashMap::new();
    for r in rows {
        seen.entry(&r.re_id).or_default().insert(local(r).0);
    }
    let from: Date = FROM.parse().unwrap();
    let days: Vec<Value> = (0..31)
        .map(|i| {
            let day = from + Span::new().days(i);
            let persons: BTreeSet<&str> = rows
                .iter()
                .filter(|r| {
                    local(r).0 == day && population.is_none_or(|p| p.contains(&r.branch_id))
                })
                .map(|r| r.re_id.as_str())
                .collect();
            let earliest = day - Span::new().days(30);
            let returning = persons
                .iter()
                .filter(|p| seen[**p].iter().any(|d| *d >= earliest && *d < day))
                .count();
            json!({"date": day.to_string(), "unique_persons": persons.len(),
                   "new_persons": persons.len() - returning, "returning_persons": returning})
        })
        .collect();
    json!(days)
}

/// Per visit (person, day, branch) the detection times.
fn visits<'a>(
    rows: &'a [Posted],
    population: Option<&[i64]>,
) -> BTreeMap<(&'a str, Date, i64), Vec<Timestamp>> {
    let mut v: BTreeMap<(&str, Date, i64), Vec<Timestamp>> = BTreeMap::new();
    for r in rows.iter().filter(|r| in_range(r, population)) {
        v.entry((&r.re_id, local(r).0, r.branch_id))
            .or_default()
            .push(r.at);
    }
    v
}

fn expected_dwell(rows: &[Posted], population: Option<&[i64]>) -> Vec<i64> {
    let mut d: Vec<i64> = visits(rows, population)
        .values()
        .filter(|t| t.len() >= 2)
        .map(|t| t.iter().max().unwrap().as_second() - t.iter().min().unwrap().as_second())
        .collect();
    d.sort();
    d
}

fn expected_flows(rows: &[Posted], visible: Option<&[i64]>) -> BTreeMap<(i64, i64), i64> {
    let mut days: BTreeMap<(&str, Date), Vec<(Timestamp, i64)>> = BTreeMap::new();
    for ((p, day, b), t) in visits(rows, None) {
        days.entry((p, day))
            .or_default()
            .push((*t.iter().min().unwrap(), b));
    }
    let mut flows = BTreeMap::new();
    for mut list in days.into_values() {
        list.sort();
        for w in list.windows(2) {
            if visible.is_none_or(|v| v.contains(&w[0].1) && v.contains(&w[1].1)) {
                *flows.entry((w[0].1, w[1].1)).or_default() += 1;
            }
        }
    }
    flows
}

fn expected_frequency(rows: &[Posted], population: Option<&[i64]>) -> BTreeMap<i64, i64> {
    let mut days: HashMap<&str, BTreeSet<Date>> = HashMap::new();
    for r in rows.iter().filter(|r| in_range(r, population)) {
        days.entry(&r.re_id).or_default().insert(local(r).0);
    }
    let mut b = BTreeMap::new();
    for d in days.values() {
        *b.entry(d.len() as i64).or_default() += 1;
    }
    b
}

fn expected_heat(rows: &[Posted], population: Option<&[i64]>) -> BTreeMap<(i64, i64), i64> {
    let mut cells = BTreeMap::new();
    for r in rows.iter().filter(|r| in_range(r, population)) {
        let (day, hour) = local(r);
        let weekday = i64::from(day.weekday().to_monday_one_offset());
        *cells.entry((weekday, i64::from(hour))).or_default() += 1;
    }
    cells
}

/// Checks all five answers for one population.
async fn check(
    app: &TestApp,
    token: &str,
    rows: &[Posted],
    branch: Option<i64>,
    population: Option<&[i64]>,
    visible: Option<&[i64]>,
) {
    let q = format!(
        "from={FROM}&to={TO}{}",
        branch
            .map(|b| format!("&branch_id={b}"))
            .unwrap_or_default()
    );
    let get = async |what: &str| {
        let r = get_as(app, token, &format!("/api/v1/analytics/{what}?{q}")).await;
        assert_eq!(r.status, 200, "{what}: {:?}", r.body);
        r.body["data"].clone()
    };
    let ctx = format!("branch {branch:?}, population {population:?}");

    let v = get("visits").await;
    assert_eq!(v["days"], expected_days(rows, population), "visits {ctx}");
    assert_eq!(v["lookback_days"], 30);

    let d = get("dwell").await;
    let dwell = expected_dwell(rows, population);
    let n = dwell.len() as i64;
    assert_eq!(d["visits"], n, "dwell {ctx}");
    let rank = |p: i64| dwell[((p * n + 99) / 100 - 1) as usize];
    if n > 0 {
        assert_eq!(d["p50_seconds"], rank(50), "p50 {ctx}");
        assert_eq!(d["p90_seconds"], rank(90), "p90 {ctx}");
        assert_eq!(d["max_seconds"], dwell[dwell.len() - 1]);
        let mean = dwell.iter().sum::<i64>() as f64 / n as f64;
        assert!((d["mean_seconds"].as_f64().unwrap() - mean).abs() < 1e-6);
    }
    let edges = [0, 60, 300, 900, 1800, 3600, 7200];
    for (i, bucket) in d["histogram"].as_array().unwrap().iter().enumerate() {
        let upper = edges.get(i + 1).copied().unwrap_or(i64::MAX);
        let count = dwell
            .iter()
            .filter(|s| **s >= edges[i] && **s < upper)
            .count();
        assert_eq!(bucket["visits"], count, "dwell bucket {i} {ctx}");
    }

    let f = get("flows").await;
    let got: BTreeMap<(i64, i64), i64> = f["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                (
                    x["from_branch_id"].as_i64().unwrap(),
                    x["to_branch_id"].as_i64().unwrap(),
                ),
                x["persons"].as_i64().unwrap(),
            )
        })
        .collect();
    let want: BTreeMap<(i64, i64), i64> = expected_flows(rows, visible)
        .into_iter()
        .filter(|((a, b), _)| branch.is_none_or(|x| *a == x || *b == x))
        .collect();
    assert_eq!(got, want, "flows {ctx}");
    let persons: Vec<i64> = f["flows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["persons"].as_i64().unwrap())
        .collect();
    assert!(
        persons.windows(2).all(|w| w[0] >= w[1]),
        "most persons first"
    );

    let fr = get("frequency").await;
    let want = expected_frequency(rows, population);
    let got: BTreeMap<i64, i64> = fr["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["days"].as_i64().unwrap(), b["persons"].as_i64().unwrap()))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(got, want, "frequency {ctx}");

    let h = get("heatmap").await;
    let cells = h["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 168);
    let got: BTreeMap<(i64, i64), i64> = cells
        .iter()
        .map(|c| {
            (
                (c["weekday"].as_i64().unwrap(), c["hour"].as_i64().unwrap()),
                c["detections"].as_i64().unwrap(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(got, expected_heat(rows, population), "heatmap {ctx}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_analytics_figure_equals_a_recount_from_the_posted_detections() {
    for backend in backends() {
        let app = spawn_app_with(
            backend,
            AppOptions {
                timezone: jakarta(),
                ..Default::default()
            },
        )
        .await;
        let rows = rows(&app);
        post_all(&app, &rows).await;
        let admin = token(&app, "admin", &[]).await;
        check(&app, &admin, &rows, None, None, None).await;
        for n in 0..3 {
            let b = app.branch(n);
            check(&app, &admin, &rows, Some(b), Some(&[b]), None).await;
        }

        // The edges are in the data: on 31 October at branch 2, `back` (seen exactly 30
        // days before) is returning and `gone` (31 days) is new.
        let mut days = expected_days(&rows, Some(&[app.branch(2)]));
        let last = days.as_array_mut().unwrap().pop().unwrap();
        let only_edges: Vec<Posted> = self::rows(&app)
            .into_iter()
            .filter(|r| r.re_id == "back" || r.re_id == "gone")
            .collect();
        let edge_day = expected_days(&only_edges, None).as_array().unwrap()[30].clone();
        assert_eq!(
            (
                edge_day["returning_persons"].clone(),
                edge_day["new_persons"].clone()
            ),
            (json!(1), json!(1))
        );
        assert!(last["unique_persons"].as_i64().unwrap() >= 2);
        assert!(
            expected_dwell(&rows, None).contains(&1500),
            "the 25-minute stay"
        );

        // CSV: one header row and one row per entry, as a file.
        let csv = send_raw(
            &app.addr,
            "GET",
            &format!("/api/v1/analytics/visits?from={FROM}&to={TO}&format=csv"),
            &[("authorization", &format!("Bearer {admin}"))],
            vec![],
        )
        .await;
        assert_eq!(csv.status, 200);
        assert_eq!(csv.header("content-type"), Some("text/csv; charset=utf-8"));
        assert!(
            csv.header("content-disposition")
                .unwrap()
                .contains("visits_2026-10-01_2026-10-31.csv")
        );
        let lines: Vec<&str> = csv.body.lines().collect();
        assert_eq!(
            lines[0],
            "date,unique_persons,new_persons,returning_persons"
        );
        assert_eq!(lines.len(), 32);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_see_analytics_of_their_branches_only_and_bad_parameters_are_refused() {
    let app = spawn_app_with(
        Backend::Sqlite,
        AppOptions {
            timezone: jakarta(),
            ..Default::default()
        },
    )
    .await;
    let rows = rows(&app);
    post_all(&app, &rows).await;
    let (b0, b1, b2) = (app.branch(0), app.branch(1), app.branch(2));
    let (email, operator) = signed_in(&app, "operator", &[b0, b1]).await;

    // Without a branch: figures over the operator's two branches; flows only between them.
    check(
        &app,
        &operator,
        &rows,
        None,
        Some(&[b0, b1]),
        Some(&[b0, b1]),
    )
    .await;
    check(
        &app,
        &operator,
        &rows,
        Some(b0),
        Some(&[b0]),
        Some(&[b0, b1]),
    )
    .await;
    for what in ["visits", "dwell", "flows", "frequency", "heatmap"] {
        let r = get_as(
            &app,
            &operator,
            &format!("/api/v1/analytics/{what}?branch_id={b2}"),
        )
        .await;
        assert_eq!(r.status, 403, "{what}: {:?}", r.body);
        let r = send(
            &app.addr,
            "GET",
            &format!("/api/v1/analytics/{what}"),
            &[],
            vec![],
        )
        .await;
        assert_eq!(r.status, 401, "{what} without a token");
    }
    let flows = get_as(
        &app,
        &operator,
        &format!("/api/v1/analytics/flows?from={FROM}&to={TO}"),
    )
    .await;
    assert!(
        flows.body["data"]["flows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["from_branch_id"] != b2 && f["to_branch_id"] != b2)
    );

    let admin = token(&app, "admin", &[]).await;
    for (query, field) in [
        ("from=2026-10-31&to=2026-10-01", "from"),
        ("from=2025-01-01&to=2026-10-01", "from"),
        ("from=yesterday", "from"),
        ("branch_id=-3", "branch_id"),
        ("lookback_days=0", "lookback_days"),
        ("lookback_days=9999", "lookback_days"),
        ("format=xml", "format"),
    ] {
        let r = get_as(&app, &admin, &format!("/api/v1/analytics/visits?{query}")).await;
        assert_eq!(r.status, 422, "{query}: {:?}", r.body);
        assert!(
            r.body["error"]["details"][field].is_array(),
            "{query}: {:?}",
            r.body
        );
    }
    let r = get_as(&app, &admin, "/api/v1/analytics/visits?branch_id=999999").await;
    assert_eq!(r.status, 404);
    // A shorter look-back makes fewer returning persons, never more.
    let short = get_as(
        &app,
        &admin,
        &format!("/api/v1/analytics/visits?from={FROM}&to={TO}&lookback_days=1"),
    )
    .await;
    let long = get_as(
        &app,
        &admin,
        &format!("/api/v1/analytics/visits?from={FROM}&to={TO}"),
    )
    .await;
    let sum = |r: &Resp| {
        r.body["data"]["days"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["returning_persons"].as_i64().unwrap())
            .sum::<i64>()
    };
    assert!(sum(&short) < sum(&long));

    // The page: the operator's branches in the picker, not the third; CSV links; another
    // branch is forbidden.
    let mut browser = Browser::new(&app);
    browser.login(&email, "correct horse").await;
    let page = browser
        .get(&format!("/analytics?from={FROM}&to={TO}"))
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let names = app.core.estate();
    assert!(page.body.contains(&names.branches[&b0].branch_name));
    assert!(!page.body.contains(&format!("value=\"{b2}\"")));
    assert!(
        page.body
            .contains("/api/v1/analytics/flows?from=2026-10-01&amp;to=2026-10-31&amp;format=csv")
    );
    assert!(page.body.contains("<svg class=\"chart heat\""));
    assert_eq!(
        browser
            .get(&format!("/analytics?branch_id={b2}"))
            .await
            .status,
        403
    );
    let bad = browser
        .get("/analytics?from=2026-10-31&to=2026-10-01")
        .await;
    assert_eq!(bad.status, 422);
    // The session cookie reads the CSV the page links to.
    let cookie = browser.cookie_header();
    let csv = send_raw(
        &app.addr,
        "GET",
        &format!("/api/v1/analytics/flows?from={FROM}&to={TO}&format=csv"),
        &[("cookie", &cookie)],
        vec![],
    )
    .await;
    assert_eq!(csv.status, 200);
    assert!(
        csv.body
            .starts_with("from_branch_id,from_branch_name,to_branch_id,to_branch_name,persons")
    );
    app.stop().await;
}

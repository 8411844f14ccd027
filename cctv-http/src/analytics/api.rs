//! The five analytics endpoints: JSON in the envelope, or the table as CSV.

use cctv_admin::analytics as figures;
use salvo::{Depot, Request, Response, handler};
use serde_json::{Value, json};

use super::{Ask, branch_name, csv, pending_detections, store};
use crate::AppState;
use crate::envelope::{ApiError, Reply, respond};
use crate::state;

/// JSON (the default) or CSV.
fn wants_csv(req: &Request) -> Result<bool, ApiError> {
    match req.queries().get("format").map(|s| s.trim()) {
        None | Some("") | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(_) => Err(ApiError::validation(
            "format",
            "The format must be json or csv",
        )),
    }
}

/// The range and scope every answer repeats, and the detections not in it yet.
async fn head(state: &AppState, ask: &Ask) -> Value {
    json!({
        "from": ask.range.from,
        "to": ask.range.to,
        "branch_id": ask.branch,
        "pending_detections": pending_detections(state).await,
    })
}

fn merge(mut head: Value, body: Value) -> Value {
    if let (Some(h), Value::Object(b)) = (head.as_object_mut(), body) {
        h.extend(b);
    }
    head
}

/// What an endpoint sends.
enum Out {
    Json(Reply),
    Csv(Vec<u8>, String),
}

/// An endpoint's success message and CSV file name.
struct Labels {
    message: &'static str,
    file: &'static str,
}

/// Runs one endpoint: reads the ask, then `json` or `csv` of its figures.
async fn answer<T, F>(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    labels: Labels,
    compute: impl AsyncFnOnce(&AppState, &Ask) -> Result<T, ApiError>,
    json_of: impl FnOnce(&T) -> Value,
    csv_of: F,
) where
    F: FnOnce(&T) -> Vec<u8>,
{
    let state = state(depot);
    let result = async {
        let who = crate::extract::reader(&state, req).await?;
        let csv = wants_csv(req)?;
        let ask = Ask::read(&state, &who, req)?;
        let figures = compute(&state, &ask).await?;
        if csv {
            let file = format!("{}_{}_{}", labels.file, ask.range.from, ask.range.to);
            return Ok(Out::Csv(csv_of(&figures), file));
        }
        let body = merge(head(&state, &ask).await, json_of(&figures));
        Ok(Out::Json(Reply::ok(labels.message, body)))
    }
    .await;
    match result {
        Ok(Out::Csv(bytes, file)) => csv::send(res, bytes, &file),
        Ok(Out::Json(reply)) => respond(res, depot, Ok(reply)),
        Err(e) => respond(res, depot, Err(e)),
    }
}

#[handler]
pub async fn visits(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    answer(
        req,
        depot,
        res,
        Labels {
            message: "Visits retrieved successfully",
            file: "visits",
        },
        async |state, ask| {
            let days = figures::visits(
                store(state)?,
                ask.range,
                ask.population(),
                ask.lookback_days,
            )
            .await?;
            Ok((ask.lookback_days, days))
        },
        |(lookback, days)| json!({ "lookback_days": lookback, "days": days }),
        |(_, days)| csv::visits(days),
    )
    .await;
}

#[handler]
pub async fn dwell(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    answer(
        req,
        depot,
        res,
        Labels {
            message: "Dwell times retrieved successfully",
            file: "dwell",
        },
        async |state, ask| Ok(figures::dwell(store(state)?, ask.range, ask.population()).await?),
        |report| json!(report),
        csv::dwell,
    )
    .await;
}

#[handler]
pub async fn flows(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    answer(
        req,
        depot,
        res,
        Labels {
            message: "Flows retrieved successfully",
            file: "flows",
        },
        async |state, ask| {
            Ok(figures::flows(
                store(state)?,
                ask.range,
                ask.visible.as_deref(),
                ask.branch,
                |b| branch_name(state, b),
            )
            .await?)
        },
        |list| json!({ "flows": list }),
        |list| csv::flows(list),
    )
    .await;
}

#[handler]
pub async fn frequency(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    answer(
        req,
        depot,
        res,
        Labels {
            message: "Visit frequency retrieved successfully",
            file: "frequency",
        },
        async |state, ask| {
            Ok(figures::frequency(store(state)?, ask.range, ask.population()).await?)
        },
        |buckets| {
            let persons: i64 = buckets.iter().map(|b| b.persons).sum();
            json!({ "persons": persons, "buckets": buckets })
        },
        |list| csv::frequency(list),
    )
    .await;
}

#[handler]
pub async fn heatmap(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    answer(
        req,
        depot,
        res,
        Labels {
            message: "Busy hours retrieved successfully",
            file: "heatmap",
        },
        async |state, ask| Ok(figures::heatmap(store(state)?, ask.range, ask.population()).await?),
        |list| json!({ "cells": list }),
        |list| csv::heatmap(list),
    )
    .await;
}

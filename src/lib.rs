//! HUMMBL: a self-hosted operations console for AI-agent workflows.
//! See docs/ARCHITECTURE.md for the map of these modules.

pub mod accounts;
pub mod agents;
pub mod alerts;
pub mod analytics;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod bus;
pub mod cli;
pub mod components;
pub mod config;
pub mod demo;
pub mod error;
pub mod errors;
pub mod executions;
pub mod guard;
pub mod invitations;
pub mod mail;
pub mod notifications;
pub mod ops;
pub mod pilot;
pub mod prices;
pub mod provider_keys;
pub mod providers;
pub mod routes;
pub mod schedules;
pub mod storage;
pub mod teams;
pub mod telemetry;
pub mod vault;
pub mod web;
pub mod workers;
pub mod workflows;

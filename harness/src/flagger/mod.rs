//! Flagger: observing canaries and their routing objects (SMI TrafficSplit, Gateway API
//! HTTPRoute, NGINX canary Ingress) with assertions on what Flagger did ([`canary`]), A/B
//! request groups through the ingress ([`abtest`]), and Kubernetes quantities as Flagger writes
//! weights ([`quantity`]).

pub mod abtest;
pub mod canary;
pub mod quantity;
